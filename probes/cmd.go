package probes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"

	"github.com/chaos-agent/chaos-agent/internal/imageref"
	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// maxOutputBytes bounds the captured stdout and stderr of a command.
const maxOutputBytes = 1 << 20

// evalCmd evaluates a cmdProbe (§6.4), inline or in its source pod.
func (s *Session) evalCmd(ctx context.Context, ev *evaluation, data map[string]artifactData) (string, *litmus.Error) {
	p := ev.p
	in := p.spec.CmdProbeInputs
	command, err := render(p.cmdTmpl, in.Command, data)
	if err != nil {
		return "", p.templateError(err)
	}
	var output string
	desc, lerr := s.retry(ctx, p, func(ctx context.Context) (string, *litmus.Error) {
		var (
			stdout, stderr string
			code           int
			err            error
		)
		if p.isSource() {
			stdout, stderr, code, err = s.execInPod(ctx, p, command)
		} else {
			stdout, stderr, code, err = s.r.shell(ctx, command)
		}
		if err != nil {
			return "", p.errorf(litmus.ErrorCodeCmdProbeError, "unable to run command: %w%s", err, outputs(stdout, stderr))
		}
		if code != 0 {
			// Upstream compatibility: a non-zero exit is an execution error, not a failure.
			return "", p.errorf(litmus.ErrorCodeCmdProbeError, "unable to run command: exit status %d%s", code, outputs(stdout, stderr))
		}
		out := strings.TrimSpace(stdout)
		cerr := p.cmp.Compare(out)
		ev.logComparison(out, cerr)
		if cerr != nil {
			msg := cerr.Error()
			if e := strings.TrimSpace(stderr); e != "" {
				msg += "; stderr: " + clip(e)
			}
			return "", p.errorf(litmus.ErrorCodeCmdProbeFailure, "%s", msg)
		}
		output = out
		return fmt.Sprintf("The command output '%s' satisfied the criteria '%s'", clip(out), p.cmp), nil
	})
	if lerr == nil {
		s.mu.Lock()
		s.artifacts[p.name()] = output
		s.mu.Unlock()
	}
	return desc, lerr
}

// outputs formats the captured streams for an error reason.
func outputs(stdout, stderr string) string {
	var b strings.Builder
	if e := strings.TrimSpace(stderr); e != "" {
		b.WriteString("; stderr: " + clip(e))
	}
	if o := strings.TrimSpace(stdout); o != "" {
		b.WriteString("; stdout: " + clip(o))
	}
	return b.String()
}

// clip shortens s for messages.
func clip(s string) string {
	const limit = 1024
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "…(truncated)"
}

// limitedBuffer keeps the first maxOutputBytes written and drops the rest.
type limitedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := maxOutputBytes - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// sourcePodBaseName is the name of a run's (first) source pod: <experiment>-probe-<runID>.
func sourcePodBaseName(run litmus.ProbeRun) string {
	return run.Experiment + "-probe-" + run.RunID
}

// sourceContainerName is the container of the source pod.
func sourceContainerName(run litmus.ProbeRun) string { return run.Experiment + "-probe" }

// sourcePod builds the pod in which a cmdProbe with a source runs its command (§6.4). The
// pod is named <experiment>-probe-<runID> (a run with several source probes suffixes the
// later ones with -2, -3, … at validation) in the chaos namespace, labelled name=<pod> and
// chaosUID=<engine UID> on top of source.labels.
func sourcePod(run litmus.ProbeRun, p litmus.Probe) *corev1.Pod {
	src := p.CmdProbeInputs.Source
	name := sourcePodBaseName(run)
	labels := maps.Clone(src.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels["name"] = name
	labels["chaosUID"] = string(run.EngineUID)

	command := slices.Clone(src.Command)
	if len(command) == 0 {
		command = []string{"/bin/sh"}
	}
	args := slices.Clone(src.Args)
	if len(args) == 0 {
		args = []string{"-c", "sleep 10000"}
	}
	c := corev1.Container{
		Name:            sourceContainerName(run),
		Image:           src.Image,
		Command:         command,
		Args:            args,
		ImagePullPolicy: src.ImagePullPolicy,
		Env:             slices.Clone(src.Env),
		VolumeMounts:    slices.Clone(src.VolumeMount),
	}
	if src.Privileged {
		privileged := true
		c.SecurityContext = &corev1.SecurityContext{Privileged: &privileged}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   run.Namespace,
			Labels:      labels,
			Annotations: maps.Clone(src.Annotations),
		},
		Spec: corev1.PodSpec{
			RestartPolicy:      corev1.RestartPolicyNever,
			ServiceAccountName: run.ServiceAccount,
			HostNetwork:        src.HostNetwork,
			NodeSelector:       maps.Clone(src.NodeSelector),
			Tolerations:        slices.Clone(src.Tolerations),
			Volumes:            slices.Clone(src.Volumes),
			ImagePullSecrets:   slices.Clone(src.ImagePullSecrets),
			Containers:         []corev1.Container{c},
		},
	}
}

