package subscriber

import "github.com/prometheus/client_golang/prometheus"

// Metrics of the control-plane link.
type Metrics struct {
	connected     prometheus.Gauge
	badFrames     prometheus.Counter
	actions       *prometheus.CounterVec
	eventsQueued  prometheus.Counter
	eventsSent    prometheus.Counter
	eventsFailed  *prometheus.CounterVec
	outboxDepth   prometheus.Gauge
	storeFailures prometheus.Counter
	eventLatency  prometheus.Histogram
	probes        *prometheus.CounterVec
	outboxWrites  prometheus.Counter
}

// NewMetrics creates the subscriber's metrics (unregistered).
func NewMetrics() *Metrics {
	return &Metrics{
		connected: prometheus.NewGauge(prometheus.GaugeOpts{Name: "chaos_agent_control_plane_connected",
			Help: "1 while the infraConnect subscription is up."}),
		badFrames: prometheus.NewCounter(prometheus.CounterOpts{Name: "chaos_agent_control_plane_bad_frames_total",
			Help: "Malformed frames or actions received (skipped)."}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "chaos_agent_actions_total",
			Help: "Actions received, by request type and result."}, []string{"type", "result"}),
		eventsQueued: prometheus.NewCounter(prometheus.CounterOpts{Name: "chaos_agent_events_queued_total",
			Help: "Run events written to the outbox."}),
		eventsSent: prometheus.NewCounter(prometheus.CounterOpts{Name: "chaos_agent_events_sent_total",
			Help: "Run events accepted by the control plane."}),
		eventsFailed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "chaos_agent_events_failed_total",
			Help: "Run events not delivered as queued, by kind (transient: retried; refused, oversize, overflow: dropped; superseded: replaced by a newer event of the run; duplicate)."}, []string{"kind"}),
		outboxDepth: prometheus.NewGauge(prometheus.GaugeOpts{Name: "chaos_agent_outbox_events",
			Help: "Run events waiting in the outbox (stored, and waiting in memory while it is full)."}),
		storeFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "chaos_agent_outbox_store_failures_total",
			Help: "Failed writes of the outbox to its store (retried; after 30 s events are sent from memory)."}),
		eventLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "chaos_agent_event_delivery_seconds",
			Help: "Time from an event being queued to the control plane accepting it.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}),
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "chaos_agent_control_plane_probes_total",
			Help: "Readiness probes of an unreachable control plane, by whether it answered."}, []string{"up"}),
		outboxWrites: prometheus.NewCounter(prometheus.CounterOpts{Name: "chaos_agent_outbox_writes_total",
			Help: "Outbox segments written to the store."}),
	}
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.connected, m.badFrames, m.actions, m.eventsQueued, m.eventsSent, m.eventsFailed, m.outboxDepth, m.storeFailures,
		m.eventLatency, m.probes, m.outboxWrites}
}
