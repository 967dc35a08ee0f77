package executor

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestIntervalNext(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	iv := Interval{Min: 2 * time.Second, Max: 4 * time.Second}
	seen := map[time.Duration]bool{}
	for range 1000 {
		d := iv.Next(rnd)
		if d < iv.Min || d > iv.Max {
			t.Fatalf("interval %s outside [%s, %s]", d, iv.Min, iv.Max)
		}
		seen[d] = true
	}
	if len(seen) < 100 {
		t.Errorf("only %d distinct intervals: not random", len(seen))
	}
}
