package worker

import (
	"io"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/internal/testenv"
)

// TestWorkerSetsItsMemoryLimit: `nudge worker` sets the Go runtime's soft
// memory limit from NUDGE_WORKER_MEMORY_LIMIT_MB (by default 32 MiB per
// 2,000 runs in flight), none with 0, and leaves GOMEMLIMIT's value alone;
// read back from the process's own go_gc_gomemlimit_bytes.
func TestWorkerSetsItsMemoryLimit(t *testing.T) {
	h := setupDB(t)
	for _, c := range []struct {
		name string
		env  []string
		want float64
	}{
		{"default", []string{"NUDGE_WORKER_CONCURRENCY=4"}, 32 << 20},                           // 4 × 100 runs
		{"scaled", []string{"NUDGE_WORKER_CONCURRENCY=4", "NUDGE_WORKER_BATCH=1000"}, 64 << 20}, // 4,000 runs
		{"set", []string{"NUDGE_WORKER_MEMORY_LIMIT_MB=48"}, 48 << 20},
		{"none", []string{"NUDGE_WORKER_MEMORY_LIMIT_MB=0"}, math.MaxInt64},
		{"GOMEMLIMIT wins", []string{"GOMEMLIMIT=100MiB", "NUDGE_WORKER_MEMORY_LIMIT_MB=48"}, 100 << 20},
	} {
		t.Run(c.name, func(t *testing.T) {
			addr := testenv.FreeAddr(t)
			w := h.startWorker(append(c.env, "NUDGE_WORKER_METRICS_ADDR="+addr)...)
			defer func() { _ = w.Process.Kill(); _ = w.Wait() }()
			var got float64
			testenv.WaitFor(h.t, "the worker's metrics", 30*time.Second, func() bool {
				resp, err := http.Get("http://" + addr + "/metrics")
				if err != nil {
					return false
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				m := regexp.MustCompile(`(?m)^go_gc_gomemlimit_bytes (\S+)$`).FindSubmatch(b)
				if m == nil {
					t.Fatalf("no go_gc_gomemlimit_bytes in the worker's metrics")
				}
				got, err = strconv.ParseFloat(string(m[1]), 64)
				return err == nil
			})
			if got != c.want {
				t.Errorf("memory limit = %.0f bytes, want %.0f", got, c.want)
			}
		})
	}
}
