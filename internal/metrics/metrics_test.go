package metrics

import (
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
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics output lacks %q", want)
		}
	}
	var nilM *Metrics
	nilM.Message("x", "y") // must not panic
}
