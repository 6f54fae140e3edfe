package pool

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/scf"
)

func TestRealConcurrentCallsRunOnTheirOwnInstances(t *testing.T) {
	e := newRealEnv(t, nil)
	fn := realFunction("eight")
	ctx := context.Background()
	var wg sync.WaitGroup
	ids := make([]string, 8)
	errs := make([]error, 8)
	start := time.Now()
	for i := range 8 {
		wg.Go(func() {
			// Each call holds its instance 3 s, longer than any start takes,
			// so that no call finishes and hands its instance to a call
			// still waiting for its own.
			l, err := call(ctx, e.p, fn, `{"sleep_ms": 3000}`)
			if err == nil {
				ids[i] = l.Instance().ID()
				if l.Cold() == nil {
					err = errors.New("no cold start reported")
				}
			}
			errs[i] = err
		})
	}
	wg.Wait()
	took := time.Since(start)
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	distinct := map[string]bool{}
	for _, id := range ids {
		distinct[id] = true
	}
	if len(distinct) != 8 {
		t.Errorf("8 calls ran on %d instances, want 8", len(distinct))
	}
	// One after another they would take 24 s; eight cold starts at once
	// share 2 cores, which takes 0.3 to 1.5 s depending on the machine.
	if took >= 6*time.Second {
		t.Errorf("8 concurrent 3 s calls took %s, want well under the 24 s of calls one after another", took)
	}
	t.Logf("8 concurrent cold 3 s calls took %s", took)

	l, err := call(ctx, e.p, fn, `{}`)
	if err != nil {
		t.Fatal(err)
	}
	if l.Cold() != nil || !distinct[l.Instance().ID()] {
		t.Errorf("the 9th call ran on %s (cold %v), want one of the 8 warm instances", l.Instance().ID(), l.Cold())
	}
}

func TestRealReservedConcurrency(t *testing.T) {
	e := newRealEnv(t, nil)
	fn := realFunction("reserved")
	ctx := context.Background()
	mustNil(t, e.p.PutReserved(ctx, fn.Namespace, fn.Name, 2*fn.MemorySize))
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range 4 {
		wg.Go(func() {
			_, errs[i] = call(ctx, e.p, fn, `{"sleep_ms": 500}`)
		})
	}
	wg.Wait()
	ok, over := 0, 0
	want := "Function [ reserved ] concurrency exceeded reserved quota 256 MB"
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, errdefs.ErrResourceExhausted) && errdefs.Resource(err) == "Concurrency":
			over++
			if err.Error() != want {
				t.Errorf("message %q, want %q", err.Error(), want)
			}
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 2 || over != 2 {
		t.Errorf("%d succeeded and %d exceeded the quota, want 2 and 2", ok, over)
	}
}

func TestRealProvisionedConcurrency(t *testing.T) {
	e := newRealEnv(t, nil)
	ctx := context.Background()
	v1 := e.publish(t, realFunction("prov"), "1")
	mustNil(t, e.p.PutProvisioned(ctx, v1.Namespace, v1.Name, "1", 3))
	eventually(t, "3 provisioned instances ready", func() bool {
		got := provisioned(t, e.p, v1, "1")
		return got.Status == scf.ProvisionedDone && got.Available == 3
	})
	ready := map[string]bool{}
	for _, in := range e.p.Instances() {
		ready[in.ID] = true
	}
	if len(ready) != 3 {
		t.Fatalf("%d instances before any call, want 3", len(ready))
	}

	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			l, err := call(ctx, e.p, v1, `{"sleep_ms": 200}`)
			if err != nil {
				t.Error(err)
				return
			}
			if c := l.Cold(); !ready[l.Instance().ID()] || (c != nil && !c.Provisioned) {
				t.Errorf("call on %s with cold start %+v, want a provisioned instance", l.Instance().ID(), c)
			}
		})
	}
	wg.Wait()

	e.clock.Advance(time.Hour)
	if got := provisioned(t, e.p, v1, "1"); got.Available != 3 {
		t.Errorf("after the idle timeout: %+v, want 3 available", got)
	}

	// One dies; it is replaced.
	l, err := e.p.Acquire(ctx, v1)
	mustNil(t, err)
	victim := l.Instance().ID()
	invoke(l, `{"exit": 1}`)
	l.Release(Broken)
	eventually(t, "a replacement", func() bool {
		got := provisioned(t, e.p, v1, "1")
		if got.Available != 3 {
			return false
		}
		for _, in := range e.p.Instances() {
			if in.ID == victim {
				return false
			}
		}
		return true
	})
}

func TestRealIdleTimeoutMakesTheNextCallCold(t *testing.T) {
	e := newRealEnv(t, nil)
	fn := realFunction("idle")
	ctx := context.Background()
	first, err := call(ctx, e.p, fn, `{}`)
	mustNil(t, err)
	warm, err := call(ctx, e.p, fn, `{}`)
	mustNil(t, err)
	if warm.Cold() != nil || warm.Instance().ID() != first.Instance().ID() {
		t.Fatal("the second call was not warm")
	}
	e.clock.Advance(time.Minute)
	eventually(t, "instance gone", func() bool {
		select {
		case <-first.Instance().Exited():
			return len(e.p.Instances()) == 0
		default:
			return false
		}
	})
	l, err := call(ctx, e.p, fn, `{}`)
	mustNil(t, err)
	if l.Cold() == nil || l.Instance().ID() == first.Instance().ID() {
		t.Error("the call after the idle timeout was not a cold start on a new instance")
	}
	c := l.Cold()
	if c.Total <= 0 || c.Phases.Total <= 0 || c.Phases.RuntimeStart <= 0 {
		t.Errorf("cold start phases not reported: %+v", c)
	}
	t.Logf("cold start: total %s, image %s, phases %+v", c.Total, c.ImageCheck, c.Phases)
}

// A version prepared as it became Active starts its first instance from
// the prepared container; after it scaled to zero, the next cold start
// does too (the container prepared after the first start waited).
func TestRealPreparedColdStarts(t *testing.T) {
	e := newRealEnv(t, nil)
	fn := realFunction("prepared")
	ctx := context.Background()
	mustNil(t, e.p.Prepare(ctx, fn))
	first, err := call(ctx, e.p, fn, `{}`)
	mustNil(t, err)
	if c := first.Cold(); c == nil || c.Path() != "prepared" || c.Phases.RuntimeCreate != 0 {
		t.Fatalf("the first call after Prepare: cold start %+v, want the prepared path", c)
	}
	e.clock.Advance(time.Hour)
	eventually(t, "scaled to zero", func() bool {
		select {
		case <-first.Instance().Exited():
			return len(e.p.Instances()) == 0
		default:
			return false
		}
	})
	img, err := testImages.Get(ctx, fn.ImageDigest)
	mustNil(t, err)
	eventually(t, "a container prepared again", func() bool { return testDriver.Prepared(specOf(fn, img, "", nil)) })
	l, err := call(ctx, e.p, fn, `{}`)
	mustNil(t, err)
	if c := l.Cold(); c == nil || c.Path() != "prepared" {
		t.Errorf("the call after scaling to zero: cold start %+v, want the prepared path", c)
	} else {
		t.Logf("cold start from a prepared container: total %s, start %s, ready %s", c.Total, c.Phases.RuntimeStart, c.Phases.Ready)
	}
	mustNil(t, e.p.Remove(ctx, fn.Namespace, fn.Name))
}
