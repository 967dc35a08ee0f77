package executor

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// exporter publishes the upstream chaos-exporter's gauges (litmus-execution §9), computed at
// scrape time from the ChaosResult and ChaosEngine caches, so that existing dashboards and
// alerts keep working. Experiment start, chaos-injection and end times come from the engine
// events this agent emitted (kept in memory: after a restart they appear with the next run).
type exporter struct {
	results, engines cache.Store
	namespaced       bool // namespace-scoped install: litmuschaos_namespace_scoped_* aggregates
	clock            clock.Clock
	verdictHold      time.Duration // TSDB_SCRAPE_INTERVAL: how long a final verdict reads 1

	mu       sync.Mutex
	times    map[types.UID]*engineTimes // by engine UID
	exported map[verdictKey]time.Time   // first export of a final verdict
}

type engineTimes struct{ start, inject, end time.Time }

type verdictKey struct {
	result  types.UID
	verdict litmus.Verdict
}

func newExporter(results, engines cache.Store, namespaced bool, clk clock.Clock) *exporter {
	return &exporter{results: results, engines: engines, namespaced: namespaced, clock: clk, verdictHold: 10 * time.Second,
		times: map[types.UID]*engineTimes{}, exported: map[verdictKey]time.Time{}}
}

// engineEvent records the times the exporter derives from engine events.
func (x *exporter) engineEvent(uid types.UID, reason litmus.EventReason, at time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	t := x.times[uid]
	if t == nil {
		t = &engineTimes{}
		x.times[uid] = t
	}
	switch reason {
	case litmus.EventReasonExperimentDependencyCheck:
		t.start, t.inject, t.end = at, time.Time{}, time.Time{}
	case litmus.EventReasonChaosInject:
		t.inject = at
	case litmus.EventReasonSummary:
		t.end = at
	}
}

var (
	labelsA       = []string{"chaosresult_namespace", "chaosresult_name", "chaosengine_name", "chaosengine_context", "fault_name"}
	descPassed    = prometheus.NewDesc("litmuschaos_passed_experiments", "Passed runs of the experiment (history.passedRuns).", labelsA, nil)
	descFailed    = prometheus.NewDesc("litmuschaos_failed_experiments", "Failed runs of the experiment (history.failedRuns).", labelsA, nil)
	descAwaited   = prometheus.NewDesc("litmuschaos_awaited_experiments", "1 while the experiment's verdict is Awaited.", append(labelsA[:5:5], "workflow_name"), nil)
	descPSP       = prometheus.NewDesc("litmuschaos_probe_success_percentage", "Probe success percentage of the last run.", labelsA, nil)
	descVerdict   = prometheus.NewDesc("litmuschaos_experiment_verdict", "1 for a final verdict until it has been exported for the scrape interval, else 0.", append(labelsA[:5:5], "chaosresult_verdict", "probe_success_percentage", "app_label", "app_namespace", "app_kind", "workflow_name"), nil)
	descStart     = prometheus.NewDesc("litmuschaos_experiment_start_time", "Unix time the experiment started.", labelsA, nil)
	descEnd       = prometheus.NewDesc("litmuschaos_experiment_end_time", "Unix time the experiment ended.", labelsA, nil)
	descInjected  = prometheus.NewDesc("litmuschaos_experiment_chaos_injected_time", "Unix time chaos was last injected.", labelsA, nil)
	descDuration  = prometheus.NewDesc("litmuschaos_experiment_total_duration", "End minus start time, seconds.", labelsA, nil)
	aggregateName = []string{"passed_experiments", "failed_experiments", "awaited_experiments", "experiments_run_count", "experiments_installed_count"}
)

func (x *exporter) aggregateDesc(name string) *prometheus.Desc {
	if x.namespaced {
		return prometheus.NewDesc("litmuschaos_namespace_scoped_"+name, "Namespace aggregate of chaos experiments.", []string{"chaosresult_namespace"}, nil)
	}
	return prometheus.NewDesc("litmuschaos_cluster_scoped_"+name, "Cluster aggregate of chaos experiments.", nil, nil)
}

