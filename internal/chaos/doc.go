// Package chaos holds the chaos suite (issue 13): a blast through real
// `nudge worker` and `nudge scheduler` processes on a private redis-server
// (and, for the Postgres faults, a private PostgreSQL server), while the
// suite breaks things: kill -9 of a worker, SIGSTOP past its lease, Redis
// FLUSHALL, restart and outage, Postgres fast and immediate restarts, two
// schedulers and two workers with the leader killed, and opt-outs racing
// every blast.
//
// The provider is the sandbox channel seen through a trigger that records
// every call handed to it (idempotency key, address, wall time) before the
// sandbox's own idempotency key absorbs a repeat: the calls table is what a
// provider that does not deduplicate (Telegram, Viber, WhatsApp, Twilio,
// SMTP) would have delivered. One scenario checks the stand-in against a
// real provider fake: kill -9 through the Telegram adapter and its fake,
// whose accepted sends are copied into the same table. Each scenario
// reports messages intended, delivered at that provider, duplicates,
// unknown, lost, seconds to recover and the longest opt-out wait, and
// asserts nothing lost, no opt-out overtaken, bounded opt-out waits and
// duplicates under today's bound.
//
// `make test` runs the suite at a small size (NUDGE_CHAOS_SIZE unset) with
// the cheaper scenarios; `make chaos` runs every scenario at
// NUDGE_CHAOS_SIZE and writes bench/results/chaos.json (NUDGE_CHAOS_RESULTS).
// The package has no code of its own: everything is in its tests.
package chaos
