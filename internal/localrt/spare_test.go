package localrt

import (
	"reflect"
	"testing"

	"github.com/scfd/scfd/internal/sandbox"
	"github.com/scfd/scfd/internal/scf"
)

// spareFields must name every field of sandbox.Spec but the three that
// do not shape a container, or unlike specs would share containers.
func TestSpareKeyCoversTheSpec(t *testing.T) {
	spec := reflect.TypeFor[sandbox.Spec]()
	key := reflect.TypeFor[spareFields]()
	for i := range spec.NumField() {
		name := spec.Field(i).Name
		switch name {
		case "ID", "Logs", "StartupTimeout":
			continue
		}
		if _, ok := key.FieldByName(name); !ok {
			t.Errorf("sandbox.Spec.%s is not in spareFields", name)
		}
	}
	a := sandbox.Spec{ID: "a", Function: "f", MemoryMB: 128, Env: []scf.Variable{{Key: "K", Value: "1"}}}
	b := a
	b.ID, b.Logs = "b", func(sandbox.LogLine) {}
	if spareKey(a) != spareKey(b) {
		t.Error("specs differing only in id and sink have different keys")
	}
	for _, change := range []func(*sandbox.Spec){
		func(s *sandbox.Spec) { s.MemoryMB = 256 },
		func(s *sandbox.Spec) { s.Env = []scf.Variable{{Key: "K", Value: "2"}} },
		func(s *sandbox.Spec) { s.Version = "1" },
		func(s *sandbox.Spec) { s.Args = "-x" },
	} {
		c := a
		change(&c)
		if spareKey(c) == spareKey(a) {
			t.Errorf("a changed spec %+v has the same key", c)
		}
	}
}
