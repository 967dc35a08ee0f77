package target

import (
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaos-agent/chaos-agent/internal/litmus"
)

func TestFromEngine(t *testing.T) {
	engine := func(ai litmus.AppInfo, sel *litmus.Selectors) *litmus.ChaosEngine {
		return &litmus.ChaosEngine{
			ObjectMeta: metav1.ObjectMeta{Namespace: "eng-ns", Name: "e"},
			Spec:       litmus.ChaosEngineSpec{AppInfo: ai, Selectors: sel},
		}
	}
	tests := []struct {
		name    string
		e       *litmus.ChaosEngine
		want    []Entry
		wantErr []string // substrings
	}{
		{name: "nothing", e: engine(litmus.AppInfo{}, nil), want: nil},
		{name: "nil engine", e: nil, want: nil},
		{
			name: "appinfo defaults namespace",
			e:    engine(litmus.AppInfo{AppKind: "deployment", AppLabel: "app=nginx,tier=web"}, nil),
			want: []Entry{{Kind: "deployment", Namespace: "eng-ns", Selector: "app=nginx,tier=web"}},
		},
		{
			name: "appinfo with appns, kind case-insensitive",
			e:    engine(litmus.AppInfo{AppNS: "apps", AppKind: "StatefulSet", AppLabel: "app=db"}, nil),
			want: []Entry{{Kind: "statefulset", Namespace: "apps", Selector: "app=db"}},
		},
		{
			name: "appinfo namespace only is namespace-wide",
			e:    engine(litmus.AppInfo{AppNS: "apps"}, nil),
			want: []Entry{{Kind: "", Namespace: "apps"}},
		},
		{
			name:    "appkind without applabel",
			e:       engine(litmus.AppInfo{AppKind: "deployment"}, nil),
			wantErr: []string{"incomplete appinfo: provide appkind and applabel both"},
		},
		{
			name:    "applabel without appkind",
			e:       engine(litmus.AppInfo{AppLabel: "app=x"}, nil),
			wantErr: []string{"incomplete appinfo: provide appkind and applabel both"},
		},
		{
			name:    "unknown appkind",
			e:       engine(litmus.AppInfo{AppKind: "cronjob", AppLabel: "app=x"}, nil),
			wantErr: []string{`"cronjob"`, "deployment, statefulset, daemonset, replicaset, deploymentconfig, rollout"},
		},
		{
			name: "selectors win over appinfo",
			e: engine(litmus.AppInfo{AppKind: "deployment", AppLabel: "app=ignored"}, &litmus.Selectors{
				Workloads: []litmus.WorkloadSelector{
					{Kind: "deployment", Namespace: "a", Names: "web, api,,web"},
					{Kind: "rollout", Labels: "app in (x,y)"},
				},
			}),
			want: []Entry{
				{Kind: "deployment", Namespace: "a", Names: []string{"web", "api"}},
				{Kind: "rollout", Namespace: "eng-ns", Selector: "app in (x,y)"},
			},
		},
		{
			name: "pod selectors",
			e: engine(litmus.AppInfo{}, &litmus.Selectors{
				Pods: []litmus.PodSelector{{Namespace: "a", Names: "p1,p2"}},
			}),
			want: []Entry{{Kind: "pod", Namespace: "a", Names: []string{"p1", "p2"}}},
		},
		{
			name:    "empty selectors",
			e:       engine(litmus.AppInfo{}, &litmus.Selectors{}),
			wantErr: []string{"specify one out of workloads or pods"},
		},
		{
			name: "workload with names and labels",
			e: engine(litmus.AppInfo{}, &litmus.Selectors{Workloads: []litmus.WorkloadSelector{
				{Kind: "deployment", Namespace: "a", Names: "x", Labels: "app=x"}}}),
			wantErr: []string{"only one of names or labels"},
		},
		{
			name: "workload with neither",
			e: engine(litmus.AppInfo{}, &litmus.Selectors{Workloads: []litmus.WorkloadSelector{
				{Kind: "deployment", Namespace: "a"}}}),
			wantErr: []string{"one of names or labels"},
		},
		{
			name: "workload with unknown kind",
			e: engine(litmus.AppInfo{}, &litmus.Selectors{Workloads: []litmus.WorkloadSelector{
				{Kind: "pod", Namespace: "a", Names: "x"}}}),
			wantErr: []string{`selectors.workloads[0].kind`, `"pod"`},
		},
		{
			name: "pod selector without names",
			e: engine(litmus.AppInfo{}, &litmus.Selectors{
				Pods: []litmus.PodSelector{{Namespace: "a", Names: " , "}}}),
			wantErr: []string{"selectors.pods[0]"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FromEngine(tc.e)
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("want error, got %v", got)
				}
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func TestEntryString(t *testing.T) {
	for _, tc := range []struct {
		e    Entry
		want string
	}{
		{Entry{Kind: "deployment", Namespace: "a", Names: []string{"x", "y"}}, "deployment:a:[x,y]"},
		{Entry{Kind: "statefulset", Namespace: "a", Selector: "app=db"}, "statefulset:a:[app=db]"},
		{Entry{Namespace: "a"}, "KIND:a:[]"},
	} {
		if got := tc.e.String(); got != tc.want {
			t.Errorf("%#v: got %q want %q", tc.e, got, tc.want)
		}
	}
}
