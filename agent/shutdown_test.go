package agent

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"
)

// TestBoundedShutdown: --shutdown-timeout bounds the wait after the stop signal, and only
// that wait.
func TestBoundedShutdown(t *testing.T) {
	errPart := errors.New("a part failed")
	tests := []struct {
		name      string
		stopAfter time.Duration // the stop signal (0: never)
		partsTake time.Duration // how long the parts run in all
		partsErr  error
		wantErr   string // "" : the parts' own result
		wantTook  time.Duration
	}{
		{name: "parts end on their own", partsTake: time.Hour, partsErr: errPart, wantTook: time.Hour},
		{name: "long run, quick stop", stopAfter: 2 * time.Hour, partsTake: 2*time.Hour + 5*time.Second, wantTook: 2*time.Hour + 5*time.Second},
		{name: "stop overruns the timeout", stopAfter: time.Minute, partsTake: time.Hour, wantErr: "--shutdown-timeout 20s", wantTook: time.Minute + 20*time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				if tc.stopAfter > 0 {
					time.AfterFunc(tc.stopAfter, cancel)
				}
				release := make(chan struct{})
				defer close(release) // the abandoned parts end with the test
				start := time.Now()
				err := boundedShutdown(ctx, 20*time.Second, zap.NewNop(), func() error {
					select {
					case <-time.After(tc.partsTake):
					case <-release:
					}
					return tc.partsErr
				})
				if took := time.Since(start); took != tc.wantTook {
					t.Errorf("returned after %s, want %s", took, tc.wantTook)
				}
				switch {
				case tc.wantErr != "":
					if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
						t.Errorf("error %v, want one naming %q", err, tc.wantErr)
					}
				case !errors.Is(err, tc.partsErr) || (tc.partsErr == nil && err != nil):
					t.Errorf("error %v, want %v", err, tc.partsErr)
				}
			})
		})
	}
}
