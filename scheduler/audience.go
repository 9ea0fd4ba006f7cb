package scheduler

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/subscribers"
)

// ErrAudience is wrapped by every audience definition error.
var ErrAudience = errors.New("invalid audience")

// Args collects positional query parameters; Add returns the placeholder.
type Args struct{ vals []any }

// Add appends v and returns its placeholder ($n).
func (a *Args) Add(v any) string {
	a.vals = append(a.vals, v)
	return "$" + strconv.Itoa(len(a.vals))
}

// Values returns the collected parameters in placeholder order.
func (a *Args) Values() []any { return a.vals }

// AudienceTarget is what an audience is evaluated for: the consent topic the
// subscriber must hold on at least one of Channels, and Now for event windows.
type AudienceTarget struct {
	Topic    campaigns.Topic
	Channels []string
	Now      time.Time
	// AnyConsent leaves consent out of the predicate: a broadcast's dry run
	// counts the audience's conditions and lets policy say who lacks consent.
	AnyConsent bool
	// Segment is the current version of the segment the audience names
	// (audience.segment); ResolveTarget reads it.
	Segment *campaigns.Segment
	// Accounts, for a campaign (non-nil), are the accounts it sends through
	// per channel (settings.accounts; main where absent): audience.reachable
	// then counts only identities of those accounts. A segment (nil)
	// counts every account.
	Accounts map[string]string
	// Joined says the caller's FROM joins the subscriber's rollup row to s
	// as r (RollupFrom). The predicate then reads its columns, where
	// otherwise each condition probes the rollup by s.id: a count of a
	// million joins it once instead of once per condition.
	Joined bool
}

// RollupFrom is the FROM of a Joined audience: the subscribers (s) with
// their rollup rows (r): reachability and events (subscribers), consent per
// topic (consent).
const RollupFrom = "subscribers s LEFT JOIN " + subscribers.RollupTable + " r ON r.subscriber_id = s.id"

// rollup returns pred, over the subscriber_rollup row r, as a predicate over
// s (negated: it does not hold, or there is no row). Joined, a condition
// that must hold stays strict (NULL without a row), so the planner turns the
// outer join into an inner one and filters the rollup as it reads it.
func (t AudienceTarget) rollup(pred string, negate bool) string {
	switch {
	case t.Joined && negate:
		return "NOT coalesce(" + pred + ", false)"
	case t.Joined:
		return pred
	case negate:
		return "NOT " + subscribers.RollupExistsSQL("s.id", pred)
	}
	return subscribers.RollupExistsSQL("s.id", pred)
}

// accountsOf is a campaign's Accounts target: never nil.
func accountsOf(def *campaigns.Definition) map[string]string {
	if def.Settings.Accounts == nil {
		return map[string]string{}
	}
	return def.Settings.Accounts
}

// ResolveTarget returns the target of campaign def's audience at now: its
// topic and channels, and the current version of the segment it names, read
// with q.
func ResolveTarget(ctx context.Context, q db.Executor, def *campaigns.Definition, now time.Time) (AudienceTarget, error) {
	t := AudienceTarget{Topic: topicOf(def), Channels: def.Settings.Channels, Now: now, Accounts: accountsOf(def)}
	if id := def.Audience.Segment; id != "" {
		v, err := campaigns.CurrentSegment(ctx, q, id)
		if err != nil {
			return t, fmt.Errorf("%w: %w", ErrAudience, err)
		}
		t.Segment = v.Def
	}
	return t, nil
}

// SegmentWhere returns the predicate over "s" for the members of seg: its
// audience with consent on one of its channels (any when it lists none).
func SegmentWhere(seg *campaigns.Segment, now time.Time, args *Args) (string, error) {
	return AudienceWhere(seg.Audience(), AudienceTarget{Topic: seg.Topic(), Channels: seg.Channels, Now: now}, args)
}

