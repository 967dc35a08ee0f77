package agent

import (
	"testing"

	"github.com/chaos-agent/chaos-agent/internal/testing/leak"
)

// TestMain fails the package's tests if they leave goroutines behind.
func TestMain(m *testing.M) { leak.VerifyTestMain(m) }
