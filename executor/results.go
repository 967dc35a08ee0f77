package executor

import (
	"context"
	"fmt"
	"maps"
	"time"

	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

var (
	getOpts    = metav1.GetOptions{}
	updateOpts = metav1.UpdateOptions{FieldManager: "chaos-agent"}
	createOpts = metav1.CreateOptions{FieldManager: "chaos-agent"}
)

// results writes ChaosResults: created or reset when a run starts (SOT), completed when it ends
// (EOT). Writes are whole-object updates with conflict retries, since the CRD has no status
// subresource (and upstream tools write the same way).
type results struct {
	dyn dynamic.Interface
	log *zap.Logger
}

// mutateResult creates the result from fresh (when missing) or applies mutate to the stored one.
func (r *results) mutateResult(ctx context.Context, namespace, name string, fresh func() *litmus.ChaosResult, mutate func(*litmus.ChaosResult)) (*litmus.ChaosResult, error) {
	api := r.dyn.Resource(litmus.ChaosResultGVR()).Namespace(namespace)
	var out *litmus.ChaosResult
	err := wait.ExponentialBackoffWithContext(ctx, wait.Backoff{Duration: 50 * time.Millisecond, Factor: 2, Steps: 8, Cap: 2 * time.Second}, func(ctx context.Context) (bool, error) {
		u, err := api.Get(ctx, name, getOpts)
		if apierrors.IsNotFound(err) {
			res := fresh()
			mutate(res)
			nu, err := litmus.ToUnstructured(res)
			if err != nil {
				return false, err
			}
			created, err := api.Create(ctx, nu, createOpts)
			if apierrors.IsAlreadyExists(err) {
				return false, nil // raced with another writer: retry as an update
			}
			if err != nil {
				return false, err
			}
			res.UID, res.ResourceVersion = created.GetUID(), created.GetResourceVersion()
			out = res
			return true, nil
		}
		if err != nil {
			return false, err
		}
		var res litmus.ChaosResult
		if err := litmus.FromUnstructured(u, &res); err != nil {
			return false, err
		}
		mutate(&res)
		done, err := writeBack(ctx, api, &res)
		if done {
			out = &res
		}
		return done, err
	})
	if err != nil {
		return nil, fmt.Errorf("write ChaosResult %s/%s: %w", namespace, name, err)
	}
	return out, nil
}

// resultRun identifies the run a result belongs to.
type resultRun struct {
	namespace, name string
	labels          map[string]string
	spec            litmus.ChaosResultSpec
}

// start is the SOT write: phase Running, verdict Awaited, probes Awaited; per-run fields reset,
// cumulative history kept.
func (r *results) start(ctx context.Context, run resultRun, probes []litmus.ProbeStatus) (*litmus.ChaosResult, error) {
	return r.mutateResult(ctx, run.namespace, run.name, func() *litmus.ChaosResult {
		return &litmus.ChaosResult{ObjectMeta: metav1.ObjectMeta{Name: run.name, Namespace: run.namespace}}
	}, func(res *litmus.ChaosResult) {
		if res.Labels == nil {
			res.Labels = map[string]string{}
		}
		maps.Copy(res.Labels, run.labels)
		res.Spec = run.spec
		res.Status.ExperimentStatus = litmus.ResultExperimentStatus{
			Phase:                  litmus.ResultPhaseRunning,
			Verdict:                litmus.VerdictAwaited,
			ProbeSuccessPercentage: litmus.ProbeSuccessPercentageAwaited,
		}
		res.Status.ProbeStatuses = probes
		res.Status.History.Targets = nil
		res.Status.Recoveries = nil
		res.Status.SkippedVictims = nil
		res.Status.Omitted = nil
	})
}

// finish is the EOT write.
func (r *results) finish(ctx context.Context, run resultRun, v verdict, targets []litmus.TargetDetail, recoveries []litmus.PodRecovery, skipped []litmus.SkippedVictim) (*litmus.ChaosResult, error) {
	return r.mutateResult(ctx, run.namespace, run.name, func() *litmus.ChaosResult {
		return &litmus.ChaosResult{ObjectMeta: metav1.ObjectMeta{Name: run.name, Namespace: run.namespace, Labels: run.labels}, Spec: run.spec}
	}, func(res *litmus.ChaosResult) {
		res.Status.ExperimentStatus = litmus.ResultExperimentStatus{
			Phase:                  v.phase,
			Verdict:                v.verdict,
			ProbeSuccessPercentage: v.psp,
			ErrorOutput:            v.errOut,
		}
		res.Status.ProbeStatuses = v.probes
		count(&res.Status.History, v.verdict)
		res.Status.History.Targets = targets
		res.Status.Recoveries = recoveries
		res.Status.SkippedVictims = skipped
		res.Status.Omitted = nil
		res.Status.Bound(litmus.MaxResultListEntries) // thousands of victims must not make the object unstorable
	})
}

// writeBack updates the whole object (the Litmus CRDs have no status subresource) and records
// its new resourceVersion. A conflict is not an error but done=false: read again and retry.
func writeBack(ctx context.Context, api dynamic.ResourceInterface, obj metav1.Object) (done bool, err error) {
	nu, err := litmus.ToUnstructured(obj)
	if err != nil {
		return false, err
	}
	updated, err := api.Update(ctx, nu, updateOpts)
	if apierrors.IsConflict(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	obj.SetResourceVersion(updated.GetResourceVersion())
	return true, nil
}
