package workflow

import (
	"os"
	"testing"

	"github.com/chaos-agent/chaos-agent/internal/testing/leak"
)

// TestMain fails the package's tests if they leave goroutines behind.
//
// The fast tests run Argo's informers on Argo's generated fake clientset, which does not
// implement the watch-list semantics client-go uses by default (the real API server does):
// the informers list and watch the classic way here.
func TestMain(m *testing.M) {
	if err := os.Setenv("KUBE_FEATURE_WatchListClient", "false"); err != nil {
		panic(err)
	}
	leak.VerifyTestMain(m)
}
