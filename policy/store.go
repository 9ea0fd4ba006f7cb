package policy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/db"
)

// Every SQL statement of the package; all parameterised, all set-based
// (subscriber_id = ANY($1)) so one call serves one or ten thousand subscribers.
const (
	sqlSubscribers = `
SELECT id, time_zone, erased_at IS NOT NULL AS erased
  FROM subscribers WHERE id = ANY($1::bigint[])`

	// The newest event per (subscriber, channel) for the topic; '*' rows come
	// back as their own channel and are merged in Go (the newer id wins), as
	// consent.Ledger.Current does.
	sqlConsent = `
SELECT DISTINCT ON (subscriber_id, channel) subscriber_id, channel, granted, id
  FROM consent_events
 WHERE subscriber_id = ANY($1::bigint[]) AND topic = $2
 ORDER BY subscriber_id, channel, id DESC`

	// One identity per (subscriber, channel): an unblocked one first, then the
	// one the user wrote from most recently, then the newest.
	sqlIdentities = `
SELECT DISTINCT ON (subscriber_id, channel)
       subscriber_id, channel, address, last_inbound_at, blocked_at IS NOT NULL AS blocked
  FROM channel_identities
 WHERE subscriber_id = ANY($1::bigint[])
 ORDER BY subscriber_id, channel, (blocked_at IS NOT NULL), last_inbound_at DESC NULLS LAST, id DESC`

	// Messages of the topic sent in the cap window (by sent_at), per subscriber.
	sqlCapCount = `
SELECT subscriber_id, count(*) AS n
  FROM messages
 WHERE subscriber_id = ANY($1::bigint[]) AND topic = $2 AND sent_at > $3 AND sent_at <= $4
 GROUP BY subscriber_id`
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

// Load returns the Input for one subscriber. HandoffOpen is false: the
// conversations table arrives with the inbox. OutsideWindowOK is left for
// the caller, who knows the template.
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
// three or four queries per 5000 ids whatever their number. An erased
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
	rows, err := s.q.QueryxContext(ctx, sqlSubscribers, arr)
	if err != nil {
		return fmt.Errorf("policy: load subscribers: %w", err)
	}
	for rows.Next() {
		var id int64
		var zone string
		var gone bool
		if err := rows.Scan(&id, &zone, &gone); err != nil {
			rows.Close()
			return fmt.Errorf("policy: scan subscriber: %w", err)
		}
		loc, ok := zones[zone]
		if !ok {
			if loc, err = time.LoadLocation(zone); err != nil {
				loc = time.UTC // an unknown zone must not stop sends; quiet hours then use UTC
			}
			zones[zone] = loc
		}
		erased[id] = gone
		out[id] = Input{
			Topic: topic, Settings: st, Now: now, Location: loc,
			Consent:    map[channels.Kind]bool{},
			Identities: map[channels.Kind]Identity{},
		}
	}
	if err := closeRows(rows); err != nil {
		return fmt.Errorf("policy: load subscribers: %w", err)
	}

	type event struct {
		granted bool
		id      int64
	}
	perSub := map[int64]map[string]event{}
	rows, err = s.q.QueryxContext(ctx, sqlConsent, arr, string(topic))
	if err != nil {
		return fmt.Errorf("policy: load consent: %w", err)
	}
	for rows.Next() {
		var sid, id int64
		var ch string
		var granted bool
		if err := rows.Scan(&sid, &ch, &granted, &id); err != nil {
			rows.Close()
			return fmt.Errorf("policy: scan consent: %w", err)
		}
		if perSub[sid] == nil {
			perSub[sid] = map[string]event{}
		}
		perSub[sid][ch] = event{granted, id}
	}
	if err := closeRows(rows); err != nil {
		return fmt.Errorf("policy: load consent: %w", err)
	}
	for sid, evs := range perSub {
		in, ok := out[sid]
		if !ok || erased[sid] {
			continue
		}
		star, hasStar := evs["*"]
		chans := append([]channels.Kind(nil), channels.Kinds...)
		for ch := range evs {
			if k := channels.Kind(ch); ch != "*" && !k.Valid() {
				chans = append(chans, k)
			}
		}
		for _, k := range chans {
			e, has := evs[string(k)]
			switch {
			case has && (!hasStar || e.id > star.id):
				in.Consent[k] = e.granted
			case hasStar:
				in.Consent[k] = star.granted
			}
		}
	}

	rows, err = s.q.QueryxContext(ctx, sqlIdentities, arr)
	if err != nil {
		return fmt.Errorf("policy: load identities: %w", err)
	}
	for rows.Next() {
		var sid int64
		var ch, addr string
		var last *time.Time
		var blocked bool
		if err := rows.Scan(&sid, &ch, &addr, &last, &blocked); err != nil {
			rows.Close()
			return fmt.Errorf("policy: scan identity: %w", err)
		}
		in, ok := out[sid]
		if !ok || erased[sid] {
			continue
		}
		in.Identities[channels.Kind(ch)] = Identity{Address: addr, LastInboundAt: last, Blocked: blocked}
	}
	if err := closeRows(rows); err != nil {
		return fmt.Errorf("policy: load identities: %w", err)
	}

	if c := st.FrequencyCap; c != nil && c.Max > 0 && c.Per > 0 {
		rows, err = s.q.QueryxContext(ctx, sqlCapCount, arr, string(topic), now.Add(-c.Per.D()), now)
		if err != nil {
			return fmt.Errorf("policy: count cap window: %w", err)
		}
		for rows.Next() {
			var sid int64
			var n int
			if err := rows.Scan(&sid, &n); err != nil {
				rows.Close()
				return fmt.Errorf("policy: scan cap count: %w", err)
			}
			if in, ok := out[sid]; ok {
				in.SentInCapWindow = n
				out[sid] = in
			}
		}
		if err := closeRows(rows); err != nil {
			return fmt.Errorf("policy: count cap window: %w", err)
		}
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
