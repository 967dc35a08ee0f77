package executor

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// Metrics are the executor's own counters and histograms. Register them with Register.
type Metrics struct {
	runs           *prometheus.CounterVec
	runDuration    *prometheus.HistogramVec
	iterations     *prometheus.CounterVec
	podsDeleted    *prometheus.CounterVec
	victimsSkipped *prometheus.CounterVec
	timeToReady    *prometheus.HistogramVec
}

// NewMetrics creates the executor's metrics (unregistered).
func NewMetrics() *Metrics {
	return &Metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chaos_agent_experiment_runs_total", Help: "Experiment runs by fault and verdict.",
		}, []string{"fault", "verdict"}),
		runDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "chaos_agent_experiment_duration_seconds", Help: "Wall time of experiment runs.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}, []string{"fault"}),
		iterations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chaos_agent_fault_iterations_total", Help: "Chaos iterations (victim selections).",
		}, []string{"fault"}),
		podsDeleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chaos_agent_pods_deleted_total", Help: "Pods deleted by pod-delete.",
		}, []string{"namespace"}),
		victimsSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chaos_agent_victims_skipped_total", Help: "Selected pods not deleted (PodDisruptionBudget, already gone).",
		}, []string{"namespace"}),
		timeToReady: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "chaos_agent_time_to_ready_seconds", Help: "Time from a pod's deletion to its replacement being Ready.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300},
		}, []string{"namespace", "owner_kind"}),
	}
}

// Register registers the metrics.
func (m *Metrics) Register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.runs, m.runDuration, m.iterations, m.podsDeleted, m.victimsSkipped, m.timeToReady} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func (m *Metrics) observeRun(fault string, v litmus.Verdict, d time.Duration) {
	m.runs.WithLabelValues(fault, string(v)).Inc()
	m.runDuration.WithLabelValues(fault).Observe(d.Seconds())
}
