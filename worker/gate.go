package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/db"
)

// SQLGate is the worker's own set-based policy gate: consent for the topic
// (the newest of the channel's and the '*' rows wins), a usable identity not
// blocked, quiet hours in the subscriber's zone (defer), the frequency cap and
// the 24h window of WhatsApp/Messenger. policy.Decide (templates helper) is the
// shared implementation; an adapter replaces this at integration.
type SQLGate struct{}

const (
	qGateConsent = `
SELECT DISTINCT ON (subscriber_id, channel) subscriber_id, channel, granted, id
  FROM consent_events
 WHERE subscriber_id = ANY($1) AND topic = $2 AND channel = ANY($3)
 ORDER BY subscriber_id, channel, id DESC`
	qGateIdentities = `
SELECT subscriber_id, channel, address, blocked_at IS NOT NULL AS blocked, last_inbound_at
  FROM channel_identities
 WHERE subscriber_id = ANY($1) AND channel = ANY($2)
 ORDER BY id`
	qGateZones = `SELECT id, time_zone FROM subscribers WHERE id = ANY($1)`
	qGateCap   = `
SELECT subscriber_id, count(*) FROM messages
 WHERE subscriber_id = ANY($1) AND topic = $2 AND sent_at > $3 AND status IN ('sent','delivered','read')
 GROUP BY subscriber_id`
)

type consentRow struct {
	Sub     int64  `db:"subscriber_id"`
	Channel string `db:"channel"`
	Granted bool   `db:"granted"`
	ID      int64  `db:"id"`
}

type identityRow struct {
	Sub         int64      `db:"subscriber_id"`
	Channel     string     `db:"channel"`
	Address     string     `db:"address"`
	Blocked     bool       `db:"blocked"`
	LastInbound *time.Time `db:"last_inbound_at"`
}

// Decide implements Gate.
func (SQLGate) Decide(ctx context.Context, q db.Executor, ids []int64, topic campaigns.Topic,
	st campaigns.Settings, candidates []channels.Kind, now time.Time) (map[int64]Decision, error) {
	chs := make([]string, 0, len(candidates)+1)
	for _, c := range candidates {
		chs = append(chs, string(c))
	}
	var cons []consentRow
	if err := q.SelectContext(ctx, &cons, qGateConsent, pq.Array(ids), string(topic), pq.Array(append(chs, "*"))); err != nil {
		return nil, fmt.Errorf("gate consent: %w", err)
	}
	type key struct {
		sub int64
		ch  string
	}
	consent := map[key]consentRow{}
	for _, c := range cons {
		consent[key{c.Sub, c.Channel}] = c
	}
	var idents []identityRow
	if err := q.SelectContext(ctx, &idents, qGateIdentities, pq.Array(ids), pq.Array(chs)); err != nil {
		return nil, fmt.Errorf("gate identities: %w", err)
	}
	ident := map[key]identityRow{}
	for _, r := range idents {
		if old, ok := ident[key{r.Sub, r.Channel}]; !ok || (old.Blocked && !r.Blocked) {
			ident[key{r.Sub, r.Channel}] = r
		}
	}
	var zones []struct {
		ID int64  `db:"id"`
		TZ string `db:"time_zone"`
	}
	if err := q.SelectContext(ctx, &zones, qGateZones, pq.Array(ids)); err != nil {
		return nil, fmt.Errorf("gate zones: %w", err)
	}
	loc := map[int64]*time.Location{}
	for _, z := range zones {
		l, err := time.LoadLocation(z.TZ)
		if err != nil {
			l = time.UTC
		}
		loc[z.ID] = l
	}
	sent := map[int64]int{}
	if fc := st.FrequencyCap; fc != nil && fc.Max > 0 {
		var caps []struct {
			Sub int64 `db:"subscriber_id"`
			N   int   `db:"count"`
		}
		if err := q.SelectContext(ctx, &caps, qGateCap, pq.Array(ids), string(topic), now.Add(-fc.Per.D())); err != nil {
			return nil, fmt.Errorf("gate cap: %w", err)
		}
		for _, c := range caps {
			sent[c.Sub] = c.N
		}
	}
	out := make(map[int64]Decision, len(ids))
	for _, id := range ids {
		d := Decision{Reason: "no_consent"}
		for _, ch := range candidates {
			c, okc := consent[key{id, string(ch)}]
			all, oka := consent[key{id, "*"}]
			granted := (okc && c.Granted && (!oka || all.ID < c.ID)) || (oka && all.Granted && (!okc || c.ID < all.ID))
			if !granted {
				continue
			}
			idn, ok := ident[key{id, string(ch)}]
			if !ok {
				if d.Reason == "no_consent" {
					d.Reason = "no_identity"
				}
				continue
			}
			if idn.Blocked {
				d.Reason = "blocked"
				continue
			}
			d = Decision{Send: true, Channel: ch, Address: idn.Address}
			if ch == channels.WhatsApp || ch == channels.Messenger {
				d.OutsideWindow = idn.LastInbound == nil || now.Sub(*idn.LastInbound) > 24*time.Hour
			}
			break
		}
		if !d.Send {
			out[id] = d
			continue
		}
		l := loc[id]
		if l == nil {
			l = time.UTC
		}
		if until, quiet := QuietUntil(st.QuietHours, now, l); quiet {
			out[id] = Decision{Channel: d.Channel, Address: d.Address, DeferUntil: until, Reason: "quiet_hours"}
			continue
		}
		if fc := st.FrequencyCap; fc != nil && fc.Max > 0 && sent[id] >= fc.Max {
			out[id] = Decision{Channel: d.Channel, Address: d.Address, Reason: "frequency_cap"}
			continue
		}
		out[id] = d
	}
	return out, nil
}

// QuietUntil reports whether now falls in the quiet hours (local to loc) and
// when they end. Start > End wraps midnight ("22:00" to "09:00").
func QuietUntil(q *campaigns.QuietHours, now time.Time, loc *time.Location) (time.Time, bool) {
	if q == nil {
		return time.Time{}, false
	}
	sh, sm, err1 := hhmm(q.Start)
	eh, em, err2 := hhmm(q.End)
	if err1 != nil || err2 != nil {
		return time.Time{}, false
	}
	l := now.In(loc)
	mins := l.Hour()*60 + l.Minute()
	start, end := sh*60+sm, eh*60+em
	var in bool
	if start <= end {
		in = mins >= start && mins < end
	} else {
		in = mins >= start || mins < end
	}
	if !in {
		return time.Time{}, false
	}
	day := l
	if start > end && mins >= start {
		day = l.AddDate(0, 0, 1)
	}
	return time.Date(day.Year(), day.Month(), day.Day(), eh, em, 0, 0, loc), true
}

func hhmm(s string) (int, int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, 0, fmt.Errorf("time of day %q: want HH:MM", s)
	}
	return t.Hour(), t.Minute(), nil
}
