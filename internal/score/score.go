// Package score computes the resilience score of an experiment run: the weighted mean of its
// faults' probe success percentages.
package score

import (
	"math"
	"strconv"
)

// DefaultWeight is a fault's weight when its step template has no weight label.
const DefaultWeight = 10

// Fault is one fault of a run.
type Fault struct {
	Name   string
	Weight int    // ≤ 0 means DefaultWeight
	PSP    string // probeSuccessPercentage: "0".."100"; anything else (Awaited, Error runs' missing value) counts as 0
}

// Resilience returns Σ weight·PSP / Σ weight, truncated to two decimals and clamped to 0–100; 0
// when there is no fault. Faults that never ran count with PSP 0 (they are in the denominator).
func Resilience(faults []Fault) float64 {
	var sum, weights float64
	for _, f := range faults {
		w := float64(f.Weight)
		if f.Weight <= 0 {
			w = DefaultWeight
		}
		psp, err := strconv.Atoi(f.PSP)
		if err != nil {
			psp = 0
		}
		sum += w * float64(min(max(psp, 0), 100))
		weights += w
	}
	if weights == 0 {
		return 0
	}
	return min(max(math.Floor(sum/weights*100)/100, 0), 100)
}

// Weight parses a step template's weight label (default 10).
func Weight(label string) int {
	n, err := strconv.Atoi(label)
	if err != nil || n <= 0 {
		return DefaultWeight
	}
	return n
}
