package runner

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

// WriteTable prints one line per fault and per probe, and the score.
func (r *Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FAULT\tEXPERIMENT\tVERDICT\tPHASE\tPSP\tWEIGHT\tDETAIL")
	for _, f := range r.Faults {
		detail := f.FailStep
		if detail == "" && len(f.Recoveries) > 0 {
			detail = fmt.Sprintf("%d pod(s) deleted", len(f.Recoveries))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", f.Engine, f.Experiment, f.Verdict, f.Phase, f.ProbeSuccessPercentage, f.Weight, detail)
		for _, p := range f.Probes {
			fmt.Fprintf(tw, "  probe %s\t%s/%s\t%s\t\t\t\t%s\n", p.Name, p.Type, p.Mode, p.Status.Verdict, p.Status.Description)
		}
	}
	fmt.Fprintf(tw, "\nresilience score\t%.2f\n", r.Score)
	return tw.Flush()
}

// WriteJSON writes the result as JSON.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Score  float64       `json:"resilienceScore"`
		Faults []FaultResult `json:"faults"`
	}{r.Score, r.Faults})
}

type junitSuite struct {
	XMLName  xml.Name    `xml:"testsuite"`
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Time     float64     `xml:"time,attr"`
	Props    []junitProp `xml:"properties>property"`
	Cases    []junitCase `xml:"testcase"`
}

type junitProp struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      float64       `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Error     *junitMessage `xml:"error,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes JUnit XML: one test case per fault and one per probe.
func (r *Result) WriteJUnit(w io.Writer) error {
	s := junitSuite{Name: "chaos-agent", Props: []junitProp{{Name: "resilienceScore", Value: fmt.Sprintf("%.2f", r.Score)}}}
	for _, f := range r.Faults {
		c := junitCase{Name: f.Engine + " (" + f.Experiment + ")", Classname: "chaos." + f.Namespace, Time: f.Duration.Seconds()}
		switch litmus.Verdict(f.Verdict) {
		case litmus.VerdictPass:
		case litmus.VerdictError:
			c.Error = &junitMessage{Message: "fault ended in Error", Text: f.FailStep}
			s.Errors++
		case litmus.VerdictStopped:
			c.Skipped = &junitMessage{Message: "stopped"}
		default:
			c.Failure = &junitMessage{Message: "verdict " + f.Verdict + ", probe success " + f.ProbeSuccessPercentage + "%", Text: f.FailStep}
			s.Failures++
		}
		s.Cases = append(s.Cases, c)
		for _, p := range f.Probes {
			pc := junitCase{Name: f.Engine + " probe " + p.Name, Classname: "chaos." + f.Namespace + "." + strings.ToLower(string(p.Type))}
			switch p.Status.Verdict {
			case litmus.ProbeVerdictPassed:
			case litmus.ProbeVerdictFailed:
				pc.Failure = &junitMessage{Message: "probe failed", Text: p.Status.Description}
				s.Failures++
			default:
				pc.Skipped = &junitMessage{Message: string(p.Status.Verdict) + ": " + p.Status.Description}
			}
			s.Cases = append(s.Cases, pc)
		}
	}
	s.Tests = len(s.Cases)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(s); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
