package localrt

import (
	"reflect"
	"runtime"
	"testing"
	"time"

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

// The start-up checks of a burst of starts poll less often, so that
// together they stay at about one per millisecond and CPU.
func TestReadyPollGrowsWithStartsInFlight(t *testing.T) {
	d := &Driver{opts: Options{Poll: time.Millisecond}}
	cpus := runtime.NumCPU()
	for _, tc := range []struct {
		starting int
		want     time.Duration
	}{
		{0, time.Millisecond},
		{1, time.Millisecond},
		{cpus, time.Millisecond},
		{10 * cpus, 10 * time.Millisecond},
		{1000 * cpus, 50 * time.Millisecond},
	} {
		d.starting.Store(int32(tc.starting))
		if got := d.readyPoll(); got != tc.want {
			t.Errorf("%d starts in flight on %d CPUs: poll every %v, want %v", tc.starting, cpus, got, tc.want)
		}
	}
}

// A background preparation waits until no start was in flight for
// Settle: the first requests of the instances just started come first.
func TestQuietWaitsForTheStartsToSettle(t *testing.T) {
	d := &Driver{closed: make(chan struct{})}
	d.startBegins()()
	t0 := time.Now()
	if !d.quiet() {
		t.Fatal("quiet gave up")
	}
	if took := time.Since(t0); took < Settle-time.Millisecond {
		t.Errorf("quiet returned %v after a start ended, want at least %v", took, Settle)
	}
	close(d.closed)
	ends := d.startBegins() // in flight until the driver closes
	defer ends()
	if d.quiet() {
		t.Error("quiet with the driver closing: true")
	}
}
