package metrics

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHandlerExposesCollectors(t *testing.T) {
	m := New()
	m.Message("telegram", "sent")
	m.Sent("telegram", 20*time.Millisecond)
	m.SetSchedulerLag(3 * time.Second)
	m.SetQueueDepth("default", "pending", 7)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`nudge_messages_total{channel="telegram",status="sent"} 1`,
		`nudge_scheduler_lag_seconds 3`,
		`nudge_queue_depth{queue="default",state="pending"} 7`,
		`nudge_send_seconds_count{channel="telegram"} 1`,
		"nudge_db_statements_total ",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics output lacks %q", want)
		}
	}
	var nilM *Metrics
	nilM.Message("x", "y") // must not panic
}

// Gauges that cost a query are read when /metrics is scraped, at most every
// ScrapeRefresh, and never without a scrape.
func TestOnScrapeRunsAtScrapeOnly(t *testing.T) {
	m := New()
	calls := 0
	m.OnScrape(func(context.Context) { calls++; m.DueRuns.Set(float64(40 + calls)) })
	if calls != 0 {
		t.Fatalf("OnScrape ran %d times before any scrape", calls)
	}
	scrape := func() string {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return rec.Body.String()
	}
	if body := scrape(); !strings.Contains(body, "nudge_due_runs 41") {
		t.Errorf("first scrape: nudge_due_runs not refreshed before the read:\n%s", body)
	}
	if body := scrape(); calls != 1 || !strings.Contains(body, "nudge_due_runs 41") {
		t.Errorf("a second scrape within %v refreshed again (%d calls)", ScrapeRefresh, calls)
	}
	m.refreshed = m.refreshed.Add(-ScrapeRefresh)
	if body := scrape(); calls != 2 || !strings.Contains(body, "nudge_due_runs 42") {
		t.Errorf("a scrape after %v did not refresh (%d calls)", ScrapeRefresh, calls)
	}
	var nilM *Metrics
	nilM.OnScrape(func(context.Context) {}) // must not panic
}
