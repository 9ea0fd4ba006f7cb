// Package worker runs campaign flows: it turns due flow runs in Postgres into
// Asynq tasks, executes their steps, sends messages exactly once per intent,
// applies provider statuses, runs the fallback ladder, resumes runs on
// replies and hand-off resolution.
//
// # Shape
//
// Postgres is the truth, Asynq carries work. The Dispatcher (dispatcher.go)
// is one loop, woken by its poll interval and by LISTEN nudge_due (whoever
// creates or resumes runs may run SELECT pg_notify('nudge_due', 'x') after
// commit; the worker does so itself). Each pass leases due runs (state
// active/waiting, next_at <= clock) in one set-based UPDATE that also numbers
// them into batches of up to Config.BatchSize per campaign version, step and
// state and stores the batch key on the runs; one task per batch is enqueued
// with that key as the Asynq task id. A lease that lapses (Config.Lease) is
// re-enqueued under the same key: Asynq answers "conflict" while the task
// still exists, and accepts it after Redis lost it (FLUSHALL, restart) — so
// the dispatcher is also the reconciler. Fresh and lapsed leases come from two
// partial indexes, so a pass never rescans leased runs, and a pass leases
// only what the queue can take soon (4 x concurrency batches): a 1M blast is
// fed, not leased at once. Fallback checks are leased the same way from
// messages.fallback_at.
//
// After a kill -9 the dead process's active tasks stay "active" in Redis
// until Asynq's recoverer sees their 30s lease expire (it runs every minute):
// their runs are finished by the next worker within about 90 seconds.
//
// # Exactly one effect per intent
//
// A send step (send.go) works a batch in chunks with two transactions:
//
//  1. lock the runs (FOR UPDATE SKIP LOCKED, step_seq must match the task),
//     decide policy for all subscribers at once, render, and insert the
//     message rows as pending (multi-row INSERT … ON CONFLICT
//     (idempotency_key) DO NOTHING). Quiet hours move next_at (defer, never
//     drop); other refusals record a skipped row with its reason.
//  2. per 100 messages: lock the runs again, take a shared advisory lock
//     per subscriber (consent writers take the exclusive one), re-read consent — an opt-out committed
//     before this point means no send, one committed after waits for the
//     send — then rate-limit, send, and record statuses and run transitions
//     set-based in the same commit.
//
// The idempotency key is "r<run>:<step>:<step_seq>:<attempt>". A crash after
// commit 1 leaves a pending row and an unadvanced run; the retry sends the
// same key again. Providers that dedupe on a client key (VK random_id, the
// sandbox) make that exactly once; for providers without dedupe the residual
// window is a crash between the provider's accept and commit 2 of the chunk:
// those messages (at most one chunk per crashed task) may be sent twice.
//
// Replies (replies.go) and timeouts race through the same compare-and-set on
// step_seq, so exactly one branch is taken.
package worker
