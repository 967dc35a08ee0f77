package score

import "testing"

func TestResilience(t *testing.T) {
	tests := []struct {
		name   string
		faults []Fault
		want   float64
	}{
		{"none", nil, 0},
		{"seed, 1 replica: probe failed", []Fault{{Name: "pod-delete-ji5", Weight: 10, PSP: "0"}}, 0},
		{"seed, 2 replicas: probe passed", []Fault{{Name: "pod-delete-ji5", Weight: 10, PSP: "100"}}, 100},
		{"weighted", []Fault{{Weight: 10, PSP: "100"}, {Weight: 5, PSP: "50"}}, 83.33},
		{"default weight", []Fault{{PSP: "100"}, {Weight: 10, PSP: "0"}}, 50},
		{"awaited and error count as 0", []Fault{{Weight: 10, PSP: "Awaited"}, {Weight: 10, PSP: ""}, {Weight: 10, PSP: "100"}}, 33.33},
		{"clamped", []Fault{{Weight: 1, PSP: "250"}, {Weight: 1, PSP: "-40"}}, 50},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Resilience(tc.faults); got != tc.want {
				t.Errorf("Resilience = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestWeight(t *testing.T) {
	for label, want := range map[string]int{"": 10, "7": 7, "0": 10, "-3": 10, "x": 10} {
		if got := Weight(label); got != want {
			t.Errorf("Weight(%q) = %d, want %d", label, got, want)
		}
	}
}
