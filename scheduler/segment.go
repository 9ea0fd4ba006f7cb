package scheduler

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/subscribers"
)

// SegmentCount is the live size of a segment.
type SegmentCount struct {
	Segment string `json:"segment"`
	Total   int    `json:"total"`
	// ByChannel splits the members by the first channel of the segment's
	// channels (every channel when it lists none) they are reachable on:
	// consent on it and an identity not blocked. Channel "" is the members
	// reachable on none of them (consent on a channel without an identity).
	ByChannel []ChannelCount `json:"by_channel"`
	Sample    []Member       `json:"sample"`
	// Took is how long the count query took.
	Took time.Duration `json:"-"`
	Ms   float64       `json:"ms"`
}

// ChannelCount is one part of the split.
type ChannelCount struct {
	Channel string `json:"channel"`
	Members int    `json:"members"`
}

// Member is one subscriber of a segment's sample, its name masked.
type Member struct {
	ID   int64  `json:"id" db:"id"`
	Name string `json:"name" db:"name"`
}

// countSettings are the planner settings of a count's transaction.
var countSettings = []string{`SET LOCAL enable_nestloop = off`, `SET LOCAL work_mem = '256MB'`, `SET LOCAL jit = off`}

// segmentTarget is seg's audience target at now over the rollup rows RollupFrom joins.
func segmentTarget(seg *campaigns.Segment, now time.Time) AudienceTarget {
	return AudienceTarget{Topic: seg.Topic(), Channels: seg.Channels, Now: now, Joined: true}
}

// CountSQL compiles the count of seg at now to one statement: the members
// grouped by their first reachable channel. Every condition and the split
// read one row per subscriber from each rollup (RollupFrom: the subscriber's
// reachable channels and event times and payloads, its consent per channel
// and source), so a million members cost one pass over three tables joined
// on their keys, and no per-condition join.
func CountSQL(seg *campaigns.Segment, now time.Time) (string, []any, error) {
	args := &Args{}
	topic := args.Add(string(seg.Topic()))
	where, err := AudienceWhere(seg.Audience(), segmentTarget(seg, now), args)
	if err != nil {
		return "", nil, err
	}
	var when []string
	for _, ch := range seg.SplitChannels() {
		c := args.Add(ch) + "::text"
		when = append(when, "WHEN "+consent.OnRollupSQL("r", topic, c)+" AND coalesce("+subscribers.ReachesSQL("r", c)+", false) THEN "+c)
	}
	q := `SELECT CASE ` + strings.Join(when, " ") + ` ELSE '' END AS channel, count(*) AS members
  FROM ` + RollupFrom + `
 WHERE ` + where + `
 GROUP BY 1`
	return q, args.Values(), nil
}

// CountSegment counts seg's members now, split by first reachable channel,
// with a sample of up to sample members (lowest ids first, names masked).
func CountSegment(ctx context.Context, q *sqlx.DB, seg *campaigns.Segment, now time.Time, sample int) (SegmentCount, error) {
	out := SegmentCount{Segment: seg.ID, ByChannel: []ChannelCount{}, Sample: []Member{}}
	query, args, err := CountSQL(seg, now)
	if err != nil {
		return out, fmt.Errorf("count segment %s: %w", seg.ID, err)
	}
	start := time.Now()
	var rows []struct {
		Channel string `db:"channel"`
		Members int    `db:"members"`
	}
	// A count reads every subscriber: hash and merge joins over whole
	// tables, never a probe per member. The planner cannot see how many
	// rows a jsonb condition keeps and, guessing few, picks nested loops
	// (5 s instead of a fraction of one at 100,000), so they are off for
	// this one statement's transaction; its hashes of a million ids get the
	// memory not to spill, and no JIT compilation (which costs more than it
	// saves on one run of the statement).
	err = db.WithTx(ctx, q, func(tx *sqlx.Tx) error {
		for _, set := range countSettings {
			if _, err := tx.ExecContext(ctx, set); err != nil {
				return err
			}
		}
		return tx.SelectContext(ctx, &rows, query, args...)
	})
	if err != nil {
		return out, fmt.Errorf("count segment %s: %w", seg.ID, err)
	}
	out.Took = time.Since(start)
	out.Ms = float64(out.Took.Microseconds()) / 1000
	by := map[string]int{}
	for _, r := range rows {
		by[r.Channel] = r.Members
		out.Total += r.Members
	}
	for _, ch := range append(append([]string{}, seg.SplitChannels()...), "") {
		if n := by[ch]; n > 0 {
			out.ByChannel = append(out.ByChannel, ChannelCount{Channel: ch, Members: n})
		}
	}
	if sample > 0 {
		sargs := &Args{}
		where, err := AudienceWhere(seg.Audience(), segmentTarget(seg, now), sargs)
		if err != nil {
			return out, fmt.Errorf("sample segment %s: %w", seg.ID, err)
		}
		if err := q.SelectContext(ctx, &out.Sample, `SELECT s.id, s.name FROM `+RollupFrom+` WHERE `+
			where+` ORDER BY s.id LIMIT `+sargs.Add(sample), sargs.Values()...); err != nil {
			return out, fmt.Errorf("sample segment %s: %w", seg.ID, err)
		}
		for i := range out.Sample {
			out.Sample[i].Name = subscribers.MaskName(out.Sample[i].Name)
		}
	}
	return out, nil
}
