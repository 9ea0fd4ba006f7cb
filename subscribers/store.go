package subscribers

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/internal/db"
)

// All SQL of the package. Every statement is parameterised.
const (
	qUpsert = `
INSERT INTO subscribers AS s (external_id, name, locale, time_zone, attributes, created_at, updated_at)
VALUES ($1, COALESCE($2::text, ''), COALESCE($3::text, 'ru'), COALESCE($4::text, 'Europe/Moscow'),
        $5::jsonb - ARRAY(SELECT key FROM jsonb_each($5::jsonb) WHERE jsonb_typeof(value) = 'null'),
        $6, $6)
ON CONFLICT (external_id) DO UPDATE SET
    name       = COALESCE($2::text, s.name),
    locale     = COALESCE($3::text, s.locale),
    time_zone  = COALESCE($4::text, s.time_zone),
    attributes = (s.attributes || $5::jsonb) - ARRAY(SELECT key FROM jsonb_each($5::jsonb) WHERE jsonb_typeof(value) = 'null'),
    updated_at = $6
RETURNING id, (xmax = 0) AS created`

	qBindIdentities = `
INSERT INTO channel_identities (subscriber_id, channel, address, created_at, account)
SELECT $1, t.c, t.a, $4, t.acc FROM unnest($2::text[], $3::text[], $5::text[]) AS t(c, a, acc)
ON CONFLICT (channel, account, address) DO NOTHING`

	// The first of the given identities that belongs to someone else (1-based ordinal).
	qForeignIdentity = `
SELECT t.i FROM unnest($1::text[], $2::text[], $4::text[]) WITH ORDINALITY AS t(c, a, acc, i)
  JOIN channel_identities ci ON ci.channel = t.c AND ci.account = t.acc AND ci.address = t.a
 WHERE ci.subscriber_id <> $3
 ORDER BY t.i LIMIT 1`

	subscriberCols = `id, COALESCE(external_id, '') AS external_id, name, locale, time_zone, attributes, erased_at, created_at, updated_at`

	qGetByExternalID = `SELECT ` + subscriberCols + ` FROM subscribers WHERE external_id = $1`
	qGetByID         = `SELECT ` + subscriberCols + ` FROM subscribers WHERE id = $1`

	qIdentitiesOf = `
SELECT subscriber_id, channel, account, address, last_inbound_at, blocked_at
  FROM channel_identities WHERE subscriber_id = ANY($1::bigint[])
 ORDER BY subscriber_id, channel, id`

	// Keyset page: ids after $1, optional filters ('' / NULL / {} = no filter).
	qList = `
SELECT ` + subscriberCols + `
  FROM subscribers s
 WHERE s.id > $1 AND s.erased_at IS NULL
   AND ($2::text = '' OR s.locale = $2::text)
   AND ($3::text = '' OR s.time_zone = $3::text)
   AND ($4::timestamptz IS NULL OR s.created_at > $4::timestamptz)
   AND ($5::text = '' OR EXISTS (SELECT 1 FROM channel_identities ci WHERE ci.subscriber_id = s.id AND ci.channel = $5::text))
   AND NOT EXISTS (SELECT 1 FROM jsonb_each_text($6::jsonb) f WHERE s.attributes ->> f.key IS DISTINCT FROM f.value)
 ORDER BY s.id
 LIMIT $7`

	qIDByExternalID  = `SELECT id FROM subscribers WHERE external_id = $1`
	qEraseSubscriber = `
UPDATE subscribers SET external_id = $2, name = '', attributes = '{}'::jsonb, erased_at = $3, updated_at = $3
 WHERE id = $1 AND erased_at IS NULL`
	qEraseIdentities = `DELETE FROM channel_identities WHERE subscriber_id = $1`
	// Events keep their name and time (campaign goals count them); the
	// payload and the shop's idempotency key (an order id) go.
	qEraseEvents        = `UPDATE subscriber_events SET payload = '{}'::jsonb, idempotency_key = NULL WHERE subscriber_id = $1`
	qResolveExternalIDs = `
SELECT s.external_id, s.id FROM subscribers s
 WHERE s.external_id = ANY($1::text[]) AND s.erased_at IS NULL`

	qInsertEvents = `
INSERT INTO subscriber_events (subscriber_id, name, occurred_at, payload, idempotency_key, created_at)
SELECT t.s, t.n, t.o, t.p, NULLIF(t.k, ''), $6
  FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::jsonb[], $5::text[]) AS t(s, n, o, p, k)
ON CONFLICT (subscriber_id, idempotency_key) DO NOTHING`
)

// Store reads and writes subscribers.
type Store struct {
	db    *sqlx.DB
	now   func() time.Time
	parts []Part
}

