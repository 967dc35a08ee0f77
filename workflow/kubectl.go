package workflow

import (
	"strings"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	corev1 "k8s.io/api/core/v1"

	"github.com/chaos-agent/chaos-agent/internal/wfvars"
)

// resolveCommand returns a step container's command and args with their variables resolved.
func resolveCommand(c *corev1.Container, vars wfvars.Vars) ([]string, error) {
	if c == nil {
		return nil, nil
	}
	var out []string
	for _, s := range append(append([]string{}, c.Command...), c.Args...) {
		r, err := wfvars.Resolve(s, vars, "container command")
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// kubectlCall is what the native engine reads from a ChaosHub step's kubectl command line.
type kubectlCall struct {
	verb      string // apply, delete
	namespace string // -n, --namespace
	selector  string // -l, --selector
	all       bool   // --all
	names     []string
}

// parseKubectl finds the first kubectl call in a step's command line (sh -c "kubectl ... && sleep
// 30") and reads its namespace, selector and object names.
func parseKubectl(cmd []string) kubectlCall {
	var k kubectlCall
	line := strings.Join(cmd, " ")
	for _, sep := range []string{"&&", "||", ";", "|"} {
		line = strings.ReplaceAll(line, sep, "\n")
	}
	for _, seg := range strings.Split(line, "\n") {
		f := strings.Fields(strings.NewReplacer(`"`, " ", `'`, " ").Replace(seg))
		i := 0
		for i < len(f) && f[i] != "kubectl" {
			i++
		}
		if i == len(f) {
			continue
		}
		f = f[i+1:]
		resourceSeen := false
		for j := 0; j < len(f); j++ {
			a := f[j]
			val := func(long, short string) (string, bool) {
				switch {
				case a == long || a == short:
					if j+1 < len(f) {
						j++
						return f[j], true
					}
					return "", true
				case strings.HasPrefix(a, long+"="):
					return strings.TrimPrefix(a, long+"="), true
				case strings.HasPrefix(a, short+"=") && short != "":
					return strings.TrimPrefix(a, short+"="), true
				case short != "" && strings.HasPrefix(a, short) && len(a) > len(short) && !strings.HasPrefix(a, "--"):
					return strings.TrimPrefix(a, short), true
				}
				return "", false
			}
			if v, ok := val("--namespace", "-n"); ok {
				k.namespace = v
				continue
			}
			if v, ok := val("--selector", "-l"); ok {
				k.selector = v
				continue
			}
			if _, ok := val("--filename", "-f"); ok {
				continue
			}
			switch {
			case a == "--all":
				k.all = true
			case strings.HasPrefix(a, "-"):
			case k.verb == "":
				k.verb = a
			case !resourceSeen:
				resourceSeen = true
				if _, name, ok := strings.Cut(a, "/"); ok { // chaosengine/NAME
					k.names = append(k.names, name)
				}
			default:
				if _, name, ok := strings.Cut(a, "/"); ok {
					a = name
				}
				k.names = append(k.names, a)
			}
		}
		return k
	}
	return k
}

// Ignored lists the parts of a Workflow's spec that shape Argo's step pods, which the native
// engine does not create: each is reported, not silently dropped.
func Ignored(spec *wfv1.WorkflowSpec) []string {
	var out []string
	add := func(set bool, field string) {
		if set {
			out = append(out, "spec."+field+" is ignored by the native workflow engine: it runs the steps in-process, without step pods")
		}
	}
	add(spec.ServiceAccountName != "", "serviceAccountName")
	add(spec.SecurityContext != nil, "securityContext")
	add(len(spec.NodeSelector) > 0, "nodeSelector")
	add(len(spec.Tolerations) > 0, "tolerations")
	add(spec.Affinity != nil, "affinity")
	add(len(spec.ImagePullSecrets) > 0, "imagePullSecrets")
	add(spec.PodGC != nil, "podGC")
	add(spec.PodMetadata != nil, "podMetadata")
	add(spec.PodPriorityClassName != "", "podPriorityClassName")
	add(len(spec.Volumes) > 0, "volumes")
	add(spec.PodSpecPatch != "", "podSpecPatch")
	if spec.OnExit != "" {
		out = append(out, "spec.onExit ("+spec.OnExit+") is not run by the native workflow engine")
	}
	if spec.ActiveDeadlineSeconds != nil {
		out = append(out, "spec.activeDeadlineSeconds is ignored by the native workflow engine; use run --timeout")
	}
	if spec.TTLStrategy != nil {
		out = append(out, "spec.ttlStrategy is ignored by the native workflow engine: the Workflow object is kept")
	}
	for _, t := range spec.Templates {
		if t.RetryStrategy != nil {
			out = append(out, "spec.templates["+t.Name+"].retryStrategy is ignored by the native workflow engine: a step runs once")
		}
	}
	return out
}
