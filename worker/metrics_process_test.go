package worker

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/internal/testenv"
)

// A `nudge worker`'s /metrics counts due runs and reads the queue when it
// is scraped (metrics.OnScrape): a slow blast keeps runs due, and the scrape
// sees them.
func TestDueRunsGaugeOnScrape(t *testing.T) {
	h := setup(t)
	const n = 200
	h.blast("gauge", n, time.Now().Add(-time.Minute))
	addr := testenv.FreeAddr(t)
	h.startWorker("NUDGE_SANDBOX_DELAY=200ms", "NUDGE_WORKER_CONCURRENCY=1", "NUDGE_WORKER_BATCH=5",
		"NUDGE_WORKER_METRICS_ADDR="+addr)
	gauge := regexp.MustCompile(`(?m)^nudge_due_runs (\S+)$`)
	var due float64
	testenv.WaitFor(t, "a scrape that counts due runs", 30*time.Second, func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		m := gauge.FindSubmatch(b)
		if m == nil {
			t.Fatalf("no nudge_due_runs gauge in /metrics:\n%s", b)
		}
		due, _ = strconv.ParseFloat(string(m[1]), 64)
		return due > 0
	})
	if due > n {
		t.Errorf("nudge_due_runs = %v, more than the %d runs", due, n)
	}
}