// NewStore returns a store on d; now is the clock (nil = time.Now).
func NewStore(d *sqlx.DB, now func() time.Time) *Store {
	return &Store{db: d, now: clock.NowOr(now)}
}

// subscriberRow is the whole row: what templates see, and more.
type subscriberRow struct {
	templateRow
	ErasedAt  *time.Time `db:"erased_at"`
	CreatedAt time.Time  `db:"created_at"`
	UpdatedAt time.Time  `db:"updated_at"`
}

func (r subscriberRow) subscriber() (Subscriber, error) {
	s := Subscriber{ID: r.ID, ExternalID: r.ExternalID, Name: r.Name, Locale: r.Locale, TimeZone: r.TimeZone,
		ErasedAt: r.ErasedAt, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, Identities: []Identity{}}
	dec := json.NewDecoder(bytes.NewReader(r.Attributes))
	dec.UseNumber()
	if err := dec.Decode(&s.Attributes); err != nil {
		return s, fmt.Errorf("subscriber %d attributes: %w", r.ID, err)
	}
	if s.Attributes == nil {
		s.Attributes = map[string]any{}
	}
	return s, nil
}

type identityRow struct {
	SubscriberID  int64      `db:"subscriber_id"`
	Channel       string     `db:"channel"`
	Account       string     `db:"account"`
	Address       string     `db:"address"`
	LastInboundAt *time.Time `db:"last_inbound_at"`
	BlockedAt     *time.Time `db:"blocked_at"`
}

// Upsert creates or updates the subscriber with in.ExternalID in one
// transaction and returns it with created = true when it is new. in is
// validated (and its addresses normalised) first.
func (s *Store) Upsert(ctx context.Context, in Input) (Subscriber, bool, error) {
	if err := in.Validate(); err != nil {
		return Subscriber{}, false, err
	}
	attrs, err := json.Marshal(nonNilMap(in.Attributes))
	if err != nil {
		return Subscriber{}, false, fieldErr("attributes", "cannot be encoded: %v", err)
	}
	now := s.now()
	var (
		id      int64
		created bool
		out     Subscriber
	)
	err = db.WithTx(ctx, s.db, func(tx *sqlx.Tx) error {
		row := tx.QueryRowxContext(ctx, qUpsert, in.ExternalID, in.Name, in.Locale, in.TimeZone, string(attrs), now)
		if err := row.Scan(&id, &created); err != nil {
			return fmt.Errorf("upsert subscriber: %w", err)
		}
		if len(in.Identities) > 0 {
			chs, addrs, accs := identityArrays(in.Identities)
			if _, err := tx.ExecContext(ctx, qBindIdentities, id, pq.Array(chs), pq.Array(addrs), now, pq.Array(accs)); err != nil {
				return fmt.Errorf("bind identities: %w", err)
			}
			var i int
			err := tx.GetContext(ctx, &i, qForeignIdentity, pq.Array(chs), pq.Array(addrs), id, pq.Array(accs))
			if err == nil {
				idn := in.Identities[i-1]
				return &ConflictError{Field: fmt.Sprintf("identities[%d].address", i-1), Channel: idn.Channel, Address: idn.Address}
			}
			if !db.IsNoRows(err) {
				return fmt.Errorf("check identities: %w", err)
			}
		}
		got, err := s.load(ctx, tx, qGetByID, id)
		out = got
		return err
	})
	return out, created, err
}

func identityArrays(ids []IdentityInput) (chs, addrs, accs []string) {
	chs, addrs, accs = make([]string, len(ids)), make([]string, len(ids)), make([]string, len(ids))
	for i, x := range ids {
		chs[i], addrs[i], accs[i] = string(x.Channel), x.Address, channels.Account(x.Account)
	}
	return chs, addrs, accs
}

