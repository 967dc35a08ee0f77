package litmus

import (
	"errors"
	"fmt"
	"reflect"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// kindOf returns the kind of the litmus type of obj (pointer or value), or
// "" for other types.
func kindOf(obj any) string {
	switch obj.(type) {
	case ChaosEngine, *ChaosEngine:
		return KindChaosEngine
	case ChaosEngineList, *ChaosEngineList:
		return KindChaosEngineList
	case ChaosExperiment, *ChaosExperiment:
		return KindChaosExperiment
	case ChaosExperimentList, *ChaosExperimentList:
		return KindChaosExperimentList
	case ChaosResult, *ChaosResult:
		return KindChaosResult
	case ChaosResultList, *ChaosResultList:
		return KindChaosResultList
	}
	return ""
}

// ToUnstructured converts obj (a ChaosEngine, ChaosExperiment, ChaosResult
// or one of their lists, by value or pointer) into an Unstructured object
// with apiVersion litmuschaos.io/v1alpha1 and the matching kind, whatever
// obj's TypeMeta says. Other types are converted as is and must carry their
// own apiVersion and kind. obj is not modified.
func ToUnstructured(obj any) (*unstructured.Unstructured, error) {
	if obj == nil {
		return nil, errors.New("litmus: ToUnstructured: nil object")
	}
	v := reflect.ValueOf(obj)
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil, fmt.Errorf("litmus: ToUnstructured: nil %T", obj)
		}
	} else {
		p := reflect.New(v.Type())
		p.Elem().Set(v)
		v = p
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(v.Interface())
	if err != nil {
		return nil, fmt.Errorf("litmus: converting %T to unstructured: %w", obj, err)
	}
	u := &unstructured.Unstructured{Object: m}
	if kind := kindOf(obj); kind != "" {
		u.SetAPIVersion(APIVersion)
		u.SetKind(kind)
	} else if u.GetAPIVersion() == "" || u.GetKind() == "" {
		return nil, fmt.Errorf("litmus: ToUnstructured: %T is not a litmus type and has no apiVersion/kind", obj)
	}
	return u, nil
}

// FromUnstructured decodes u into out, which must be a non-nil pointer
// (typically *ChaosEngine, *ChaosExperiment or *ChaosResult). When out is a
// litmus type, u's apiVersion and kind must be empty or match it.
func FromUnstructured(u *unstructured.Unstructured, out any) error {
	if u == nil {
		return errors.New("litmus: FromUnstructured: nil object")
	}
	if kind := kindOf(out); kind != "" {
		if av := u.GetAPIVersion(); av != "" && av != APIVersion {
			return fmt.Errorf("litmus: FromUnstructured: apiVersion %q, want %q", av, APIVersion)
		}
		if k := u.GetKind(); k != "" && k != kind {
			return fmt.Errorf("litmus: FromUnstructured: kind %q cannot be decoded into %T", k, out)
		}
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out); err != nil {
		return fmt.Errorf("litmus: converting %s %q to %T: %w", u.GetKind(), u.GetName(), out, err)
	}
	return nil
}

// ResultName returns the name of the ChaosResult of an experiment run:
// "<engine>-<experiment>", or just "<experiment>" without an engine, with
// "-<instanceID>" appended when instanceID is not empty.
func ResultName(engine, experiment, instanceID string) string {
	name := experiment
	if engine != "" {
		name = engine + "-" + experiment
	}
	if instanceID != "" {
		name += "-" + instanceID
	}
	return name
}

// EngineEventName returns the name of the core/v1 Event emitted on a
// ChaosEngine: "<reason><experiment><engineUID>". Such events are upserted
// (count and lastTimestamp bumped when the name exists).
func EngineEventName(reason EventReason, experiment, engineUID string) string {
	return string(reason) + experiment + engineUID
}

// ResultEventName returns the name of the core/v1 Event emitted on a
// ChaosResult: "<reason><podName>" (create-only).
func ResultEventName(reason EventReason, podName string) string {
	return string(reason) + podName
}
