package litmus

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// crdDir holds the CRDs chaos-agent installs.
const crdDir = "../../manifests/crds/litmus"

type crdCase struct {
	file, plural, singular, kind, listKind string
	goType                                 reflect.Type
	columns                                []string
}

func crdCases() []crdCase {
	return []crdCase{
		{"chaosengines.yaml", ResourceChaosEngines, "chaosengine", KindChaosEngine, KindChaosEngineList,
			reflect.TypeFor[ChaosEngine](), []string{"AppNS", "EngineState", "EngineStatus", "Age"}},
		{"chaosexperiments.yaml", ResourceChaosExperiments, "chaosexperiment", KindChaosExperiment, KindChaosExperimentList,
			reflect.TypeFor[ChaosExperiment](), []string{"Image", "Age"}},
		{"chaosresults.yaml", ResourceChaosResults, "chaosresult", KindChaosResult, KindChaosResultList,
			reflect.TypeFor[ChaosResult](), []string{"Verdict", "PSP", "Phase", "Age"}},
	}
}

func loadCRD(t *testing.T, file string) *unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(crdDir, file))
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := yaml.UnmarshalStrict(b, &u.Object); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return u
}

func TestCRDManifests(t *testing.T) {
	entries, err := os.ReadDir(crdDir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		files = append(files, e.Name())
	}
	if want := []string{"chaosengines.yaml", "chaosexperiments.yaml", "chaosresults.yaml"}; !reflect.DeepEqual(files, want) {
		t.Errorf("%s holds %v, want exactly %v (the directory is applied with kubectl apply -f)", crdDir, files, want)
	}

	for _, tc := range crdCases() {
		t.Run(tc.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(crdDir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(raw), "# ") || !strings.Contains(string(raw), "chaos-agent") ||
				!strings.Contains(string(raw), "litmuschaos.io/v1alpha1") {
				t.Error("missing header comment naming chaos-agent and litmuschaos.io/v1alpha1")
			}
			u := loadCRD(t, tc.file)
			str := func(fields ...string) string {
				t.Helper()
				s, _, err := unstructured.NestedString(u.Object, fields...)
				if err != nil {
					t.Fatalf("%v: %v", fields, err)
				}
				return s
			}
			checks := []struct{ got, want string }{
				{u.GetAPIVersion(), "apiextensions.k8s.io/v1"},
				{u.GetKind(), "CustomResourceDefinition"},
				{u.GetName(), tc.plural + "." + Group},
				{str("spec", "group"), Group},
				{str("spec", "scope"), "Namespaced"},
				{str("spec", "names", "plural"), tc.plural},
				{str("spec", "names", "singular"), tc.singular},
				{str("spec", "names", "kind"), tc.kind},
				{str("spec", "names", "listKind"), tc.listKind},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("got %q, want %q", c.got, c.want)
				}
			}
			cats, _, _ := unstructured.NestedStringSlice(u.Object, "spec", "names", "categories")
			if !reflect.DeepEqual(cats, []string{"litmuschaos", "chaos"}) {
				t.Errorf("categories = %v", cats)
			}

			versions, _, _ := unstructured.NestedSlice(u.Object, "spec", "versions")
			if len(versions) != 1 {
				t.Fatalf("versions = %d, want 1", len(versions))
			}
			v := versions[0].(map[string]any)
			if v["name"] != Version || v["served"] != true || v["storage"] != true {
				t.Errorf("version = %v served=%v storage=%v", v["name"], v["served"], v["storage"])
			}
			if sub, ok := v["subresources"]; ok {
				if m, _ := sub.(map[string]any); len(m) != 0 {
					t.Errorf("subresources = %v, want absent or {} (no status subresource)", sub)
				}
			}
			var cols []string
			cs, _, _ := unstructured.NestedSlice(v, "additionalPrinterColumns")
			for _, c := range cs {
				cols = append(cols, c.(map[string]any)["name"].(string))
			}
			if !reflect.DeepEqual(cols, tc.columns) {
				t.Errorf("printer columns = %v, want %v", cols, tc.columns)
			}

			schema, found, err := unstructured.NestedMap(v, "schema", "openAPIV3Schema")
			if err != nil || !found {
				t.Fatalf("openAPIV3Schema missing: %v", err)
			}
			for _, part := range []string{"spec", "status"} {
				if p, _, _ := unstructured.NestedBool(schema, "properties", part, "x-kubernetes-preserve-unknown-fields"); !p {
					t.Errorf("%s lacks x-kubernetes-preserve-unknown-fields: true", part)
				}
			}
			checkStructural(t, "openAPIV3Schema", schema)
			checkSchemaMatchesType(t, tc.goType, schema)
		})
	}
}