// Describe is unchecked: the label sets of the aggregates depend on the scope.
func (x *exporter) Describe(chan<- *prometheus.Desc) {}

// Collect computes every series from the caches.
func (x *exporter) Collect(ch chan<- prometheus.Metric) {
	engines := map[string]*litmus.ChaosEngine{}
	for _, obj := range x.engines.List() {
		var en litmus.ChaosEngine
		if litmus.FromUnstructured(obj.(*unstructured.Unstructured), &en) == nil {
			engines[en.Namespace+"/"+en.Name] = &en
		}
	}
	type agg struct{ passed, failed, awaited, installed float64 }
	aggs := map[string]*agg{}
	now := x.clock.Now()
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, obj := range x.results.List() {
		var r litmus.ChaosResult
		if litmus.FromUnstructured(obj.(*unstructured.Unstructured), &r) != nil {
			continue
		}
		ns := r.Namespace
		if aggs[ns] == nil {
			aggs[ns] = &agg{}
		}
		a := aggs[ns]
		a.installed++
		a.passed += float64(r.Status.History.PassedRuns)
		a.failed += float64(r.Status.History.FailedRuns)
		verdict := r.Status.ExperimentStatus.Verdict
		if verdict == litmus.VerdictAwaited {
			a.awaited++
		}
		en := engines[ns+"/"+r.Spec.EngineName]
		if en == nil {
			continue // upstream skips results whose engine is gone
		}
		fault := r.Spec.ExperimentName
		if len(en.Spec.Experiments) > 0 {
			fault = en.Spec.Experiments[0].Name
		}
		la := []string{ns, r.Name, en.Name, en.Labels["context"], fault}
		workflow := en.Labels["workflow_name"]
		psp, _ := strconv.ParseFloat(r.Status.ExperimentStatus.ProbeSuccessPercentage, 64)
		gauge := func(d *prometheus.Desc, v float64, extra ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append(la[:5:5], extra...)...)
		}
		gauge(descPassed, float64(r.Status.History.PassedRuns))
		gauge(descFailed, float64(r.Status.History.FailedRuns))
		gauge(descAwaited, b2f(verdict == litmus.VerdictAwaited), workflow)
		gauge(descPSP, psp)
		if verdict != "" {
			v := 0.0
			if verdict != litmus.VerdictAwaited {
				key := verdictKey{r.UID, verdict}
				first, ok := x.exported[key]
				if !ok {
					first = now
					x.exported[key] = now
				}
				if now.Sub(first) < x.verdictHold {
					v = 1
				}
			}
			gauge(descVerdict, v, string(verdict), fmt.Sprintf("%f", psp), en.Spec.AppInfo.AppLabel, en.Spec.AppInfo.AppNS, en.Spec.AppInfo.AppKind, workflow)
		}
		if t := x.times[en.UID]; t != nil {
			if !t.start.IsZero() {
				gauge(descStart, float64(t.start.Unix()))
			}
			if !t.inject.IsZero() {
				gauge(descInjected, float64(t.inject.Unix()))
			}
			if !t.end.IsZero() {
				gauge(descEnd, float64(t.end.Unix()))
				if !t.start.IsZero() {
					gauge(descDuration, max(0, t.end.Sub(t.start).Seconds()))
				}
			}
		}
	}
	if x.namespaced {
		for ns, a := range aggs {
			for i, v := range []float64{a.passed, a.failed, a.awaited, a.passed + a.failed + a.awaited, a.installed} {
				ch <- prometheus.MustNewConstMetric(x.aggregateDesc(aggregateName[i]), prometheus.GaugeValue, v, ns)
			}
		}
		return
	}
	var total agg
	for _, a := range aggs {
		total.passed += a.passed
		total.failed += a.failed
		total.awaited += a.awaited
		total.installed += a.installed
	}
	for i, v := range []float64{total.passed, total.failed, total.awaited, total.passed + total.failed + total.awaited, total.installed} {
		ch <- prometheus.MustNewConstMetric(x.aggregateDesc(aggregateName[i]), prometheus.GaugeValue, v)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
