package poddelete

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// Sequence is the order in which one iteration's victims are deleted.
type Sequence string

// Sequences.
const (
	Parallel Sequence = "parallel"
	Serial   Sequence = "serial"
)

// Interval is CHAOS_INTERVAL: a fixed pause or a range picked uniformly at random each time.
type Interval struct {
	Min, Max time.Duration
}

// Next returns the next interval.
func (i Interval) Next(rnd *rand.Rand) time.Duration {
	if i.Max <= i.Min {
		return i.Min
	}
	return i.Min + time.Duration(rnd.Int64N(int64(i.Max-i.Min)+1))
}

// Params are pod-delete's tunables, parsed from the experiment's environment.
type Params struct {
	Duration           time.Duration // TOTAL_CHAOS_DURATION: no deletion starts after it
	Interval           Interval      // CHAOS_INTERVAL: start-to-start pause between deletions (batches)
	Force              bool          // FORCE: delete with grace period 0
	Percentage         int           // PODS_AFFECTED_PERC (a range is resolved once per run)
	TargetPods         []string      // TARGET_PODS
	NodeLabel          string        // NODE_LABEL
	Sequence           Sequence      // SEQUENCE (random is resolved once per run)
	RampTime           time.Duration // RAMP_TIME: pause before and after the chaos
	HealthCheck        bool          // DEFAULT_HEALTH_CHECK: check the application before and after
	StatusCheckDelay   time.Duration // STATUS_CHECK_DELAY: poll period of health checks
	StatusCheckTimeout time.Duration // STATUS_CHECK_TIMEOUT: budget of one health check
	PDBAware           bool          // PDB_AWARE: evict through the Eviction API, honouring PodDisruptionBudgets
	DryRun             bool          // DRY_RUN: select and report victims, delete nothing
}

// Defaults of the variables (the experiment's code defaults; ChaosExperiment env usually overrides them).
const (
	defaultDuration = 30 * time.Second
	defaultInterval = 10 * time.Second
)

// ParseParams reads pod-delete's variables from env. An empty value means "use the default".
// Every invalid value is reported, with the variable's name, in one *litmus.Error
// (GENERIC_ERROR, phase PreChaos). rnd resolves ranges and SEQUENCE=random.
func ParseParams(env map[string]string, rnd *rand.Rand) (Params, error) {
	p := Params{
		Duration:           defaultDuration,
		Interval:           Interval{Min: defaultInterval, Max: defaultInterval},
		Sequence:           Parallel,
		HealthCheck:        true,
		StatusCheckDelay:   2 * time.Second,
		StatusCheckTimeout: 180 * time.Second,
	}
	var errs []error
	get := func(name string) (string, bool) {
		v := strings.TrimSpace(env[name])
		return v, v != ""
	}
	seconds := func(name string, dst *time.Duration, allowZero bool) {
		v, ok := get(name)
		if !ok {
			return
		}
		d, err := parseSeconds(v)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s=%q: %w", name, v, err))
		case d == 0 && !allowZero:
			errs = append(errs, fmt.Errorf("%s=%q: must be positive", name, v))
		default:
			*dst = d
		}
	}
	boolean := func(name string, dst *bool) {
		v, ok := get(name)
		if !ok {
			return
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: not a boolean (want true or false)", name, v))
			return
		}
		*dst = b
	}

	seconds("TOTAL_CHAOS_DURATION", &p.Duration, true)
	seconds("RAMP_TIME", &p.RampTime, true)
	seconds("STATUS_CHECK_DELAY", &p.StatusCheckDelay, false)
	seconds("STATUS_CHECK_TIMEOUT", &p.StatusCheckTimeout, false)
	boolean("FORCE", &p.Force)
	boolean("DEFAULT_HEALTH_CHECK", &p.HealthCheck)
	boolean("PDB_AWARE", &p.PDBAware)
	boolean("DRY_RUN", &p.DryRun)
	randomness := false
	boolean("RANDOMNESS", &randomness)

	if v, ok := get("CHAOS_INTERVAL"); ok {
		iv, err := parseInterval(v, randomness)
		if err != nil {
			errs = append(errs, fmt.Errorf("CHAOS_INTERVAL=%q: %w", v, err))
		} else {
			p.Interval = iv
		}
	}
	if v, ok := get("PODS_AFFECTED_PERC"); ok {
		lo, hi, err := parseIntRange(v)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("PODS_AFFECTED_PERC=%q: %w", v, err))
		case lo < 0 || hi > 100:
			errs = append(errs, fmt.Errorf("PODS_AFFECTED_PERC=%q: must be between 0 and 100", v))
		default:
			p.Percentage = lo + rnd.IntN(hi-lo+1)
		}
	}
	if v, ok := get("TARGET_PODS"); ok {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				p.TargetPods = append(p.TargetPods, name)
			}
		}
	}
	if v, ok := get("NODE_LABEL"); ok {
		if _, err := labels.Parse(v); err != nil {
			errs = append(errs, fmt.Errorf("NODE_LABEL=%q: %w", v, err))
		} else {
			p.NodeLabel = v
		}
	}
	if v, ok := get("SEQUENCE"); ok {
		switch Sequence(strings.ToLower(v)) {
		case Parallel:
			p.Sequence = Parallel
		case Serial:
			p.Sequence = Serial
		case "random":
			p.Sequence = []Sequence{Parallel, Serial}[rnd.IntN(2)]
		default:
			errs = append(errs, fmt.Errorf("SEQUENCE=%q: want serial, parallel or random", v))
		}
	}
	if p.StatusCheckTimeout < p.StatusCheckDelay {
		errs = append(errs, fmt.Errorf("STATUS_CHECK_TIMEOUT (%s) is shorter than STATUS_CHECK_DELAY (%s)", p.StatusCheckTimeout, p.StatusCheckDelay))
	}
	if err := errors.Join(errs...); err != nil {
		return p, &litmus.Error{
			Code:   litmus.ErrorCodeGeneric,
			Phase:  litmus.ExperimentPhasePreChaos,
			Reason: "invalid pod-delete parameters: " + strings.ReplaceAll(err.Error(), "\n", "; "),
			Err:    err,
		}
	}
	return p, nil
}