func nonNilMap(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

// Get returns the subscriber with the shop's customer id externalID.
func (s *Store) Get(ctx context.Context, externalID string) (Subscriber, error) {
	return s.load(ctx, s.db, qGetByExternalID, externalID)
}

// GetByID returns the subscriber with Nudge's id.
func (s *Store) GetByID(ctx context.Context, id int64) (Subscriber, error) {
	return s.load(ctx, s.db, qGetByID, id)
}

func (s *Store) load(ctx context.Context, q db.Executor, query string, arg any) (Subscriber, error) {
	var r subscriberRow
	if err := db.Get(ctx, q, &r, ErrNotFound, "get subscriber", query, arg); err != nil {
		return Subscriber{}, err
	}
	sub, err := r.subscriber()
	if err != nil {
		return sub, err
	}
	list := []Subscriber{sub}
	if err := attachIdentities(ctx, q, list); err != nil {
		return sub, err
	}
	return list[0], nil
}

func attachIdentities(ctx context.Context, q db.Executor, subs []Subscriber) error {
	if len(subs) == 0 {
		return nil
	}
	ids := make([]int64, len(subs))
	at := make(map[int64]int, len(subs))
	for i, s := range subs {
		ids[i] = s.ID
		at[s.ID] = i
	}
	var rows []identityRow
	if err := q.SelectContext(ctx, &rows, qIdentitiesOf, pq.Array(ids)); err != nil {
		return fmt.Errorf("load identities: %w", err)
	}
	for _, r := range rows {
		i := at[r.SubscriberID]
		subs[i].Identities = append(subs[i].Identities, Identity{
			Channel: channels.Kind(r.Channel), Account: r.Account, Address: r.Address, LastInboundAt: r.LastInboundAt, BlockedAt: r.BlockedAt})
	}
	return nil
}

// Filter selects subscribers for List. Zero fields do not filter.
type Filter struct {
	Locale       string
	TimeZone     string
	Attributes   map[string]string // attribute equality (compared as text)
	Channel      channels.Kind     // has an identity on this channel
	CreatedAfter time.Time
	Limit        int    // 1..MaxPage; 0 = DefaultPage
	Cursor       string // from Page.Next
}

// Page sizes.
const (
	DefaultPage = 50
	MaxPage     = 1000
)

// Page is one page of List; Next is "" on the last page.
type Page struct {
	Subscribers []Subscriber `json:"subscribers"`
	Next        string       `json:"next_cursor,omitempty"`
}

const cursorPrefix = "s1:"

// EncodeCursor makes the opaque cursor that continues after id.
func EncodeCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatInt(id, 10)))
}

// DecodeCursor reads a cursor made by EncodeCursor ("" = start).
func DecodeCursor(c string) (int64, error) {
	if c == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !strings.HasPrefix(string(b), cursorPrefix) {
		return 0, fieldErr("cursor", "is not a cursor returned by this API")
	}
	id, err := strconv.ParseInt(strings.TrimPrefix(string(b), cursorPrefix), 10, 64)
	if err != nil || id < 0 {
		return 0, fieldErr("cursor", "is not a cursor returned by this API")
	}
	return id, nil
}

// Validate checks f.
func (f *Filter) Validate() error {
	if f.Limit == 0 {
		f.Limit = DefaultPage
	}
	if f.Limit < 1 || f.Limit > MaxPage {
		return fieldErr("limit", "must be between 1 and %d", MaxPage)
	}
	if f.Locale != "" {
		if err := ValidLocale("locale", f.Locale); err != nil {
			return err
		}
	}
	if f.TimeZone != "" {
		if err := ValidTimeZone("time_zone", f.TimeZone); err != nil {
			return err
		}
	}
	if f.Channel != "" && !f.Channel.Valid() {
		return fieldErr("channel", "must be one of %s", kindList())
	}
	if len(f.Attributes) > MaxAttributes {
		return fieldErr("attr", "more than %d attribute filters", MaxAttributes)
	}
	for k := range f.Attributes {
		if len(k) > MaxAttrKey || !reAttrKey.MatchString(k) {
			return fieldErr("attr."+k, "attribute names are 1-%d letters, digits, _ or -", MaxAttrKey)
		}
	}
	_, err := DecodeCursor(f.Cursor)
	return err
}

// List returns one page of live (not erased) subscribers in id order.
func (s *Store) List(ctx context.Context, f Filter) (Page, error) {
	if err := f.Validate(); err != nil {
		return Page{}, err
	}
	after, _ := DecodeCursor(f.Cursor)
	attrs, err := json.Marshal(f.Attributes)
	if err != nil || f.Attributes == nil {
		attrs = []byte("{}")
	}
	var created *time.Time
	if !f.CreatedAfter.IsZero() {
		created = &f.CreatedAfter
	}
	var rows []subscriberRow
	if err := s.db.SelectContext(ctx, &rows, qList, after, f.Locale, f.TimeZone, created, string(f.Channel), string(attrs), f.Limit+1); err != nil {
		return Page{}, fmt.Errorf("list subscribers: %w", err)
	}
	p := Page{Subscribers: make([]Subscriber, 0, len(rows))}
	if len(rows) > f.Limit {
		rows = rows[:f.Limit]
		p.Next = EncodeCursor(rows[len(rows)-1].ID)
	}
	for _, r := range rows {
		sub, err := r.subscriber()
		if err != nil {
			return Page{}, err
		}
		p.Subscribers = append(p.Subscribers, sub)
	}
	if err := attachIdentities(ctx, s.db, p.Subscribers); err != nil {
		return Page{}, err
	}
	return p, nil
}
