package litmus

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestDurationUnmarshalAndParse(t *testing.T) {
	tests := []struct {
		name     string
		json     string
		want     time.Duration
		wantZero bool
		wantNum  bool
		wantErr  string // substring of the Parse error; "" = no error
	}{
		{name: "go duration seconds", json: `"10s"`, want: 10 * time.Second},
		{name: "go duration millis", json: `"500ms"`, want: 500 * time.Millisecond},
		{name: "go duration minute", json: `"1m"`, want: time.Minute},
		{name: "go duration compound", json: `"1m30s"`, want: 90 * time.Second},
		{name: "number is seconds", json: `5`, want: 5 * time.Second, wantNum: true},
		{name: "zero number", json: `0`, want: 0, wantNum: true},
		{name: "fractional number", json: `1.5`, want: 1500 * time.Millisecond, wantNum: true},
		{name: "bare integer string is seconds", json: `"5"`, want: 5 * time.Second},
		{name: "bare decimal string is seconds", json: `"0.25"`, want: 250 * time.Millisecond},
		{name: "surrounding blanks", json: `" 2s "`, want: 2 * time.Second},
		{name: "empty string is unset", json: `""`, want: 0, wantZero: true},
		{name: "null is unset", json: `null`, want: 0, wantZero: true},
		{name: "garbage", json: `"abc"`, wantErr: `invalid duration "abc": want a Go duration such as "10s"`},
		{name: "missing unit on non-number", json: `"5x"`, wantErr: `invalid duration "5x"`},
		{name: "negative duration", json: `"-1s"`, wantErr: `invalid duration "-1s": must not be negative`},
		{name: "negative number", json: `-3`, wantNum: true, wantErr: `invalid duration "-3": must not be negative`},
		{name: "negative bare string", json: `"-3"`, wantErr: `invalid duration "-3": must not be negative`},
		{name: "overflow", json: `1e300`, wantNum: true, wantErr: `invalid duration "1e300": out of range`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d Duration
			if err := json.Unmarshal([]byte(tc.json), &d); err != nil {
				t.Fatalf("Unmarshal(%s): %v", tc.json, err)
			}
			if d.IsZero() != tc.wantZero {
				t.Errorf("IsZero() = %v, want %v", d.IsZero(), tc.wantZero)
			}
			if d.IsNumber() != tc.wantNum {
				t.Errorf("IsNumber() = %v, want %v", d.IsNumber(), tc.wantNum)
			}
			got, err := d.Parse()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse() error = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(): %v", err)
			}
			if got != tc.want {
				t.Errorf("Parse() = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDurationUnmarshalRejectsOtherJSON(t *testing.T) {
	for _, in := range []string{`true`, `{}`, `[]`, `"unterminated`} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err == nil {
			t.Errorf("Unmarshal(%s) = %v, want error", in, d)
		}
	}
}

func TestDurationMarshalKeepsForm(t *testing.T) {
	type wrapper struct {
		D Duration `json:"d,omitzero"`
	}
	tests := []struct{ in, want string }{
		{`{"d":"10s"}`, `{"d":"10s"}`},
		{`{"d":5}`, `{"d":5}`},
		{`{"d":"5"}`, `{"d":"5"}`},
		{`{"d":""}`, `{}`},
		{`{"d":null}`, `{}`},
		{`{}`, `{}`},
	}
	for _, tc := range tests {
		var w wrapper
		if err := json.Unmarshal([]byte(tc.in), &w); err != nil {
			t.Fatalf("Unmarshal(%s): %v", tc.in, err)
		}
		out, err := json.Marshal(w)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		if string(out) != tc.want {
			t.Errorf("round trip of %s = %s, want %s", tc.in, out, tc.want)
		}
	}
}

func TestDurationConstructorsAndParseUnit(t *testing.T) {
	tests := []struct {
		name string
		d    Duration
		unit time.Duration
		want time.Duration
		text string
	}{
		{"NewDuration", NewDuration(1500 * time.Millisecond), time.Second, 1500 * time.Millisecond, "1.5s"},
		{"DurationFromString", DurationFromString("2m"), time.Second, 2 * time.Minute, "2m"},
		{"DurationFromSeconds", DurationFromSeconds(7), time.Second, 7 * time.Second, "7"},
		{"bare number in ms", DurationFromSeconds(15), time.Millisecond, 15 * time.Millisecond, "15"},
		{"bare string in ms", DurationFromString("15"), time.Millisecond, 15 * time.Millisecond, "15"},
		{"go syntax ignores unit", DurationFromString("3s"), time.Millisecond, 3 * time.Second, "3s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.d.ParseUnit(tc.unit)
			if err != nil {
				t.Fatalf("ParseUnit: %v", err)
			}
			if got != tc.want {
				t.Errorf("ParseUnit = %v, want %v", got, tc.want)
			}
			if tc.d.String() != tc.text {
				t.Errorf("String() = %q, want %q", tc.d.String(), tc.text)
			}
		})
	}
	if _, err := DurationFromString("1s").ParseUnit(0); err == nil {
		t.Error("ParseUnit(0) succeeded, want error")
	}
}

func TestRunPropertiesTimings(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		want    ProbeTimings
		wantErr string
	}{
		{
			name: "current strings",
			json: `{"probeTimeout":"10s","interval":"500ms","probePollingInterval":"2s","initialDelay":"1m","evaluationTimeout":"5m"}`,
			want: ProbeTimings{ProbeTimeout: 10 * time.Second, Interval: 500 * time.Millisecond,
				ProbePollingInterval: 2 * time.Second, InitialDelay: time.Minute, EvaluationTimeout: 5 * time.Minute},
		},
		{
			name: "legacy integers",
			json: `{"probeTimeout":10,"interval":1,"retry":1}`,
			want: ProbeTimings{ProbeTimeout: 10 * time.Second, Interval: time.Second},
		},
		{
			name:    "error names the field",
			json:    `{"probeTimeout":"10s","interval":"abc"}`,
			wantErr: `runProperties.interval: invalid duration "abc"`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var rp RunProperties
			if err := json.Unmarshal([]byte(tc.json), &rp); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			got, err := rp.Timings()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Timings() error = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Timings(): %v", err)
			}
			if got != tc.want {
				t.Errorf("Timings() = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestRunPropertiesAttempts(t *testing.T) {
	tests := []struct {
		attempt, retry, want int
	}{
		{0, 0, 1},
		{3, 0, 3},
		{0, 2, 2},
		{4, 2, 4},
		{-1, -1, 1},
	}
	for _, tc := range tests {
		rp := RunProperties{Attempt: tc.attempt, Retry: tc.retry}
		if got := rp.Attempts(); got != tc.want {
			t.Errorf("Attempts(attempt=%d, retry=%d) = %d, want %d", tc.attempt, tc.retry, got, tc.want)
		}
	}
}
