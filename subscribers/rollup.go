package subscribers

import (
	"strconv"
	"time"
)

// This file is the layout of subscriber_rollup (migration 00028): one row
// per subscriber with an identity or an event, kept by triggers on
// channel_identities and subscriber_events in the writing statement's own
// transaction, so every writer (the API, inbound, blocking, the import,
// erasure) keeps it current. Segment counts read it instead of the
// identities and the events (scheduler.CountSQL): reachable channels, and
// per event name the newest times and the newest event's payload.
//
// Every expression below reads a subscriber_rollup row aliased by the
// caller; with no row (a LEFT JOIN that found none) it is NULL.

// RollupTable is the table a count joins once on subscriber_id.
const RollupTable = "subscriber_rollup"

// RollupTimes is how many of the newest occurred_at of each event name a
// rollup row keeps: "at least n such events in a window" reads it for n up
// to RollupTimes (beyond it, the events themselves).
const RollupTimes = 8

// RollupExistsSQL returns pred (over the subscriber_rollup row aliased r) as
// a predicate over subscriber (an SQL expression, e.g. "s.id"): the row
// exists and pred holds.
func RollupExistsSQL(subscriber, pred string) string {
	return "EXISTS (SELECT 1 FROM subscriber_rollup r WHERE r.subscriber_id = " + subscriber + " AND " + pred + ")"
}

// ReachableSQL: an identity not blocked on one of chans (an SQL text[]
// expression), of any account.
func ReachableSQL(row, chans string) string {
	return "(" + row + ".reachable && " + chans + "::text[])"
}

// ReachesSQL: an identity not blocked on channel (an SQL text expression).
func ReachesSQL(row, channel string) string {
	return "(" + channel + " = ANY(" + row + ".reachable))"
}

// EventsSinceSQL: at least n (1..RollupTimes) events named name (an SQL text
// expression) occurred at or after since (an SQL bigint expression of
// RollupMicros), or ever when since is "".
func EventsSinceSQL(row, name string, n int, since string) string {
	t := "(" + row + ".events -> " + name + "::text -> 't' ->> " + strconv.Itoa(n-1) + ")"
	if since == "" {
		return "(" + t + " IS NOT NULL)"
	}
	return "(" + t + "::bigint >= " + since + "::bigint)"
}

// EventLastSQL is the payload (jsonb) of the newest event named name: the
// greatest occurred_at, ties by id.
func EventLastSQL(row, name string) string {
	return "(" + row + ".events -> " + name + "::text -> 'last')"
}

// RollupMicros is t as the rollup's times are stored: microseconds since
// the epoch (timestamptz's own precision, so comparisons are exact).
func RollupMicros(t time.Time) int64 { return t.UnixMicro() }
