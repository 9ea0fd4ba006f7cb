package apikeys

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/users"
)

// All SQL of the package.
const (
	qCreate = `
INSERT INTO api_keys (name, prefix, hash, created_at, role) VALUES ($1, $2, $3, $4, $5)
RETURNING id, name, role, prefix, created_at, revoked_at, last_used_at`
	qList = `
SELECT id, name, role, prefix, created_at, revoked_at, last_used_at FROM api_keys ORDER BY id`
	qRevoke = `
UPDATE api_keys SET revoked_at = $2 WHERE (name = $1 OR prefix = $1) AND revoked_at IS NULL`
	qByPrefix = `
SELECT id, name, role, hash, revoked_at FROM api_keys WHERE prefix = $1`
	// last_used_at is written at most once a minute per key, not per request.
	qTouch = `
UPDATE api_keys SET last_used_at = $2
 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2::timestamptz - interval '1 minute')`
)

// Key format.
const (
	Scheme    = "nk_"
	secretLen = 32
	prefixLen = len(Scheme) + 8 // shown in lists, used to find the row
)

// Errors callers branch on.
var (
	ErrNotFound = errors.New("api key not found")
	ErrInvalid  = errors.New("invalid api key")
	ErrExists   = errors.New("a live api key with this name exists")
)

var reName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// Key is a stored key (never the secret).
type Key struct {
	ID         int64      `db:"id" json:"id"`
	Name       string     `db:"name" json:"name"`
	Role       users.Role `db:"role" json:"role"`
	Prefix     string     `db:"prefix" json:"prefix"`
	CreatedAt  time.Time  `db:"created_at" json:"created_at"`
	RevokedAt  *time.Time `db:"revoked_at" json:"revoked_at,omitempty"`
	LastUsedAt *time.Time `db:"last_used_at" json:"last_used_at,omitempty"`
}

// Store keeps API keys.
type Store struct {
	db  *sqlx.DB
	now func() time.Time
}

// NewStore returns a store on d; now is the clock (nil = time.Now).
func NewStore(d *sqlx.DB, now func() time.Time) *Store {
	return &Store{db: d, now: clock.NowOr(now)}
}

func hash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// Create makes a key named name with role (what its requests may do) and
// returns it with its secret, which is not stored and cannot be shown again.
func (s *Store) Create(ctx context.Context, name string, role users.Role) (Key, string, error) {
	if !reName.MatchString(name) {
		return Key{}, "", fmt.Errorf("name %q: use 1-64 letters, digits, _, . or - (starting with a letter or digit)", name)
	}
	if !role.Valid() {
		return Key{}, "", fmt.Errorf("role %q: %w", role, users.ErrInvalidRole)
	}
	b := make([]byte, secretLen)
	if _, err := rand.Read(b); err != nil {
		return Key{}, "", fmt.Errorf("generate key: %w", err)
	}
	secret := Scheme + base64.RawURLEncoding.EncodeToString(b)
	var k Key
	err := s.db.GetContext(ctx, &k, qCreate, name, secret[:prefixLen], hash(secret), s.now(), role)
	var pe *pq.Error
	if errors.As(err, &pe) && pe.Code == "23505" {
		if pe.Constraint == "api_keys_live_name" {
			return Key{}, "", ErrExists
		}
		return s.Create(ctx, name, role) // prefix collision (1 in 2^48): draw again
	}
	if err != nil {
		return Key{}, "", fmt.Errorf("create api key: %w", err)
	}
	return k, secret, nil
}

// List returns every key, revoked ones included.
func (s *Store) List(ctx context.Context) ([]Key, error) {
	return db.Select[Key](ctx, s.db, "list api keys", qList)
}

// Revoke revokes the live key with this name or prefix.
func (s *Store) Revoke(ctx context.Context, nameOrPrefix string) error {
	n, err := db.Exec(ctx, s.db, "revoke api key", qRevoke, nameOrPrefix, s.now())
	if err == nil && n == 0 {
		return ErrNotFound
	}
	return err
}

// Verify returns the live key whose secret is secret, or ErrInvalid.
func (s *Store) Verify(ctx context.Context, secret string) (Key, error) {
	if len(secret) != len(Scheme)+base64.RawURLEncoding.EncodedLen(secretLen) || !strings.HasPrefix(secret, Scheme) {
		return Key{}, ErrInvalid
	}
	var row struct {
		ID        int64      `db:"id"`
		Name      string     `db:"name"`
		Role      users.Role `db:"role"`
		Hash      []byte     `db:"hash"`
		RevokedAt *time.Time `db:"revoked_at"`
	}
	err := s.db.GetContext(ctx, &row, qByPrefix, secret[:prefixLen])
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			// Compare anyway so a miss costs what a hit costs.
			subtle.ConstantTimeCompare(hash(secret), make([]byte, sha256.Size))
			return Key{}, ErrInvalid
		}
		return Key{}, fmt.Errorf("verify api key: %w", err)
	}
	if subtle.ConstantTimeCompare(hash(secret), row.Hash) != 1 || row.RevokedAt != nil {
		return Key{}, ErrInvalid
	}
	now := s.now()
	if _, err := s.db.ExecContext(ctx, qTouch, row.ID, now); err != nil {
		return Key{}, fmt.Errorf("touch api key: %w", err)
	}
	return Key{ID: row.ID, Name: row.Name, Role: row.Role, Prefix: secret[:prefixLen]}, nil
}