// startSourcePod creates the source pod of p and waits until it is Running and Ready
// (polling every StatusCheckDelay, at most StatusCheckTimeout).
func (s *Session) startSourcePod(ctx context.Context, p *probe) *litmus.Error {
	pod := sourcePod(s.run, p.spec)
	for i := range pod.Spec.Containers {
		pod.Spec.Containers[i].Image = imageref.Mirror(s.r.registry, pod.Spec.Containers[i].Image)
	}
	for _, name := range s.r.pullSecrets {
		if !slices.Contains(pod.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: name}) {
			pod.Spec.ImagePullSecrets = append(pod.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: name})
		}
	}
	pod.Name = p.sourcePodName
	pod.Labels["name"] = p.sourcePodName
	pods := s.run.Kube.CoreV1().Pods(s.run.Namespace)
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		if ctx.Err() != nil {
			return interrupted(ctx, "", p)
		}
		return p.errorf(litmus.ErrorCodeCmdProbeError, "create source pod %s/%s: %w", s.run.Namespace, pod.Name, err)
	}
	s.mu.Lock()
	s.pods[pod.Name] = true
	s.mu.Unlock()
	s.log.Info("source pod created", zap.String("probe", p.name()), zap.String("pod", pod.Name))

	deadline := s.r.clock.Now().Add(s.run.StatusCheckTimeout)
	var state string // set before every read: each pass either returns or sets it
	for {
		cur, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		switch {
		case ctx.Err() != nil:
			return interrupted(ctx, "", p)
		case err != nil:
			state = "get: " + err.Error()
		default:
			ready, terminal, st := podState(cur)
			if ready {
				return nil
			}
			state = st
			if terminal {
				return p.errorf(litmus.ErrorCodeCmdProbeError, "source pod %s/%s of probe %q ended before the command ran (%s)", s.run.Namespace, pod.Name, p.name(), state)
			}
		}
		if !s.r.clock.Now().Before(deadline) {
			return p.errorf(litmus.ErrorCodeCmdProbeError, "source pod %s/%s of probe %q did not become Running and Ready within %s (%s)",
				s.run.Namespace, pod.Name, p.name(), s.run.StatusCheckTimeout, state)
		}
		if err := s.wait(ctx, nil, s.run.StatusCheckDelay); err != nil {
			return interrupted(ctx, "", p)
		}
	}
}

// podState reports whether pod is Running and Ready, whether it reached a terminal phase,
// and a short description of its state for messages.
func podState(pod *corev1.Pod) (ready, terminal bool, state string) {
	parts := []string{"phase " + string(pod.Status.Phase)}
	if pod.Status.Phase == "" {
		parts[0] = "phase Pending"
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			ready = c.Status == corev1.ConditionTrue
		}
		if c.Status != corev1.ConditionTrue && c.Reason != "" {
			parts = append(parts, fmt.Sprintf("%s=%s: %s %s", c.Type, c.Status, c.Reason, c.Message))
		}
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil {
			parts = append(parts, fmt.Sprintf("container %s waiting: %s %s", cs.Name, w.Reason, w.Message))
		}
	}
	terminal = pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded
	ready = ready && pod.Status.Phase == corev1.PodRunning
	return ready, terminal, strings.TrimSpace(strings.Join(parts, ", "))
}

// deleteSourcePod deletes the source pod of p (best effort); with wait it also waits until
// the pod is gone, so that its name can be reused (Edge probes create it twice).
func (s *Session) deleteSourcePod(ctx context.Context, p *probe, wait bool) {
	s.deletePod(ctx, p.sourcePodName, wait)
}

func (s *Session) deletePod(ctx context.Context, name string, wait bool) {
	// Clean up even when ctx was cancelled (abort), but bounded.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.run.StatusCheckTimeout)
	defer cancel()
	pods := s.run.Kube.CoreV1().Pods(s.run.Namespace)
	zero := int64(0)
	err := pods.Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	if err != nil && !apierrors.IsNotFound(err) {
		s.log.Warn("delete source pod", zap.String("pod", name), zap.Error(err))
		return
	}
	s.mu.Lock()
	delete(s.pods, name)
	s.mu.Unlock()
	if !wait || err != nil {
		return
	}
	for {
		_, err := pods.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return
		}
		if ctx.Err() != nil {
			s.log.Warn("source pod still present after deletion", zap.String("pod", name))
			return
		}
		if s.wait(ctx, nil, min(s.run.StatusCheckDelay, time.Second)) != nil {
			return
		}
	}
}

// execInPod runs /bin/sh -c <command> in the source pod of p through the pods/exec
// subresource (WebSocket, falling back to SPDY like kubectl).
func (s *Session) execInPod(ctx context.Context, p *probe, command string) (stdout, stderr string, exitCode int, err error) {
	req := s.run.Kube.CoreV1().RESTClient().Post().
		Resource("pods").Namespace(s.run.Namespace).Name(p.sourcePodName).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: sourceContainerName(s.run),
			Command:   []string{"/bin/sh", "-c", command},
			Stdout:    true,
			Stderr:    true,
		}, scheme.ParameterCodec)
	exec, err := newExecutor(s.run, req.URL())
	if err != nil {
		return "", "", -1, err
	}
	var out, errOut limitedBuffer
	err = exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out, Stderr: &errOut})
	var exitErr utilexec.ExitError
	if errors.As(err, &exitErr) && exitErr.Exited() {
		return out.String(), errOut.String(), exitErr.ExitStatus(), nil
	}
	if err != nil {
		return out.String(), errOut.String(), -1, fmt.Errorf("exec in source pod %s/%s: %w", s.run.Namespace, p.sourcePodName, err)
	}
	return out.String(), errOut.String(), 0, nil
}

func newExecutor(run litmus.ProbeRun, u *url.URL) (remotecommand.Executor, error) {
	spdy, err := remotecommand.NewSPDYExecutor(run.RESTConfig, http.MethodPost, u)
	if err != nil {
		return nil, fmt.Errorf("SPDY executor: %w", err)
	}
	ws, err := remotecommand.NewWebSocketExecutor(run.RESTConfig, http.MethodGet, u.String())
	if err != nil {
		return nil, fmt.Errorf("WebSocket executor: %w", err)
	}
	return remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
}
