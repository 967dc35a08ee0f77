package litmus

import (
	"strings"
	"testing"
)

func TestTruncateText(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"abcdefghij", 4, "abcd…[truncated 6 bytes]"},
		{"ééé", 3, "é…[truncated 4 bytes]"}, // never cuts inside a rune
		{"", 0, ""},
	} {
		if got := TruncateText(tc.in, tc.n); got != tc.want {
			t.Errorf("TruncateText(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestStatusBound(t *testing.T) {
	st := ChaosResultStatus{ProbeStatuses: []ProbeStatus{{Name: "p", Status: ProbeStatusDetail{Description: strings.Repeat("d", 3*MaxResultText)}}}}
	for range 7 {
		st.Recoveries = append(st.Recoveries, PodRecovery{Pod: "p"})
	}
	if !st.Bound(5) {
		t.Fatal("Bound reported nothing cut")
	}
	if len(st.Recoveries) != 5 || st.Omitted == nil || st.Omitted.Recoveries != 2 {
		t.Fatalf("recoveries %d, omitted %+v", len(st.Recoveries), st.Omitted)
	}
	if d := st.ProbeStatuses[0].Status.Description; len(d) > MaxResultText+40 || !strings.Contains(d, "truncated") {
		t.Fatalf("description not cut: %d bytes", len(d))
	}
	small := ChaosResultStatus{Recoveries: []PodRecovery{{Pod: "p"}}}
	if small.Bound(5) || small.Omitted != nil {
		t.Fatal("Bound cut a status within bounds")
	}
}
