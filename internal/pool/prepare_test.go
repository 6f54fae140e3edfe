package pool

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/scfd/scfd/internal/sandbox"
)

// fakePreparer is a fakeDriver that prepares: a start of a prepared
// function only starts its process.
type fakePreparer struct {
	*fakeDriver
	pmu        sync.Mutex
	prepared   map[string]sandbox.Spec // by function
	unprepared []string
}

func (d *fakePreparer) Prepare(ctx context.Context, spec sandbox.Spec) error {
	d.pmu.Lock()
	defer d.pmu.Unlock()
	d.prepared[spec.Function] = spec
	return nil
}

func (d *fakePreparer) StartPrepared(ctx context.Context, spec sandbox.Spec) (sandbox.Instance, error) {
	d.pmu.Lock()
	want, ok := d.prepared[spec.Function]
	got := spec
	got.ID, got.Logs = "", nil
	if !ok || !reflect.DeepEqual(got, want) {
		d.pmu.Unlock()
		return nil, nil
	}
	delete(d.prepared, spec.Function)
	d.pmu.Unlock()
	in, err := d.fakeDriver.Start(ctx, spec)
	if err != nil {
		return nil, err
	}
	in.(*fakeInstance).prepared = true
	return in, nil
}

func (d *fakePreparer) Unprepare(ns, fn, version string) {
	d.pmu.Lock()
	defer d.pmu.Unlock()
	d.unprepared = append(d.unprepared, ns+"/"+fn+":"+version)
	delete(d.prepared, fn)
}

func newPreparerEnv(t *testing.T, tweak func(*Options)) (*fakeEnv, *fakePreparer) {
	t.Helper()
	e := &fakeEnv{d: &fakeDriver{}, clock: newFakeClock(), st: openStore(t, t.TempDir())}
	pd := &fakePreparer{fakeDriver: e.d, prepared: map[string]sandbox.Spec{}}
	e.p = e.open(t, func(o *Options) {
		o.Driver = pd
		if tweak != nil {
			tweak(o)
		}
	})
	return e, pd
}

// A start from a prepared container takes no start token: a burst of
// them runs at once whatever MaxStarts is; starts that create still wait
// for a token.
func TestPreparedStartsAreNotBoundedByMaxStarts(t *testing.T) {
	e, pd := newPreparerEnv(t, func(o *Options) { o.MaxStarts = 1 })
	ctx := context.Background()
	for i := range 5 {
		if err := e.p.Prepare(ctx, testFunction(fmt.Sprintf("p%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if len(pd.prepared) != 5 {
		t.Fatalf("%d functions prepared, want 5", len(pd.prepared))
	}
	e.d.gate = make(chan error)
	var waits []<-chan result
	for i := range 5 {
		waits = append(waits, acquireAsync(e.p, testFunction(fmt.Sprintf("p%d", i))))
	}
	for i := range 2 {
		waits = append(waits, acquireAsync(e.p, testFunction(fmt.Sprintf("c%d", i))))
	}
	eventually(t, "five prepared starts and one create at once", func() bool {
		e.d.mu.Lock()
		defer e.d.mu.Unlock()
		return e.d.inFlight == 6
	})
	time.Sleep(20 * time.Millisecond)
	e.d.mu.Lock()
	if e.d.inFlight != 6 {
		t.Errorf("%d starts at once, want 6: the second create waits for the token", e.d.inFlight)
	}
	e.d.mu.Unlock()
	for range 7 {
		e.d.gate <- nil
	}
	paths := map[string]int{}
	for _, w := range waits {
		r := <-w
		if r.err != nil {
			t.Fatal(r.err)
		}
		paths[r.l.Cold().Path()]++
		r.l.Release(Healthy)
	}
	if want := map[string]int{"prepared": 5, "create": 2}; !reflect.DeepEqual(paths, want) {
		t.Errorf("paths %v, want %v", paths, want)
	}
}

// A deleted function's prepared containers are discarded.
func TestRemoveUnprepares(t *testing.T) {
	e, pd := newPreparerEnv(t, nil)
	fn := testFunction("gone")
	if err := e.p.Prepare(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Remove(context.Background(), fn.Namespace, fn.Name); err != nil {
		t.Fatal(err)
	}
	if want := []string{"default/gone:"}; !reflect.DeepEqual(pd.unprepared, want) {
		t.Errorf("unprepared %q, want %q", pd.unprepared, want)
	}
}
