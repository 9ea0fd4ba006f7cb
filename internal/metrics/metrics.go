// Package metrics holds the engine's Prometheus collectors on a registry of
// its own (no global default registry): messages by channel and status, send
// latency, queue depth, the scheduler's lag and the statements sent to
// Postgres, served at /metrics.
package metrics

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/users"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is the set of collectors. A nil *Metrics is valid and records nothing.
type Metrics struct {
	Registry     *prometheus.Registry
	Messages     *prometheus.CounterVec   // channel, status
	SendLatency  *prometheus.HistogramVec // channel
	QueueDepth   *prometheus.GaugeVec     // queue, state
	SchedulerLag prometheus.Gauge         // seconds the scheduler is behind its due work
	DueRuns      prometheus.Gauge         // flow runs due now and not yet finished
	DirectClaims prometheus.Gauge         // 1 while Redis is unreachable and the dispatcher claims runs itself

	mu        sync.Mutex
	onScrape  []func(context.Context)
	refreshed time.Time
}

// ScrapeRefresh is how often a scrape refreshes the gauges that are read
// at scrape time (OnScrape): scrapes closer together see the last values.
const ScrapeRefresh = 5 * time.Second

// New registers the collectors (and the Go and process collectors) on a fresh registry.
func New() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		Messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nudge_messages_total", Help: "Outbound messages by channel and resulting status.",
		}, []string{"channel", "status"}),
		SendLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "nudge_send_seconds", Help: "Provider send call latency.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"channel"}),
		QueueDepth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "nudge_queue_depth", Help: "Asynq tasks per queue and state.",
		}, []string{"queue", "state"}),
		SchedulerLag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "nudge_scheduler_lag_seconds", Help: "How far behind its due triggers the scheduler is.",
		}),
		DueRuns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "nudge_due_runs", Help: "Flow runs due now (counted when scraped, at most every 5s, up to 100000).",
		}),
		DirectClaims: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "nudge_direct_claims", Help: "1 while Redis is unreachable and the worker claims due runs straight from Postgres.",
		}),
	}
	statements := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "nudge_db_statements_total", Help: "SQL statements this process sent to Postgres (queries, execs, BEGIN, COMMIT, ROLLBACK, COPY).",
	}, func() float64 { return float64(db.Statements()) })
	r.MustRegister(m.Messages, m.SendLatency, m.QueueDepth, m.SchedulerLag, m.DueRuns, m.DirectClaims, statements,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Message counts one message reaching status on channel.
func (m *Metrics) Message(channel, status string) {
	if m == nil {
		return
	}
	m.Messages.WithLabelValues(channel, status).Inc()
}

// Sent observes one provider call.
func (m *Metrics) Sent(channel string, d time.Duration) {
	if m == nil {
		return
	}
	m.SendLatency.WithLabelValues(channel).Observe(d.Seconds())
}

// SetSchedulerLag is called by the scheduler after each pass.
func (m *Metrics) SetSchedulerLag(d time.Duration) {
	if m == nil {
		return
	}
	m.SchedulerLag.Set(d.Seconds())
}

// SetQueueDepth records the size of one queue state (pending, active, scheduled, retry, archived).
func (m *Metrics) SetQueueDepth(queue, state string, n int) {
	if m == nil {
		return
	}
	m.QueueDepth.WithLabelValues(queue, state).Set(float64(n))
}

// OnScrape adds f to what a scrape runs before it reads the registry, at
// most every ScrapeRefresh: gauges that cost a query (due runs, queue
// depth) are read when someone looks, not by every process on a timer
// (four workers counting the same due runs every 5 s was four times the
// work, and made their claims slower; issue 19 item 7).
func (m *Metrics) OnScrape(f func(context.Context)) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.onScrape = append(m.onScrape, f)
}

// refresh runs the OnScrape functions unless they ran within ScrapeRefresh.
// Concurrent scrapes wait for one refresh.
func (m *Metrics) refresh(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.onScrape) == 0 || time.Since(m.refreshed) < ScrapeRefresh {
		return
	}
	m.refreshed = time.Now()
	for _, f := range m.onScrape {
		f(ctx)
	}
}

// Handler serves the registry in the Prometheus text format, refreshing
// the gauges read at scrape time first.
func (m *Metrics) Handler() http.Handler {
	h := promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.refresh(r.Context())
		h.ServeHTTP(w, r)
	})
}

// Register mounts GET /metrics (implements server.Routes).
// Register mounts GET /metrics, public as Prometheus scrapes it (serve it
// on a private network or behind the proxy's access rules).
func (m *Metrics) Register(mux *server.Mux) { mux.Handle("GET /metrics", users.Public, m.Handler()) }
