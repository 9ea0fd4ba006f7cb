package policy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/internal/db"
)

// Every SQL statement of the package; all parameterised, all set-based (one
// array of ids) so one call serves one or ten thousand subscribers. The
// per-subscriber lookups join unnest($1) laterally to the indexes, so their
// cost follows the batch, not the table: on 10k-row tables they match
// "subscriber_id = ANY($1)" with DISTINCT ON / GROUP BY, on 100k-row tables
// they are 1.3x (identities) and 4.7x (cap count) faster. Consent is read
// through consent.Current, which owns the rule and its query.
const (
	// The subscribers, each with whether a manager's conversation with them
	// is open (the inbox keeps at most one open per subscriber:
	// conversations_one_open), in one statement.
	sqlSubscribers = `
SELECT s.id, s.time_zone, s.erased_at IS NOT NULL AS erased,
       EXISTS (SELECT 1 FROM conversations c WHERE c.subscriber_id = s.id AND c.state = 'open') AS handoff_open
  FROM subscribers s WHERE s.id = ANY($1::bigint[])`

	// One identity per (subscriber, channel), of the account the campaign
	// sends through on that channel ($2/$3 pair channels with accounts; any
	// other channel's is 'main', channels.DefaultAccount): an unblocked one
	// first, then the one the user wrote from most recently, then the newest.
	sqlIdentities = `
SELECT u.id, i.channel, i.account, i.address, i.last_inbound_at, i.blocked
  FROM unnest($1::bigint[]) AS u(id)
 CROSS JOIN LATERAL (
       SELECT DISTINCT ON (channel) channel, account, address, last_inbound_at, blocked_at IS NOT NULL AS blocked
         FROM channel_identities ci
        WHERE subscriber_id = u.id
          AND account = coalesce((SELECT a.acc FROM unnest($2::text[], $3::text[]) AS a(ch, acc) WHERE a.ch = ci.channel), 'main')
        ORDER BY channel, (blocked_at IS NOT NULL), last_inbound_at DESC NULLS LAST, id DESC) i`

	// Messages of the topic sent in the cap window (by sent_at), per
	// subscriber: one range scan of messages_cap per id, where
	// "subscriber_id = ANY($1) … GROUP BY" turned into a bitmap scan whose
	// cost grew with the table.
	sqlCapCount = `
SELECT u.id, c.n
  FROM unnest($1::bigint[]) AS u(id)
 CROSS JOIN LATERAL (
       SELECT count(*) AS n FROM messages m
        WHERE m.subscriber_id = u.id AND m.topic = $2 AND m.sent_at > $3 AND m.sent_at <= $4) c
 WHERE c.n > 0`
)

// ErrNotFound: Load was asked about a subscriber that does not exist.
var ErrNotFound = errors.New("policy: subscriber not found")

// chunk bounds the id array of one query.
const chunk = 5000

// Store loads Inputs from Postgres.
type Store struct {
	q db.Executor
}

// NewStore returns a Store reading through q (the pool or a transaction).
func NewStore(q db.Executor) *Store { return &Store{q: q} }

// Load returns the Input for one subscriber. HandoffOpen is true while the
// subscriber has an open conversation in the inbox. OutsideWindowOK is left
// for the caller, who knows the template.
func (s *Store) Load(ctx context.Context, subscriberID int64, topic campaigns.Topic, st campaigns.Settings, now time.Time) (Input, error) {
	m, err := s.LoadMany(ctx, []int64{subscriberID}, topic, st, now)
	if err != nil {
		return Input{}, err
	}
	in, ok := m[subscriberID]
	if !ok {
		return Input{}, fmt.Errorf("%w: %d", ErrNotFound, subscriberID)
	}
	return in, nil
}