// AudienceWhere returns a boolean SQL predicate over the subscribers row
// aliased "s" that holds for the members of aud. Every value and every
// attribute name goes through args; nothing from the definition is spliced
// into the SQL text. Erased subscribers never match.
func AudienceWhere(aud campaigns.Audience, t AudienceTarget, args *Args) (string, error) {
	parts := []string{"s.erased_at IS NULL"}
	topic := aud.Consent
	if topic == "" {
		topic = t.Topic
	}
	switch topic {
	case campaigns.TopicService, campaigns.TopicMarketing:
	default:
		return "", fmt.Errorf("%w: consent topic %q is not service or marketing", ErrAudience, topic)
	}
	tp := "" // the topic's placeholder, for the consent conditions
	if !t.AnyConsent || len(aud.OptInSource) > 0 {
		tp = args.Add(string(topic))
	}
	if !t.AnyConsent {
		parts = append(parts, consentSQL(t, tp, args))
	}
	if aud.Segment != "" {
		if t.Segment == nil || t.Segment.ID != aud.Segment {
			return "", fmt.Errorf("%w: segment %q is not resolved (ResolveTarget)", ErrAudience, aud.Segment)
		}
		if t.Segment.Audience().Segment != "" {
			return "", fmt.Errorf("%w: segment %q names a segment", ErrAudience, aud.Segment)
		}
		p, err := SegmentWhere(t.Segment, t.Now, args)
		if err != nil {
			return "", fmt.Errorf("segment %s: %w", aud.Segment, err)
		}
		parts = append(parts, p)
	}
	if len(aud.Reachable) > 0 {
		account := ""
		if t.Accounts != nil {
			chs, accs := make([]string, 0, len(t.Accounts)), make([]string, 0, len(t.Accounts))
			for ch, a := range t.Accounts {
				chs, accs = append(chs, ch), append(accs, channels.Account(a))
			}
			account = " AND ri.account = coalesce((SELECT x.acc FROM unnest(" + args.Add(pq.Array(chs)) + "::text[], " +
				args.Add(pq.Array(accs)) + "::text[]) AS x(ch, acc) WHERE x.ch = ri.channel), '" + channels.DefaultAccount + "')"
		}
		if account == "" {
			// Any account: the rollup's reachable channels.
			parts = append(parts, t.rollup(subscribers.ReachableSQL("r", args.Add(pq.Array(aud.Reachable))), false))
		} else {
			parts = append(parts, "EXISTS (SELECT 1 FROM channel_identities ri WHERE ri.subscriber_id = s.id AND ri.blocked_at IS NULL AND ri.channel = ANY("+
				args.Add(pq.Array(aud.Reachable))+"::text[])"+account+")")
		}
	}
	if len(aud.OptInSource) > 0 {
		src := args.Add(pq.Array(aud.OptInSource))
		if t.Joined {
			parts = append(parts, consent.SourcesSQL("r", tp, src))
		} else {
			parts = append(parts, consent.SourceSQL("s.id", tp, src))
		}
	}
	for i, c := range aud.Where {
		p, err := c.SQL("s", args)
		if err != nil {
			return "", fmt.Errorf("%w: where[%d]: %v", ErrAudience, i, err)
		}
		parts = append(parts, p)
	}
	for i, f := range aud.HasEvent {
		p, err := hasEventSQL(f, t, args)
		if err != nil {
			return "", fmt.Errorf("%w: has_event[%d]: %v", ErrAudience, i, err)
		}
		parts = append(parts, p)
	}
	for i, f := range aud.NoEvent {
		if f.MinCount > 0 || len(f.Last) > 0 {
			return "", fmt.Errorf("%w: no_event[%d]: takes no min_count or last", ErrAudience, i)
		}
		p, err := eventRollupSQL(f, t.Now, args)
		if err != nil {
			return "", fmt.Errorf("%w: no_event[%d]: %v", ErrAudience, i, err)
		}
		parts = append(parts, t.rollup(p, true))
	}
	return "(" + strings.Join(parts, "\n   AND ") + ")", nil
}

