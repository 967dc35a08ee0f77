package poddelete

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/chaos-agent/chaos-agent/executor"
	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// Sequence is the order in which one iteration's victims are deleted.
type Sequence string

// Sequences.
const (
	Parallel Sequence = "parallel"
	Serial   Sequence = "serial"
)

// Params are pod-delete's tunables: the generic ones, parsed by the executor, and its own.
type Params struct {
	executor.Params
	Force      bool     // FORCE: delete with grace period 0
	Percentage int      // PODS_AFFECTED_PERC (a range is resolved once per run)
	TargetPods []string // TARGET_PODS
	NodeLabel  string   // NODE_LABEL
	Sequence   Sequence // SEQUENCE (random is resolved once per run)
	PDBAware   bool     // PDB_AWARE: evict through the Eviction API, honouring PodDisruptionBudgets
}

// parseParams reads pod-delete's own variables from env; invalid values are recorded there.
// rnd resolves ranges and SEQUENCE=random.
func parseParams(generic executor.Params, env *litmus.Env, rnd *rand.Rand) Params {
	p := Params{Params: generic, Sequence: Parallel}
	env.Bool("FORCE", &p.Force)
	env.Bool("PDB_AWARE", &p.PDBAware)
	if v, ok := env.Get("PODS_AFFECTED_PERC"); ok {
		lo, hi, err := parseIntRange(v)
		switch {
		case err != nil:
			env.Invalid("PODS_AFFECTED_PERC", v, err)
		case lo < 0 || hi > 100:
			env.Invalid("PODS_AFFECTED_PERC", v, errors.New("must be between 0 and 100"))
		default:
			p.Percentage = lo + rnd.IntN(hi-lo+1)
		}
	}
	if v, ok := env.Get("TARGET_PODS"); ok {
		for name := range strings.SplitSeq(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				p.TargetPods = append(p.TargetPods, name)
			}
		}
	}
	if v, ok := env.Get("NODE_LABEL"); ok {
		if _, err := labels.Parse(v); err != nil {
			env.Invalid("NODE_LABEL", v, err)
		} else {
			p.NodeLabel = v
		}
	}
	if v, ok := env.Get("SEQUENCE"); ok {
		switch Sequence(strings.ToLower(v)) {
		case Parallel:
			p.Sequence = Parallel
		case Serial:
			p.Sequence = Serial
		case "random":
			p.Sequence = []Sequence{Parallel, Serial}[rnd.IntN(2)]
		default:
			env.Invalid("SEQUENCE", v, errors.New("want serial, parallel or random"))
		}
	}
	return p
}

func parseIntRange(v string) (lo, hi int, err error) {
	a, b, isRange := strings.Cut(v, "-")
	if !isRange {
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, 0, errors.New("not a whole number")
		}
		return n, n, nil
	}
	lo, errA := strconv.Atoi(strings.TrimSpace(a))
	hi, errB := strconv.Atoi(strings.TrimSpace(b))
	if errA != nil || errB != nil || lo > hi {
		return 0, 0, errors.New("a range must be two whole numbers, lower first, like 25-50")
	}
	return lo, hi, nil
}