// checkStructural enforces the parts of the structural-schema rules that
// are easy to get wrong by hand: every node has a type unless it is
// int-or-string, int-or-string nodes have no type, arrays have items, and
// only known keywords are used.
func checkStructural(t *testing.T, path string, node map[string]any) {
	t.Helper()
	known := map[string]bool{
		"type": true, "description": true, "properties": true, "items": true, "required": true,
		"additionalProperties": true, "pattern": true, "format": true, "nullable": true, "oneOf": true,
		"x-kubernetes-preserve-unknown-fields": true, "x-kubernetes-int-or-string": true,
	}
	for k := range node {
		if !known[k] {
			t.Errorf("%s: unexpected schema keyword %q", path, k)
		}
	}
	typ, hasType := node["type"].(string)
	if node["x-kubernetes-int-or-string"] == true {
		if hasType {
			t.Errorf("%s: int-or-string node must not have a type", path)
		}
	} else if !hasType {
		t.Errorf("%s: missing type", path)
	}
	if typ == "array" {
		items, ok := node["items"].(map[string]any)
		if !ok {
			t.Errorf("%s: array without items", path)
		} else {
			checkStructural(t, path+"[]", items)
		}
	}
	if props, ok := node["properties"].(map[string]any); ok {
		if typ != "object" {
			t.Errorf("%s: properties on type %q", path, typ)
		}
		for k, p := range props {
			checkStructural(t, path+"."+k, p.(map[string]any))
		}
		if req, ok := node["required"].([]any); ok {
			for _, r := range req {
				if _, ok := props[r.(string)]; !ok {
					t.Errorf("%s: required %q is not a property", path, r)
				}
			}
		}
	}
	if ap, ok := node["additionalProperties"].(map[string]any); ok {
		checkStructural(t, path+"{}", ap)
	}
	if oneOf, ok := node["oneOf"].([]any); ok {
		props, _ := node["properties"].(map[string]any)
		for _, alt := range oneOf {
			for k := range alt.(map[string]any) {
				if k != "required" {
					t.Errorf("%s: oneOf branch may only use required, got %q", path, k)
				}
			}
			for _, r := range alt.(map[string]any)["required"].([]any) {
				if _, ok := props[r.(string)]; !ok {
					t.Errorf("%s: oneOf requires unknown property %q", path, r)
				}
			}
		}
	}
}

// checkSchemaMatchesType checks that the Go type and the CRD schema
// describe the same fields with compatible JSON types, in both directions.
// Kubernetes API types (core/v1, rbac/v1, ...) and raw JSON are opaque.
func checkSchemaMatchesType(t *testing.T, typ reflect.Type, schema map[string]any) {
	t.Helper()
	props := schema["properties"].(map[string]any)
	for _, part := range []string{"spec", "status"} {
		f, ok := typ.FieldByName(strings.ToUpper(part[:1]) + part[1:])
		if !ok {
			t.Fatalf("%v has no %s field", typ, part)
		}
		matchNode(t, part, f.Type, props[part].(map[string]any))
	}
}

func matchNode(t *testing.T, path string, typ reflect.Type, node map[string]any) {
	t.Helper()
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	schemaType, _ := node["type"].(string)
	switch {
	case typ == reflect.TypeFor[Duration]():
		if node["x-kubernetes-int-or-string"] != true {
			t.Errorf("%s: Duration field needs x-kubernetes-int-or-string", path)
		}
		return
	case typ == reflect.TypeFor[json.RawMessage]():
		if schemaType != "object" || node["x-kubernetes-preserve-unknown-fields"] != true {
			t.Errorf("%s: raw JSON field needs an object preserving unknown fields", path)
		}
		return
	case typ == reflect.TypeFor[metav1.Time]():
		if schemaType != "string" || node["format"] != "date-time" {
			t.Errorf("%s: time field needs type string, format date-time", path)
		}
		return
	case typ.Kind() == reflect.Struct && !strings.HasPrefix(typ.PkgPath(), "github.com/chaos-agent/"):
		// Kubernetes API structs: only the shape is checked.
		if schemaType != "object" {
			t.Errorf("%s: %v needs an object schema, got %q", path, typ, schemaType)
		}
		return
	}
	want := map[reflect.Kind]string{
		reflect.String: "string", reflect.Bool: "boolean", reflect.Int: "integer", reflect.Int64: "integer",
		reflect.Float64: "number", reflect.Struct: "object", reflect.Map: "object", reflect.Slice: "array",
	}[typ.Kind()]
	if want == "" {
		t.Fatalf("%s: unhandled Go kind %v", path, typ.Kind())
	}
	if schemaType != want {
		t.Errorf("%s: schema type %q, Go type %v wants %q", path, schemaType, typ, want)
		return
	}
	switch typ.Kind() {
	case reflect.Slice:
		matchNode(t, path+"[]", typ.Elem(), node["items"].(map[string]any))
	case reflect.Map:
		ap, ok := node["additionalProperties"].(map[string]any)
		if !ok {
			t.Errorf("%s: map field needs additionalProperties", path)
			return
		}
		matchNode(t, path+"{}", typ.Elem(), ap)
	case reflect.Struct:
		props, _ := node["properties"].(map[string]any)
		seen := map[string]bool{}
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				t.Fatalf("%s: field %s has no JSON name", path, f.Name)
			}
			seen[name] = true
			p, ok := props[name].(map[string]any)
			if !ok {
				t.Errorf("%s.%s: Go field %s is missing from the schema", path, name, f.Name)
				continue
			}
			matchNode(t, path+"."+name, f.Type, p)
		}
		var extra []string
		for name := range props {
			if !seen[name] {
				extra = append(extra, name)
			}
		}
		sort.Strings(extra)
		for _, name := range extra {
			t.Errorf("%s.%s: schema property has no Go field", path, name)
		}
	}
}
