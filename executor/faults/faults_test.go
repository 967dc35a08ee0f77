package faults

import (
	"slices"
	"testing"
)

func TestBuiltin(t *testing.T) {
	r, err := Builtin()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(r.Names(), "pod-delete") {
		t.Errorf("built-in faults %v lack pod-delete", r.Names())
	}
	if _, err := Builtin(Kinds()...); err == nil {
		t.Error("registering pod-delete twice was accepted")
	}
}
