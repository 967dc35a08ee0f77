package imageref

import "testing"

func TestMirror(t *testing.T) {
	tests := []struct{ registry, image, want string }{
		{"", "quay.io/argoproj/argoexec:v3.7.18", "quay.io/argoproj/argoexec:v3.7.18"},
		{"registry.example.com/mirror", "quay.io/argoproj/argoexec:v3.7.18", "registry.example.com/mirror/argoproj/argoexec:v3.7.18"},
		{"registry.example.com/mirror", "chaosnative/k8s:2.11.0", "registry.example.com/mirror/chaosnative/k8s:2.11.0"},
		{"registry.example.com", "docker.io/litmuschaos/litmus-checker:latest", "registry.example.com/litmuschaos/litmus-checker:latest"},
		{"registry.example.com", "busybox", "registry.example.com/library/busybox"},
		{"registry.example.com", "docker.io/busybox:1.36", "registry.example.com/library/busybox:1.36"},
		{"registry.example.com:5000", "localhost:5000/x/y:1", "registry.example.com:5000/x/y:1"},
		{"registry.example.com", "ghcr.io/chaos-agent/chaos-agent@sha256:abc", "registry.example.com/chaos-agent/chaos-agent@sha256:abc"},
		{"registry.example.com/mirror", "registry.example.com/mirror/argoproj/argoexec:v3.7.18", "registry.example.com/mirror/argoproj/argoexec:v3.7.18"},
		{"registry.example.com", "", ""},
	}
	for _, tt := range tests {
		if got := Mirror(tt.registry, tt.image); got != tt.want {
			t.Errorf("Mirror(%q, %q) = %q, want %q", tt.registry, tt.image, got, tt.want)
		}
	}
}

func TestCheckRegistry(t *testing.T) {
	tests := []struct {
		registry string
		ok       bool
	}{
		{"registry.example.com", true},
		{"registry.example.com:5000/mirror/sub", true},
		{"localhost:5000", true},
		{"localhost", true},
		{"mirror", false}, // a Docker Hub user, not a registry
		{"https://registry.example.com", false},
		{"registry.example.com//x", false},
		{"registry.example.com/x@sha256:1", false},
		{"registry.example.com/ x", false},
	}
	for _, tt := range tests {
		if err := CheckRegistry(tt.registry); (err == nil) != tt.ok {
			t.Errorf("CheckRegistry(%q) = %v, want ok=%v", tt.registry, err, tt.ok)
		}
	}
}
