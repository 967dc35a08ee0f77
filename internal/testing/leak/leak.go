// Package leak checks test binaries for leaked goroutines with go.uber.org/goleak.
//
// Every package whose code starts goroutines calls VerifyTestMain from its TestMain. Without a
// test cluster nothing is ignored. With one (CHAOS_AGENT_TEST_KUBECONFIG set), the integration
// tests' client-go clients keep idle HTTP/2 connections to the API server in client-go's
// process-wide transport cache; their read and write loops, and klog's flush daemon, are the
// only goroutines ignored: those whose stack holds one of these functions (a connection's loop
// is blocked in the network poller, so its top function is the poller's).
package leak

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// envKubeconfig is the test cluster's kubeconfig variable (internal/testing/cluster).
const envKubeconfig = "CHAOS_AGENT_TEST_KUBECONFIG"

// clusterGoroutines are client-go's and klog's background goroutines that outlive the tests by
// design when they talked to a cluster: connections kept by the shared transport cache.
var clusterGoroutines = []string{
	"net/http.(*http2ClientConn).readLoop",
	"net/http.(*persistConn).readLoop",
	"net/http.(*persistConn).writeLoop",
	"golang.org/x/net/http2.(*ClientConn).readLoop",
	"k8s.io/klog/v2.(*flushDaemon).run.func1",
}

// Options returns the goleak options for this process: none without a cluster.
func Options() []goleak.Option {
	if os.Getenv(envKubeconfig) == "" {
		return nil
	}
	opts := make([]goleak.Option, 0, len(clusterGoroutines))
	for _, fn := range clusterGoroutines {
		opts = append(opts, goleak.IgnoreAnyFunction(fn))
	}
	return opts
}

// VerifyTestMain runs the tests, then fails the binary if goroutines are left behind.
func VerifyTestMain(m *testing.M) {
	goleak.VerifyTestMain(m, Options()...)
}
