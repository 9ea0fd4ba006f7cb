// Package metrics holds the engine's Prometheus collectors on a registry of
// its own (no global default registry): messages by channel and status, send
// latency, queue depth and the scheduler's lag, served at /metrics.
package metrics

import (
	"net/http"
	"time"

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
}

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
			Name: "nudge_due_runs", Help: "Flow runs due now (counted every 5s, up to 100000).",
		}),
		DirectClaims: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "nudge_direct_claims", Help: "1 while Redis is unreachable and the worker claims due runs straight from Postgres.",
		}),
	}
	r.MustRegister(m.Messages, m.SendLatency, m.QueueDepth, m.SchedulerLag, m.DueRuns, m.DirectClaims,
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

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// Register mounts GET /metrics (implements server.Routes).
// Register mounts GET /metrics, public as Prometheus scrapes it (serve it
// on a private network or behind the proxy's access rules).
func (m *Metrics) Register(mux *server.Mux) { mux.Handle("GET /metrics", users.Public, m.Handler()) }
