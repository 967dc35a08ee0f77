package executor

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"github.com/chaos-agent/chaos-agent/executor/target"
	"github.com/chaos-agent/chaos-agent/internal/litmus"
	"github.com/chaos-agent/chaos-agent/policy"
)

// PolicySource is the cluster owner's policy, read at run time (package policy implements it).
type PolicySource interface {
	Get(ctx context.Context) (policy.Policy, error)
}

// Guard says whether chaos may run at all now (package policy implements it): a kill switch, a
// halt-all order, or the loss of the control-plane link.
type Guard interface {
	// Halted reports whether no new chaos may start, and why.
	Halted() (reason string, halted bool)
	// Halts delivers a reason each time every running fault must stop.
	Halts() <-chan string
}

// haltError is the abort cause of runs stopped by the guard.
type haltError struct{ reason string }

func (h *haltError) Error() string { return "chaos halted: " + h.reason }

func (e *Executor) halted() (string, bool) {
	if e.o.Guard == nil {
		return "", false
	}
	return e.o.Guard.Halted()
}

// watchHalts stops every running fault each time the guard says so, until ctx ends.
func (e *Executor) watchHalts(ctx context.Context) {
	if e.o.Guard == nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case reason := <-e.o.Guard.Halts():
			e.mu.Lock()
			n := len(e.runs)
			for _, r := range e.runs {
				r.cancel(&haltError{reason: reason})
			}
			e.mu.Unlock()
			e.log.Warn("halt: stopped every running fault", zap.String("reason", reason), zap.Int("runs", n))
		}
	}
}

// eventReasonPolicyRefused is the Kubernetes Event reason of a run the policy refused.
const eventReasonPolicyRefused litmus.EventReason = "PolicyRefused"

// checkPolicy is the run-time policy check of one experiment, on its fully resolved inputs: the
// engine's namespace, every target entry (appinfo or spec.selectors, with their namespaces), the
// namespace TARGET_PODS are looked up in, the effective PODS_AFFECTED_PERC after layering and
// valueFrom resolution, and every probe. It returns a *litmus.Error naming the rule and value,
// before anything is touched.
func (e *Executor) checkPolicy(ctx context.Context, engine *litmus.ChaosEngine, entries []target.Entry, env map[string]string, probes []litmus.Probe) error {
	if e.o.Policy == nil {
		return nil
	}
	pol, err := e.o.Policy.Get(ctx)
	if err != nil {
		// Parse errors come with a policy that allows nothing; read errors too: fail closed.
		return refusalError(&policy.Refusal{Rule: "policy", Value: policy.ConfigMapName, Reason: "the policy cannot be read or is invalid: " + err.Error()})
	}
	if err := e.checkResolved(pol, engine, entries, env, probes); err != nil {
		return refusalError(err)
	}
	return nil
}

func (e *Executor) checkResolved(pol policy.Policy, engine *litmus.ChaosEngine, entries []target.Entry, env map[string]string, probes []litmus.Probe) error {
	if err := pol.CheckKillSwitch(); err != nil {
		return err
	}
	if reason, halted := e.halted(); halted {
		return &policy.Refusal{Rule: "halt", Value: "true", Reason: reason}
	}
	if err := pol.CheckNamespace("the engine's namespace", engine.Namespace); err != nil {
		return err
	}
	for _, en := range entries {
		ns := en.Namespace
		if ns == "" {
			ns = engine.Namespace
		}
		if err := pol.CheckNamespace("target "+en.String(), ns); err != nil {
			return err
		}
	}
	if v := env["TARGET_PODS"]; v != "" {
		if policy.Templated(v) {
			return &policy.Refusal{Rule: "templated", Value: v, Reason: "TARGET_PODS is still templated"}
		}
		// TARGET_PODS are looked up in the first entry's namespace, else the engine's: both checked above.
	}
	if err := pol.CheckPodsAffectedPerc(env["PODS_AFFECTED_PERC"]); err != nil {
		return err
	}
	for _, p := range probes {
		if err := pol.CheckProbe(p, engine.Namespace); err != nil {
			return err
		}
	}
	return nil
}

// refusalError turns a refusal into the experiment's error: verdict Error, failStep naming the
// rule and the value.
func refusalError(err error) *litmus.Error {
	var r *policy.Refusal
	if !errors.As(err, &r) {
		r = &policy.Refusal{Rule: "policy", Reason: err.Error()}
	}
	return &litmus.Error{Code: litmus.ErrorCodeGeneric, Phase: litmus.ExperimentPhasePreChaos, Reason: r.Error(), Err: err}
}
