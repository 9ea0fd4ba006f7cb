// Package bench holds the engine's end-to-end benchmarks, run by `make bench`
// (never by `make test`): a 100k-subscriber blast through the VK adapter and
// an in-memory fake compared, in the same run on the same Postgres, with
// River's burn-down of as many no-op jobs (bench/river, a module of its own),
// with the bulk minimum (COPY of the message rows, UPDATE of the runs) and
// with raw Asynq no-op throughput, reporting Postgres's WAL and tuples per
// message; the peak RSS of a `nudge worker` process during a 1M blast,
// the rate fidelity of the Redis limiter through the Telegram adapter
// and its fake enforcing the same limit; and the WAL of a one-message run
// written as the engine writes it against written once (BenchmarkRunWrites). Each prints a table row and writes bench/results/<name>.json.
package bench
