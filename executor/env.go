package executor

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaos-agent/chaos-agent/internal/kube"
	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// experimentEnv assembles an experiment's environment with upstream's precedence (lowest to
// highest): values derived from the engine, the ChaosExperiment's env, the engine experiment's
// env, then the status-check settings. Empty engine-derived values are skipped. Variables with
// valueFrom are resolved from ConfigMaps and Secrets in the engine's namespace with the chaos
// service account's permissions.
func experimentEnv(ctx context.Context, client kube.Interface, e *litmus.ChaosEngine, x *litmus.ChaosExperiment, ee *litmus.EngineExperiment) (map[string]string, error) {
	env := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			env[k] = v
		}
	}
	set("CHAOSENGINE", e.Name)
	set("CHAOS_NAMESPACE", e.Namespace)
	set("AUXILIARY_APPINFO", e.Spec.AuxiliaryAppInfo)
	set("CHAOS_UID", string(e.UID))
	set("EXPERIMENT_NAME", ee.Name)
	set("LIB_IMAGE_PULL_POLICY", string(x.Spec.Definition.ImagePullPolicy))
	if e.Spec.TerminationGracePeriodSeconds != 0 {
		set("TERMINATION_GRACE_PERIOD_SECONDS", strconv.FormatInt(e.Spec.TerminationGracePeriodSeconds, 10))
	}
	// Upstream quirk kept on purpose (users' manifests depend on it): the engine's
	// defaultHealthCheck is the lowest layer, so a ChaosExperiment env DEFAULT_HEALTH_CHECK wins.
	set(litmus.EnvDefaultHealthCheck, strconv.FormatBool(e.Spec.DefaultHealthCheck))
	set(litmus.EnvChaosServiceAccount, e.Spec.ChaosServiceAccount)

	for _, layer := range [][]corev1.EnvVar{x.Spec.Definition.Env, ee.Spec.Components.Env} {
		for _, v := range layer {
			val, err := envValue(ctx, client, e.Namespace, v)
			if err != nil {
				return nil, err
			}
			env[v.Name] = val // later layers overwrite, empty values included
		}
	}
	delay, timeout := ee.Spec.Components.StatusCheckTimeouts.Delay, ee.Spec.Components.StatusCheckTimeouts.Timeout
	if delay == 0 {
		delay = int(litmus.DefaultStatusCheckDelay / time.Second)
	}
	if timeout == 0 {
		timeout = int(litmus.DefaultStatusCheckTimeout / time.Second)
	}
	env[litmus.EnvStatusCheckDelay] = strconv.Itoa(delay)
	env[litmus.EnvStatusCheckTimeout] = strconv.Itoa(timeout)
	env["JOB_CLEANUP_POLICY"] = string(e.Spec.JobCleanUpPolicy)
	return env, nil
}

func envValue(ctx context.Context, client kube.Interface, ns string, v corev1.EnvVar) (string, error) {
	if v.ValueFrom == nil {
		return v.Value, nil
	}
	switch {
	case v.ValueFrom.ConfigMapKeyRef != nil:
		ref := v.ValueFrom.ConfigMapKeyRef
		cm, err := client.CoreV1().ConfigMaps(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			if ref.Optional != nil && *ref.Optional {
				return "", nil
			}
			return "", fmt.Errorf("env %s: configMap %s: %w", v.Name, ref.Name, err)
		}
		val, ok := cm.Data[ref.Key]
		if !ok && (ref.Optional == nil || !*ref.Optional) {
			return "", fmt.Errorf("env %s: configMap %s has no key %s", v.Name, ref.Name, ref.Key)
		}
		return val, nil
	case v.ValueFrom.SecretKeyRef != nil:
		ref := v.ValueFrom.SecretKeyRef
		s, err := client.CoreV1().Secrets(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			if ref.Optional != nil && *ref.Optional {
				return "", nil
			}
			return "", fmt.Errorf("env %s: secret %s: %w", v.Name, ref.Name, err)
		}
		val, ok := s.Data[ref.Key]
		if !ok && (ref.Optional == nil || !*ref.Optional) {
			return "", fmt.Errorf("env %s: secret %s has no key %s", v.Name, ref.Name, ref.Key)
		}
		return string(val), nil
	default:
		return "", fmt.Errorf("env %s: only value, configMapKeyRef and secretKeyRef are supported", v.Name)
	}
}

// faultName is the fault an experiment runs: the "-name X" argument of the upstream go-runner
// command line (e.g. args ["-c", "./experiments -name pod-delete"]) or, failing that, the
// experiment's name.
func faultName(x *litmus.ChaosExperiment) string {
	words := strings.Fields(strings.Join(append(append([]string{}, x.Spec.Definition.Command...), x.Spec.Definition.Args...), " "))
	for i, w := range words {
		if (w == "-name" || w == "--name") && i+1 < len(words) {
			return strings.Trim(words[i+1], `"'`)
		}
		if v, ok := strings.CutPrefix(w, "-name="); ok {
			return strings.Trim(v, `"'`)
		}
	}
	return x.Name
}
