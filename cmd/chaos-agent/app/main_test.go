package app

import (
	"os"
	"testing"

	"go.uber.org/zap"

	"github.com/chaos-agent/chaos-agent/internal/logging"
)

// klogRouter is set up before any test starts a goroutine: klog's logger is process-wide and may
// be set only then (main does the same). Tests that check klog's routing pass it in their Env.
var klogRouter = &logging.KlogRouter{}

func TestMain(m *testing.M) {
	klogRouter.Route(zap.NewNop())
	os.Exit(m.Run())
}
