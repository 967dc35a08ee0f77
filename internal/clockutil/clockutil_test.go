package clockutil

import (
	"context"
	"errors"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

func TestSleep(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(0, 0))
	if err := Sleep(t.Context(), clk, 0); err != nil {
		t.Fatalf("zero wait: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- Sleep(t.Context(), clk, time.Minute) }()
	for !clk.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
	clk.Step(time.Minute)
	if err := <-done; err != nil {
		t.Fatalf("after the wait: %v", err)
	}
	cause := errors.New("stopped")
	ctx, cancel := context.WithCancelCause(t.Context())
	go func() { done <- Sleep(ctx, clk, time.Hour) }()
	for !clk.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
	cancel(cause)
	if err := <-done; !errors.Is(err, cause) {
		t.Fatalf("cancelled wait returned %v, want the cause", err)
	}
}
