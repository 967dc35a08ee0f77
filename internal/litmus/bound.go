package litmus

import (
	"fmt"
	"unicode/utf8"
)

// Bounds on what a ChaosResult status (and a run event that carries it) holds: a fault that
// deletes thousands of pods must not produce an object the API server or the control-plane
// outbox cannot store.
const (
	// MaxResultListEntries is the most entries each per-victim list keeps.
	MaxResultListEntries = 100
	// MaxResultText is the most bytes a free-text field (a probe description, an error reason) keeps.
	MaxResultText = 2 << 10
)

// TruncateText returns s cut to at most n bytes (on a rune boundary) with a marker that says how
// many bytes were left out; s itself when it fits.
func TruncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("…[truncated %d bytes]", len(s)-cut)
}

// Bound keeps at most limit entries in each per-victim list (the first ones) and cuts free text to
// MaxResultText (not ErrorOutput.Reason, which is JSON), recording what it left out in Omitted. It reports whether anything was cut.
func (st *ChaosResultStatus) Bound(limit int) bool {
	om := OmittedEntries{}
	if st.Omitted != nil {
		om = *st.Omitted
	}
	cut := false
	if n := len(st.Recoveries); n > limit {
		st.Recoveries, om.Recoveries, cut = st.Recoveries[:limit:limit], om.Recoveries+n-limit, true
	}
	if n := len(st.SkippedVictims); n > limit {
		st.SkippedVictims, om.SkippedVictims, cut = st.SkippedVictims[:limit:limit], om.SkippedVictims+n-limit, true
	}
	if n := len(st.History.Targets); n > limit {
		st.History.Targets, om.Targets, cut = st.History.Targets[:limit:limit], om.Targets+n-limit, true
	}
	if n := len(st.ProbeStatuses); n > limit {
		st.ProbeStatuses, om.ProbeStatuses, cut = st.ProbeStatuses[:limit:limit], om.ProbeStatuses+n-limit, true
	}
	for i := range st.ProbeStatuses {
		d := &st.ProbeStatuses[i].Status.Description
		if t := TruncateText(*d, MaxResultText); t != *d {
			*d, cut = t, true
		}
	}
	for i := range st.SkippedVictims {
		r := &st.SkippedVictims[i].Reason
		if t := TruncateText(*r, MaxResultText); t != *r {
			*r, cut = t, true
		}
	}
	if cut {
		om.Note = "lists cut to the first entries; counts of the entries left out"
		st.Omitted = &om
	}
	return cut
}