// LoadMany returns Inputs for the subscribers that exist among ids, with
// five queries (four without a frequency cap) per 5000 ids. An erased
// subscriber gets no consent and no identities.
func (s *Store) LoadMany(ctx context.Context, ids []int64, topic campaigns.Topic, st campaigns.Settings, now time.Time) (map[int64]Input, error) {
	out := make(map[int64]Input, len(ids))
	for i := 0; i < len(ids); i += chunk {
		j := min(i+chunk, len(ids))
		if err := s.load(ctx, ids[i:j], topic, st, now, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *Store) load(ctx context.Context, ids []int64, topic campaigns.Topic, st campaigns.Settings, now time.Time, out map[int64]Input) error {
	arr := pq.Array(ids)
	zones := map[string]*time.Location{}
	erased := map[int64]bool{}
	err := s.eachRow(ctx, "load subscribers", "subscriber", func(rows *sqlx.Rows) error {
		var id int64
		var zone string
		var gone, handoff bool
		if err := rows.Scan(&id, &zone, &gone, &handoff); err != nil {
			return err
		}
		loc, ok := zones[zone]
		if !ok {
			var err error
			if loc, err = time.LoadLocation(zone); err != nil {
				loc = time.UTC // an unknown zone must not stop sends; quiet hours then use UTC
			}
			zones[zone] = loc
		}
		erased[id] = gone
		out[id] = Input{
			Topic: topic, Settings: st, Now: now, Location: loc, HandoffOpen: handoff,
			Identities: make(map[channels.Kind]Identity, 2),
		}
		return nil
	}, sqlSubscribers, arr)
	if err != nil {
		return err
	}

	grants, err := consent.Current(ctx, s.q, ids, topic)
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	// Consent stays nil (no consent anywhere) for a subscriber without
	// grants or erased: Decide only reads it.
	for sid, g := range grants {
		if in, ok := out[sid]; ok && !erased[sid] {
			in.Consent = g.Map(channels.Kinds)
			out[sid] = in
		}
	}

	accChs, accs := make([]string, 0, len(st.Accounts)), make([]string, 0, len(st.Accounts))
	for ch, a := range st.Accounts {
		accChs, accs = append(accChs, ch), append(accs, channels.Account(a))
	}
	err = s.eachRow(ctx, "load identities", "identity", func(rows *sqlx.Rows) error {
		var sid int64
		var ch, acc, addr string
		var last *time.Time
		var blocked bool
		if err := rows.Scan(&sid, &ch, &acc, &addr, &last, &blocked); err != nil {
			return err
		}
		if in, ok := out[sid]; ok && !erased[sid] {
			in.Identities[channels.Kind(ch)] = Identity{Account: acc, Address: addr, LastInboundAt: last, Blocked: blocked}
		}
		return nil
	}, sqlIdentities, arr, pq.Array(accChs), pq.Array(accs))
	if err != nil {
		return err
	}

	if c := st.FrequencyCap; c != nil && c.Max > 0 && c.Per > 0 {
		return s.eachRow(ctx, "count cap window", "cap count", func(rows *sqlx.Rows) error {
			var sid int64
			var n int
			if err := rows.Scan(&sid, &n); err != nil {
				return err
			}
			if in, ok := out[sid]; ok {
				in.SentInCapWindow = n
				out[sid] = in
			}
			return nil
		}, sqlCapCount, arr, string(topic), now.Add(-c.Per.D()), now)
	}
	return nil
}

// eachRow runs query and scans each row with scan; the errors say
// "policy: <what>" for the query and "policy: scan <row>" for a row.
func (s *Store) eachRow(ctx context.Context, what, row string, scan func(*sqlx.Rows) error, query string, args ...any) error {
	rows, err := s.q.QueryxContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("policy: %s: %w", what, err)
	}
	for rows.Next() {
		if err := scan(rows); err != nil {
			rows.Close()
			return fmt.Errorf("policy: scan %s: %w", row, err)
		}
	}
	if err := closeRows(rows); err != nil {
		return fmt.Errorf("policy: %s: %w", what, err)
	}
	return nil
}

type rowsCloser interface {
	Err() error
	Close() error
}

func closeRows(r rowsCloser) error {
	err := r.Err()
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	return err
}
