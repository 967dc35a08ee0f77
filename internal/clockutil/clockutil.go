// Package clockutil holds small helpers over k8s.io/utils/clock, so that waits follow a fake
// clock in tests.
package clockutil

import (
	"context"
	"time"

	"k8s.io/utils/clock"
)

// Sleep waits d on clk, or until ctx ends (returning its cause). A d ≤ 0 returns at once.
func Sleep(ctx context.Context, clk clock.Clock, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C():
		return nil
	}
}