// consentSQL: the subscriber consents to topic (the SQL expression tp) on
// at least one channel of t.Channels, or on any channel when none is listed
// (consent.AudienceSQL, consent.OnAnySQL).
func consentSQL(t AudienceTarget, tp string, args *Args) string {
	anyOf := ""
	if len(t.Channels) > 0 {
		anyOf = args.Add(pq.Array(t.Channels))
	}
	if t.Joined {
		return consent.OnAnySQL("r", tp, anyOf)
	}
	return consent.AudienceSQL("s.id", anyOf, tp)
}

// hasEventSQL: the subscriber posted f (in its window; at least MinCount;
// the newest one's payload matching Last). It reads the subscriber's rollup
// row (subscribers.RollupTable: the newest times and the newest payload per
// event name), so a count over a million subscribers reads no event; only a
// count beyond the rollup's RollupTimes groups the events themselves.
func hasEventSQL(f campaigns.EventFilter, t AudienceTarget, args *Args) (string, error) {
	if f.MinCount <= subscribers.RollupTimes {
		p, err := eventRollupSQL(f, t.Now, args)
		if err != nil {
			return "", err
		}
		return t.rollup(p, false), nil
	}
	if f.Name == "" {
		return "", errors.New("name is required")
	}
	window := ""
	if f.Within > 0 {
		if t.Now.IsZero() {
			return "", errors.New("within needs the current time")
		}
		window = " AND ev.occurred_at >= " + args.Add(t.Now.Add(-f.Within.D()))
	}
	name := args.Add(f.Name)
	if len(f.Last) == 0 {
		return "s.id IN (SELECT ev.subscriber_id FROM subscriber_events ev WHERE ev.name = " + name + window +
			" GROUP BY ev.subscriber_id HAVING count(*) >= " + args.Add(f.MinCount) + ")", nil
	}
	// The newest event in the window (ties by id), with the count beside it.
	var conds []string
	for i, c := range f.Last {
		p, err := c.PayloadSQL("lv.payload", args)
		if err != nil {
			return "", fmt.Errorf("last[%d]: %v", i, err)
		}
		conds = append(conds, p)
	}
	return "s.id IN (SELECT lv.subscriber_id FROM (SELECT ev.subscriber_id, ev.payload," +
		" row_number() OVER (PARTITION BY ev.subscriber_id ORDER BY ev.occurred_at DESC, ev.id DESC) AS n," +
		" count(*) OVER (PARTITION BY ev.subscriber_id) AS total" +
		" FROM subscriber_events ev WHERE ev.name = " + name + window + ") lv WHERE lv.n = 1" +
		" AND lv.total >= " + args.Add(f.MinCount) + " AND " + strings.Join(conds, " AND ") + ")", nil
}

// eventRollupSQL is f (MinCount up to subscribers.RollupTimes) over the
// subscriber_rollup row r. The window is [now - within, ∞), so its newest
// event is the newest of all when that is in the window, and it holds n
// events when the n-th newest is.
func eventRollupSQL(f campaigns.EventFilter, now time.Time, args *Args) (string, error) {
	if f.Name == "" {
		return "", errors.New("name is required")
	}
	since := ""
	if f.Within > 0 {
		if now.IsZero() {
			return "", errors.New("within needs the current time")
		}
		since = args.Add(subscribers.RollupMicros(now.Add(-f.Within.D())))
	}
	name := args.Add(f.Name)
	// The n-th newest in the window puts the newest there too.
	parts := []string{subscribers.EventsSinceSQL("r", name, max(f.MinCount, 1), since)}
	for i, c := range f.Last {
		p, err := c.PayloadSQL(subscribers.EventLastSQL("r", name), args)
		if err != nil {
			return "", fmt.Errorf("last[%d]: %v", i, err)
		}
		parts = append(parts, p)
	}
	return "(" + strings.Join(parts, " AND ") + ")", nil
}
