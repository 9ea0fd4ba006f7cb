// Package bench holds the engine's end-to-end benchmarks, run by `make bench`
// (never by `make test`): a 100k-subscriber blast through the sandbox channel
// compared with raw Asynq no-op throughput measured by the same harness in
// the same run, the peak RSS of a `nudge worker` process during a 1M blast,
// and the rate fidelity of the Redis limiter through the Telegram adapter
// and its fake enforcing the same limit. Each prints a table row and writes bench/results/<name>.json.
package bench
