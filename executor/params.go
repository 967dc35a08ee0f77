package executor

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// Params are the generic Litmus variables, the same for every fault; the executor parses them
// before the fault reads its own.
type Params struct {
	Duration           time.Duration // TOTAL_CHAOS_DURATION: no injection starts after it
	Interval           Interval      // CHAOS_INTERVAL (with RANDOMNESS): start-to-start pause between injections
	RampTime           time.Duration // RAMP_TIME: pause before and after the chaos
	HealthCheck        bool          // DEFAULT_HEALTH_CHECK: check the application before and after
	StatusCheckDelay   time.Duration // STATUS_CHECK_DELAY: poll period of health checks
	StatusCheckTimeout time.Duration // STATUS_CHECK_TIMEOUT: budget of one health check
	DryRun             bool          // DRY_RUN: select and report victims, inject nothing

	read func(string) bool // set by NewFault: the variables the generic parser and the fault looked up
}

// Reads reports whether the generic parser or the fault looked variable name up: the others are
// not honoured, and the executor names them in a warning rather than ignore them silently.
func (p Params) Reads(name string) bool { return p.read != nil && p.read(name) }

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

// ParseParams reads the generic variables from env, with the fault's defaults d; invalid
// values are recorded in env.
func ParseParams(env *litmus.Env, d Defaults) Params {
	if d.Duration == 0 {
		d.Duration = litmus.DefaultChaosDuration
	}
	if d.Interval == 0 {
		d.Interval = litmus.DefaultChaosInterval
	}
	p := Params{
		Duration:           d.Duration,
		Interval:           Interval{Min: d.Interval, Max: d.Interval},
		HealthCheck:        true,
		StatusCheckDelay:   litmus.DefaultStatusCheckDelay,
		StatusCheckTimeout: litmus.DefaultStatusCheckTimeout,
	}
	env.Seconds(litmus.EnvTotalChaosDuration, &p.Duration, true)
	env.Seconds(litmus.EnvRampTime, &p.RampTime, true)
	env.Seconds(litmus.EnvStatusCheckDelay, &p.StatusCheckDelay, false)
	env.Seconds(litmus.EnvStatusCheckTimeout, &p.StatusCheckTimeout, false)
	env.Bool(litmus.EnvDefaultHealthCheck, &p.HealthCheck)
	env.Bool(litmus.EnvDryRun, &p.DryRun)
	randomness := false
	env.Bool(litmus.EnvRandomness, &randomness)
	if v, ok := env.Get(litmus.EnvChaosInterval); ok {
		iv, err := parseInterval(v, randomness)
		if err != nil {
			env.Invalid(litmus.EnvChaosInterval, v, err)
		} else {
			p.Interval = iv
		}
	}
	if p.StatusCheckTimeout < p.StatusCheckDelay {
		env.Errorf("%s (%s) is shorter than %s (%s)", litmus.EnvStatusCheckTimeout, p.StatusCheckTimeout, litmus.EnvStatusCheckDelay, p.StatusCheckDelay)
	}
	return p
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
		if b > litmus.MaxSeconds {
			return Interval{}, fmt.Errorf("above the limit of %d seconds (a year)", litmus.MaxSeconds)
		}
		return Interval{Min: time.Duration(a) * time.Second, Max: time.Duration(b) * time.Second}, nil
	}
	d, err := litmus.ParseSeconds(v)
	if err != nil {
		return Interval{}, err
	}
	if randomness {
		if d == 0 {
			// A random pause in [0, 0] is no pause at all: injections back to back, a hot loop.
			return Interval{}, errors.New("must be positive with RANDOMNESS=true (a random pause in [0, CHAOS_INTERVAL])")
		}
		return Interval{Min: 0, Max: d}, nil
	}
	if d == 0 {
		return Interval{}, errors.New("must be positive")
	}
	return Interval{Min: d, Max: d}, nil
}
