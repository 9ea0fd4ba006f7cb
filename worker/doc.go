// Package worker runs campaign flows: it works due flow runs from Postgres
// through Asynq tasks, sends messages exactly once per intent, applies
// provider statuses, runs the fallback ladder, and moves runs where the inbox
// says after a reply or a resolved hand-off.
//
// # Shape
//
// Postgres is the truth, Asynq carries the work. A run is due when its
// state is active or waiting and next_at has come. Workers claim due runs
// themselves: a claim task (TypeClaim) runs SELECT … FOR NO KEY UPDATE SKIP LOCKED
// on due runs (SQL function nudge_claim_runs, up to Config.BatchSize; oldest
// first within one of 16 slots of the work index, starting at a random slot
// so concurrent claims do not race for the same runs; a slot with a backlog
// is owned by one claim at a time through an advisory lock, so claims do
// not walk the runs another holds, nor count them first) and works them in that
// same transaction, oldest first, grouped by
// campaign version, step and state; then it claims again, until nothing is
// due. Locked rows are the lease: a crashed worker's transaction aborts, its
// runs are due again at once, and no run is ever marked "dispatched" only to
// wait for a lease to lapse. While claims come back full a claim asks for a
// companion task, so a blast spreads over every worker of every process.
//
// The Dispatcher (dispatcher.go) keeps claims on the queue: woken by its poll
// interval and by LISTEN nudge_runs (the scheduler's new runs) and nudge_due,
// it asks whether a run is due and enqueues claims while none is waiting in
// Asynq's pending list, except right after a claim of its process found
// every due run held by others (those claims work them). It is also the reconciler: after Redis lost the queue
// (FLUSHALL, restart) the runs are still due in Postgres and its next pass
// queues claims for them. While Redis is unreachable the dispatcher claims
// due runs itself, straight from Postgres, until Redis answers again
// (direct.go). A reply or a resolved hand-off that makes a run due
// wakes the workers after its commit (Engine.Wake) without a round trip
// through the dispatcher. Claim tasks carry no run ids, so their task ids
// need not be deterministic: two claims can never work the same run.
// Fallback checks are leased from messages.fallback_at and enqueued with
// deterministic task ids (fallback.go).
//
// # Exactly one effect per intent
//
// A send step (send.go) works the claimed runs of one campaign step in the
// claim's transaction: it decides policy for all subscribers at once,
// renders, sends, and inserts each message row with its outcome together
// with the run transitions — one commit (messages to providers that do not
// deduplicate are the exception: the in-flight ledger below records them
// around their calls). The sends themselves run under a consent hold of
// their own (ledger.go underConsent): a short transaction that tries each
// subscriber's shared advisory lock (consent writers take the exclusive
// one), re-reads consent, makes the provider calls and commits. So an
// opt-out committed before the re-read is seen by it, one under way makes
// the message yield (recorded pending, its run back a second later), and
// one that comes later waits for the call under way only — about 50 ms of a
// batch (the rest yields), or one ledger group of what an account sends in
// 100 ms — never for the claim.
// Quiet hours and provider rate limits defer the run (never drop). A rate
// slot is one message, or one request of a provider that takes many in one
// and counts it once (channels.RequestBatcher: VK's execute of 25); a
// transient provider failure records the message pending with its try
// counted and defers the run by a backoff, until maxRetry tries fail it
// for good.
//
// The idempotency key is "r<run>:<step>:<step_seq>:<attempt>", unique in
// messages, and the run moves by compare-and-set on step_seq. A crash before
// the commit rolls back the moves: the next claim meets the same keys again.
// Providers that dedupe on a client key (VK random_id, the sandbox) get the
// message again and keep one. Messages to the others go through the in-flight
// ledger (ledger.go): committed in_flight before the provider call and with
// the outcome after it, outside the claim's transaction, so a later claim
// knows which messages a crash interrupted and records them unknown instead
// of sending a second copy (on_unknown: resend sends them again). So a
// step's messages to those providers are not in the claim's one commit;
// their runs still move in it.
//
// # Leases
//
// A claim's locks last as long as its transaction's session. The engine's
// pool runs with idle_in_transaction_session_timeout (Config.IdleTxTimeout),
// so a worker frozen mid-claim loses its runs after that long; a claim that
// is only slow keeps its session with a keepalive while it waits on
// providers, and one that lost it makes no further provider call
// (lease.go). An opt-out does not wait for that timeout: a consent writer
// ends a session that has held its subscriber's shared lock idle for
// consent.StaleSender (500 ms), and no provider call starts unless the
// session holding its consent locks answered within leaseProbe (200 ms)
// before it (lease.go fresh, batchContext), so the ended sender sends
// nothing after the opt-out commits.
//
// The inbox owns replies and hand-offs: it classifies a reply and asks the
// engine to move the run (resume.go, Engine.MoveRun and PauseRun, which
// implement inbox.Runs), and a hand-off step records its hand-off through
// Config.Handoffs (inbox.Handoffs). Replies and timeouts race through the same
// compare-and-set on step_seq, so exactly one branch is taken.
package worker