// parseSeconds accepts integer seconds ("30", the Litmus contract) or a Go duration ("1m30s", "500ms").
func parseSeconds(v string) (time.Duration, error) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, errors.New("must not be negative")
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, errors.New("not a number of seconds or a duration like 10s")
	}
	if d < 0 {
		return 0, errors.New("must not be negative")
	}
	return d, nil
}

// parseInterval accepts "N" (seconds or a duration) or "A-B" (integer seconds, random in [A, B]).
// With RANDOMNESS=true a single value N means a random pause in [0, N], as upstream.
func parseInterval(v string, randomness bool) (Interval, error) {
	if lo, hi, ok := strings.Cut(v, "-"); ok {
		a, errA := strconv.Atoi(strings.TrimSpace(lo))
		b, errB := strconv.Atoi(strings.TrimSpace(hi))
		if errA != nil || errB != nil {
			return Interval{}, errors.New("a range must be two whole numbers of seconds, like 5-10")
		}
		if a < 0 || b < 1 || b < a {
			return Interval{}, errors.New("a range needs 0 <= lower <= upper and upper >= 1")
		}
		return Interval{Min: time.Duration(a) * time.Second, Max: time.Duration(b) * time.Second}, nil
	}
	d, err := parseSeconds(v)
	if err != nil {
		return Interval{}, err
	}
	if randomness {
		return Interval{Min: 0, Max: d}, nil
	}
	if d == 0 {
		return Interval{}, errors.New("must be positive")
	}
	return Interval{Min: d, Max: d}, nil
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

// Reads reports whether pod-delete reads the environment variable name. The executor warns
// about the others (KILL_COUNT, LIB, TARGET_CONTAINER of older ChaosHub charts, ...).
func Reads(name string) bool {
	switch name {
	case "TOTAL_CHAOS_DURATION", "RAMP_TIME", "STATUS_CHECK_DELAY", "STATUS_CHECK_TIMEOUT", "FORCE", "DEFAULT_HEALTH_CHECK",
		"PDB_AWARE", "DRY_RUN", "RANDOMNESS", "CHAOS_INTERVAL", "PODS_AFFECTED_PERC", "TARGET_PODS", "NODE_LABEL", "SEQUENCE",
		"INSTANCE_ID":
		return true
	}
	return false
}
