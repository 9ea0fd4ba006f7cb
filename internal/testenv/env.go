package testenv

import (
	"os"
	"strconv"
)

// EnvInt is the positive integer the environment variable name holds, or
// def when it is unset or holds anything else: how benchmarks and load
// tests let a run choose their sizes (BENCH_BLAST_N, NUDGE_HOOKS_RATE …).
func EnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
