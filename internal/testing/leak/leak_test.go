package leak

import "testing"

func TestOptions(t *testing.T) {
	tests := []struct {
		kubeconfig string
		want       int
	}{
		{"", 0},
		{"/tmp/kubeconfig", len(clusterGoroutines)},
	}
	for _, tc := range tests {
		t.Run(tc.kubeconfig, func(t *testing.T) {
			t.Setenv(envKubeconfig, tc.kubeconfig)
			if got := len(Options()); got != tc.want {
				t.Errorf("%d options with %s=%q, want %d", got, envKubeconfig, tc.kubeconfig, tc.want)
			}
		})
	}
}
