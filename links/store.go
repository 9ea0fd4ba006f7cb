package links

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"time"

	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/internal/db"
)

const (
	// A message's links are written in their own statement on the pool, not
	// in the claim's transaction: they are committed before the message goes
	// out, whichever transaction later records the message (the in-flight
	// ledger writes its own). Composing the same message again makes the same
	// codes: nothing new is written.
	qSave = `
INSERT INTO links (code, message_key, subscriber_id, campaign_id, campaign_version, step_id, channel, url, target, created_at)
SELECT c, $2, $3, $4, $5, $6, $7, u, t, $8
  FROM unnest($1::text[], $9::text[], $10::text[]) AS x(c, u, t)
    ON CONFLICT (code) DO NOTHING`

	qSecret    = `SELECT secret FROM link_secrets WHERE id = 1`
	qNewSecret = `INSERT INTO link_secrets (id, secret) VALUES (1, $1) ON CONFLICT (id) DO NOTHING`

	// A person's click counts; a link-preview bot's apart. An erased
	// subscriber's link has no target and is not followed.
	qClick = `
UPDATE links
   SET clicks = clicks + 1, first_click_at = coalesce(first_click_at, $2), last_click_at = $2
 WHERE code = $1 AND target <> ''
RETURNING target`
	qBotClick = `UPDATE links SET bot_clicks = bot_clicks + 1 WHERE code = $1 AND target <> '' RETURNING target`

	qGet = `
SELECT l.code, l.subscriber_id, coalesce(s.external_id, '') AS external_id, l.campaign_id, l.campaign_version,
       l.step_id, l.channel, m.id AS message_id, l.url, l.created_at, l.first_click_at, l.last_click_at,
       l.clicks, l.bot_clicks
  FROM links l
  LEFT JOIN subscribers s ON s.id = l.subscriber_id
  LEFT JOIN messages m ON m.idempotency_key = l.message_key
 WHERE l.code = $1`

	// Erasure keeps the counts for the funnel and drops who and where.
	qErase = `UPDATE links SET subscriber_id = NULL, url = '', target = '' WHERE subscriber_id = $1`

	qExport = `
SELECT coalesce(json_agg(json_build_object('code', code, 'campaign_id', campaign_id, 'step_id', step_id,
       'channel', channel, 'url', url, 'created_at', created_at, 'first_click_at', first_click_at,
       'last_click_at', last_click_at, 'clicks', clicks) ORDER BY created_at, code), '[]')
  FROM links WHERE subscriber_id = $1`
)

func (s *Service) save(ctx context.Context, def *campaigns.Definition, m Message, rows []row) error {
	codes, urls, targets := make([]string, len(rows)), make([]string, len(rows)), make([]string, len(rows))
	for i, r := range rows {
		codes[i], urls[i], targets[i] = r.code, r.url, r.target
	}
	var sub *int64
	if m.SubscriberID != 0 {
		sub = &m.SubscriberID
	}
	if _, err := s.db.ExecContext(ctx, qSave, pq.Array(codes), m.Key, sub, def.ID, m.Version, m.StepID,
		string(m.Channel), s.now(), pq.Array(urls), pq.Array(targets)); err != nil {
		return fmt.Errorf("links: save: %w", err)
	}
	return nil
}

// installSecret returns the install's generated secret, creating it on
// first use (the first writer wins; every process reads the same).
func installSecret(ctx context.Context, q db.Executor) ([]byte, error) {
	var k []byte
	err := q.GetContext(ctx, &k, qSecret)
	if err == nil {
		return k, nil
	}
	if !db.IsNoRows(err) {
		return nil, fmt.Errorf("links: read secret: %w", err)
	}
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("links: secret: %w", err)
	}
	if _, err := q.ExecContext(ctx, qNewSecret, fresh); err != nil {
		return nil, fmt.Errorf("links: store secret: %w", err)
	}
	if err := q.GetContext(ctx, &k, qSecret); err != nil {
		return nil, fmt.Errorf("links: read secret: %w", err)
	}
	return k, nil
}

// Click is a tracked link with its clicks, as GET /v1/clicks/{code} shows it.
type Click struct {
	Code            string     `db:"code" json:"code"`
	SubscriberID    *int64     `db:"subscriber_id" json:"subscriber_id"` // null once erased
	ExternalID      string     `db:"external_id" json:"external_id,omitempty"`
	CampaignID      string     `db:"campaign_id" json:"campaign_id"`
	CampaignVersion string     `db:"campaign_version" json:"campaign_version"`
	StepID          string     `db:"step_id" json:"step_id"`
	Channel         string     `db:"channel" json:"channel"`
	MessageID       *int64     `db:"message_id" json:"message_id"`
	URL             string     `db:"url" json:"url"`
	SentAt          time.Time  `db:"created_at" json:"created_at"`
	FirstClickAt    *time.Time `db:"first_click_at" json:"first_click_at"`
	LastClickAt     *time.Time `db:"last_click_at" json:"last_click_at"`
	Clicks          int        `db:"clicks" json:"clicks"`
	BotClicks       int        `db:"bot_clicks" json:"bot_clicks"`
}

// ErrNotFound is a code that was never issued (or a mistyped one).
var ErrNotFound = fmt.Errorf("links: no such link")

// Get returns the link of code.
func (s *Service) Get(ctx context.Context, code string) (Click, error) {
	var c Click
	if !validCode(code) {
		return c, ErrNotFound
	}
	err := db.Get(ctx, s.db, &c, ErrNotFound, "links: get", qGet, code)
	return c, err
}

// Follow records a click on code (a bot's apart) and returns its target;
// ErrNotFound for an unknown code or an erased subscriber's link.
func (s *Service) Follow(ctx context.Context, code string, bot bool) (string, error) {
	if !validCode(code) {
		return "", ErrNotFound
	}
	var target string
	var err error
	if bot {
		err = s.db.GetContext(ctx, &target, qBotClick, code)
	} else {
		err = s.db.GetContext(ctx, &target, qClick, code, s.now())
	}
	if db.IsNoRows(err) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("links: click: %w", err)
	}
	return target, nil
}

// EraseSubscriber drops who a subscriber's links were for and where they
// went, inside the erasing transaction q; the click counts stay for the
// funnel and the codes stop redirecting.
func EraseSubscriber(ctx context.Context, q db.Executor, subscriberID int64) error {
	return db.Erase(ctx, q, "links", qErase, subscriberID)
}

// ExportSubscriber returns a subscriber's links and clicks, for an access request.
func ExportSubscriber(ctx context.Context, q db.Executor, subscriberID int64) (json.RawMessage, error) {
	return db.Export(ctx, q, "links", qExport, subscriberID)
}
