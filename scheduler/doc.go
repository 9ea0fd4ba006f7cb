// Package scheduler turns triggers into flow runs.
//
// It owns three sources of runs, all written to flow_runs set-based and
// idempotently (INSERT … SELECT … ON CONFLICT DO NOTHING on the unique
// (campaign_id, subscriber_id, trigger_key)):
//
//   - schedule triggers (robfig/cron/v3 specs), evaluated on the local wall
//     clock of a fixed IANA zone or of each subscriber's own zone, with a
//     deliberate rule for DST gaps and repeats (see Occurrences);
//   - event triggers: subscriber_events read after a cursor stored in
//     Postgres, advanced in the same transaction as the runs it created;
//   - the transactional trigger API (API), POST /v1/campaigns/{id}/trigger
//     with an Idempotency-Key honoured for 24 hours;
//   - one-off broadcasts (Broadcasts, BroadcastAPI): a campaign sent once to
//     its audience at an instant or at a wall time per subscriber zone, in
//     batches whose progress (broadcast_zones) commits with their runs, no
//     more while BroadcastWindow of its runs wait for the worker or while it
//     is paused. Their dry run counts through policy.DecideMany, the
//     worker's own gate.
//
// Audiences compile to one parameterised SQL predicate (AudienceWhere), so
// an audience of a million subscribers never enters memory. Runs in the
// campaign's holdout share (Holdout) are created done, for uplift.
//
// Only one Scheduler leads across instances: it holds a session advisory
// lock on a dedicated connection, and a follower takes over when the
// leader's connection drops. Two leaders at once (a split moment) still
// create one run per subscriber and trigger, by the unique key.
//
// After creating runs the scheduler sends NOTIFY nudge_runs (NotifyChannel)
// with the campaign id as payload so the worker's dispatcher wakes.
package scheduler
