package uploads

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/internal/clock"
)

// Store is the Postgres cache of uploaded media.
type Store struct {
	db  *sqlx.DB
	now func() time.Time
}

// New returns a store on d; now stamps uploads (nil: time.Now).
func New(d *sqlx.DB, now func() time.Time) *Store {
	return &Store{db: d, now: clock.NowOr(now)}
}

const (
	qLock   = `SELECT pg_advisory_xact_lock(hashtextextended(concat_ws('|', $1::text, $2::text, $3::text, $4::text), 26))`
	qGet    = `SELECT reference FROM media_uploads WHERE channel = $1 AND account = $2 AND kind = $3 AND source_url = $4`
	qInsert = `INSERT INTO media_uploads (channel, account, kind, source_url, reference, uploaded_at) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (channel, account, kind, source_url) DO UPDATE SET reference = EXCLUDED.reference, uploaded_at = EXCLUDED.uploaded_at`
)

// Resolve returns the provider's reference for the media of this kind
// ("photo", "doc") at url, calling upload only when none is cached for
// (channel, account, kind, url). Concurrent
// callers for the same key wait for the first one's upload. An upload error
// is returned as is (wrapped) and nothing is cached.
func (s *Store) Resolve(ctx context.Context, channel, account, kind, url string, upload func(context.Context) (string, error)) (string, error) {
	if ref, ok, err := s.get(ctx, s.db, channel, account, kind, url); err != nil || ok {
		return ref, err
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("media upload cache: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, qLock, channel, account, kind, url); err != nil {
		return "", fmt.Errorf("media upload cache: lock: %w", err)
	}
	if ref, ok, err := s.get(ctx, tx, channel, account, kind, url); err != nil || ok {
		return ref, err
	}
	ref, err := upload(ctx)
	if err != nil {
		return "", fmt.Errorf("upload %s media: %w", channel, err)
	}
	if _, err := tx.ExecContext(ctx, qInsert, channel, account, kind, url, ref, s.now()); err != nil {
		return "", fmt.Errorf("media upload cache: record: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("media upload cache: commit: %w", err)
	}
	return ref, nil
}

func (s *Store) get(ctx context.Context, q sqlx.QueryerContext, channel, account, kind, url string) (string, bool, error) {
	var ref string
	err := sqlx.GetContext(ctx, q, &ref, qGet, channel, account, kind, url)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("media upload cache: %w", err)
	}
	return ref, true, nil
}
