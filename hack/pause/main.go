// pause is the local cluster's pod sandbox image (registry.k8s.io/pause's role): it holds the
// pod's namespaces, reaps orphaned children as PID 1 and exits 0 on SIGINT or SIGTERM.
// hack/cluster.sh builds it statically (CGO_ENABLED=0) into a one-file image.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
