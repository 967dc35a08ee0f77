// Package kube builds Kubernetes REST configurations and clients, once, for the whole agent.
package kube

import (
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/chaos-agent/chaos-agent/internal/version"
)

// Options say how to reach the cluster.
type Options struct {
	Kubeconfig string  // empty: in-cluster service account
	QPS        float32 // client-side rate limit
	Burst      int
}

// RESTConfig resolves the connection to the API server: a kubeconfig file if one is named,
// else the in-cluster service account.
func RESTConfig(o Options) (*rest.Config, error) {
	var (
		cfg *rest.Config
		err error
	)
	if o.Kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("load kubeconfig %s: %w", o.Kubeconfig, err)
		}
	} else {
		cfg, err = rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("in-cluster config (set --kubeconfig outside a cluster): %w", err)
		}
	}
	if o.QPS > 0 {
		cfg.QPS = o.QPS
	}
	if o.Burst > 0 {
		cfg.Burst = o.Burst
	}
	cfg.UserAgent = "chaos-agent/" + version.Get().Version
	return cfg, nil
}

// Impersonate returns a copy of cfg that acts as the given service account, so that the API
// server's RBAC, not the agent's code, bounds what an experiment may touch.
func Impersonate(cfg *rest.Config, namespace, serviceAccount string) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + namespace + ":" + serviceAccount,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
	}
	return c
}
