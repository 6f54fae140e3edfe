package pool

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/sandbox"
	"github.com/scfd/scfd/internal/scf"
)

func acquire(t *testing.T, p *Pool, fn *scf.Function) Lease {
	t.Helper()
	l, err := p.Acquire(context.Background(), fn)
	if err != nil {
		t.Fatalf("Acquire: %v", err)
	}
	return l
}

// acquireAsync starts an Acquire and returns where its result arrives.
func acquireAsync(p *Pool, fn *scf.Function) <-chan result {
	ch := make(chan result, 1)
	go func() {
		l, err := p.Acquire(context.Background(), fn)
		ch <- result{l, err}
	}()
	return ch
}

type result struct {
	l   Lease
	err error
}

func TestWarmReuseTakesMostRecentlyUsed(t *testing.T) {
	e := newFakeEnv(t, nil)
	fn := testFunction("f")
	a := acquire(t, e.p, fn)
	b := acquire(t, e.p, fn)
	if a.Cold() == nil || b.Cold() == nil {
		t.Fatal("the first two leases should be cold starts")
	}
	a.Release(Healthy)
	b.Release(Healthy)
	c := acquire(t, e.p, fn)
	defer c.Release(Healthy)
	if c.Cold() != nil {
		t.Error("a warm lease reports a cold start")
	}
	if got, want := c.Instance().ID(), b.Instance().ID(); got != want {
		t.Errorf("warm lease got instance %s, want the most recently used %s", got, want)
	}
	if n := e.d.count(); n != 2 {
		t.Errorf("driver started %d instances, want 2", n)
	}
}

func TestWaitersShareStartsAndAreServedOldestFirst(t *testing.T) {
	e := newFakeEnv(t, nil)
	fn := testFunction("f")
	busy := acquire(t, e.p, fn)
	e.d.gate = make(chan error)
	var waits []<-chan result
	for i := range 3 {
		waits = append(waits, acquireAsync(e.p, fn))
		eventually(t, "waiter queued", func() bool { return e.p.waiting(fn) == i+1 })
	}
	// Three waiters, three starts in flight (blocked in the driver).
	eventually(t, "three starts", func() bool {
		e.d.mu.Lock()
		defer e.d.mu.Unlock()
		return e.d.inFlight == 3
	})
	// The busy instance, released, goes to the oldest waiter.
	busy.Release(Healthy)
	first := <-waits[0]
	if first.err != nil {
		t.Fatal(first.err)
	}
	if got, want := first.l.Instance().ID(), busy.Instance().ID(); got != want {
		t.Errorf("oldest waiter got %s, want the released %s", got, want)
	}
	if first.l.Cold() != nil {
		t.Error("a reused instance reports a cold start")
	}
	for range 3 {
		e.d.gate <- nil
	}
	var rest []Lease
	for _, w := range waits[1:] {
		r := <-w
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.l.Cold() == nil {
			t.Error("a lease of a fresh instance has no cold start")
		}
		rest = append(rest, r.l)
	}
	for _, l := range rest {
		l.Release(Healthy)
	}
	first.l.Release(Healthy)
	// One start was not needed: its instance is idle, nobody waited.
	eventually(t, "the fourth instance idle", func() bool { return len(e.p.Instances()) == 4 })
}

func TestHTTPFunctionSharesInstances(t *testing.T) {
	e := newFakeEnv(t, nil)
	fn := testFunction("web")
	fn.Type = scf.TypeHTTP
	fn.Concurrency.MaxConcurrency = 4
	e.d.gate = make(chan error)
	var waits []<-chan result
	for range 6 {
		waits = append(waits, acquireAsync(e.p, fn))
	}
	eventually(t, "six waiters", func() bool { return e.p.waiting(fn) == 6 })
	eventually(t, "two starts", func() bool {
		e.d.mu.Lock()
		defer e.d.mu.Unlock()
		return e.d.inFlight == 2
	})
	e.d.gate <- nil
	e.d.gate <- nil
	perInstance := map[string]int{}
	var leases []Lease
	for _, w := range waits {
		r := <-w
		if r.err != nil {
			t.Fatal(r.err)
		}
		perInstance[r.l.Instance().ID()]++
		leases = append(leases, r.l)
	}
	if len(perInstance) != 2 || e.d.count() != 2 {
		t.Errorf("6 requests ran on %v (%d started), want 2 instances", perInstance, e.d.count())
	}
	// Two busy instances count twice, however many requests they hold.
	if got, _ := e.p.InUse(fn.Namespace, fn.Name); got != 2*128 {
		t.Errorf("in use %d MB, want 256", got)
	}
	for _, l := range leases {
		l.Release(Healthy)
	}
	if got, _ := e.p.InUse(fn.Namespace, fn.Name); got != 0 {
		t.Errorf("in use %d MB after release, want 0", got)
	}
}

func TestStartsAreBoundedPerMachine(t *testing.T) {
	e := newFakeEnv(t, func(o *Options) { o.MaxStarts = 2 })
	e.d.gate = make(chan error)
	var waits []<-chan result
	for i := range 5 {
		waits = append(waits, acquireAsync(e.p, testFunction(fmt.Sprintf("f%d", i))))
	}
	eventually(t, "two starts", func() bool {
		e.d.mu.Lock()
		defer e.d.mu.Unlock()
		return e.d.inFlight == 2
	})
	for range 5 {
		e.d.gate <- nil
	}
	for _, w := range waits {
		r := <-w
		if r.err != nil {
			t.Fatal(r.err)
		}
		r.l.Release(Healthy)
	}
	if e.d.maxIn != 2 {
		t.Errorf("%d starts ran at once, want at most 2", e.d.maxIn)
	}
}

func TestFailedStartFailsItsWaiter(t *testing.T) {
	e := newFakeEnv(t, nil)
	fn := testFunction("f")
	e.d.gate = make(chan error, 1)
	e.d.gate <- errors.New("boom")
	_, err := e.p.Acquire(context.Background(), fn)
	if err == nil || err.Error() != "boom" {
		t.Fatalf("Acquire = %v, want the start error", err)
	}
	if n := e.p.waiting(fn); n != 0 {
		t.Errorf("%d waiters left", n)
	}
	if got, _ := e.p.InUse(fn.Namespace, fn.Name); got != 0 {
		t.Errorf("in use %d MB after a failed start, want 0", got)
	}
}

func TestQueueTimeoutUsesTheClock(t *testing.T) {
	e := newFakeEnv(t, func(o *Options) { o.QueueTimeout = 5 * time.Second })
	e.d.gate = make(chan error)
	fn := testFunction("f")
	w := acquireAsync(e.p, fn)
	eventually(t, "waiter", func() bool { return e.p.waiting(fn) == 1 })
	e.clock.Advance(4 * time.Second)
	select {
	case r := <-w:
		t.Fatalf("Acquire returned before the queue timeout: %v", r.err)
	default:
	}
	e.clock.Advance(time.Second)
	r := <-w
	if !errors.Is(r.err, errdefs.ErrUnavailable) {
		t.Fatalf("Acquire = %v, want ErrUnavailable", r.err)
	}
	if got, _ := e.p.InUse(fn.Namespace, fn.Name); got != 0 {
		t.Errorf("in use %d MB after the timeout, want 0", got)
	}
	e.d.gate <- nil // the start completes; its instance idles
	eventually(t, "idle instance", func() bool { return len(e.p.Instances()) == 1 })
}

func TestWaiterQueueIsBounded(t *testing.T) {
	e := newFakeEnv(t, func(o *Options) { o.MaxWaiters = 2 })
	e.d.gate = make(chan error)
	fn := testFunction("f")
	acquireAsync(e.p, fn)
	acquireAsync(e.p, fn)
	eventually(t, "two waiters", func() bool { return e.p.waiting(fn) == 2 })
	_, err := e.p.Acquire(context.Background(), fn)
	if !errors.Is(err, errdefs.ErrUnavailable) {
		t.Errorf("third Acquire = %v, want ErrUnavailable", err)
	}
}

func TestCanceledWaiterLeavesTheQueue(t *testing.T) {
	e := newFakeEnv(t, nil)
	e.d.gate = make(chan error)
	fn := testFunction("f")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := e.p.Acquire(ctx, fn)
		done <- err
	}()
	eventually(t, "waiter", func() bool { return e.p.waiting(fn) == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Acquire = %v, want context.Canceled", err)
	}
	if n := e.p.waiting(fn); n != 0 {
		t.Errorf("%d waiters left", n)
	}
}

func TestConcurrencyLimits(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(t *testing.T, p *Pool)
		memory   int64
		admitted int
		wantMsg  string
	}{
		{
			name:     "reserved quota of two instances",
			setup:    func(t *testing.T, p *Pool) { mustNil(t, p.PutReserved(context.Background(), "default", "f", 256)) },
			memory:   128,
			admitted: 2,
			wantMsg:  "Function [ f ] concurrency exceeded reserved quota 256 MB",
		},
		{
			name:     "reserved quota of zero disables the function",
			setup:    func(t *testing.T, p *Pool) { mustNil(t, p.PutReserved(context.Background(), "default", "f", 0)) },
			memory:   128,
			admitted: 0,
			wantMsg:  "Function [ f ] concurrency exceeded reserved quota 0 MB",
		},
		{
			name:     "account quota",
			setup:    func(t *testing.T, p *Pool) { mustNil(t, p.PutTotal(context.Background(), 12800)) },
			memory:   3072,
			admitted: 4,
			wantMsg:  "Function [ f ] concurrency exceeded region unreserved quota 12800 MB",
		},
		{
			name: "another function's reservation shrinks the unreserved quota",
			setup: func(t *testing.T, p *Pool) {
				mustNil(t, p.PutTotal(context.Background(), 20000))
				mustNil(t, p.PutReserved(context.Background(), "default", "other", 7200))
			},
			memory:   3072,
			admitted: 4,
			wantMsg:  "Function [ f ] concurrency exceeded region unreserved quota 12800 MB",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newFakeEnv(t, nil)
			tc.setup(t, e.p)
			fn := testFunction("f")
			fn.MemorySize = tc.memory
			var leases []Lease
			for range tc.admitted {
				leases = append(leases, acquire(t, e.p, fn))
			}
			_, err := e.p.Acquire(context.Background(), fn)
			if !errors.Is(err, errdefs.ErrResourceExhausted) || errdefs.Resource(err) != "Concurrency" {
				t.Fatalf("Acquire over the limit = %v, want ErrResourceExhausted/Concurrency", err)
			}
			if err.Error() != tc.wantMsg {
				t.Errorf("message %q, want %q", err.Error(), tc.wantMsg)
			}
			if len(leases) == 0 {
				return
			}
			// Idle instances do not count: after a release the next call
			// gets in.
			leases[0].Release(Healthy)
			l := acquire(t, e.p, fn)
			if l.Cold() != nil {
				t.Error("the call after a release did not reuse the idle instance")
			}
		})
	}
}

func TestQuotaSettingsAreValidatedAndPersist(t *testing.T) {
	e := newFakeEnv(t, nil)
	ctx := context.Background()
	mustNil(t, e.p.PutTotal(ctx, 50000))
	mustNil(t, e.p.PutReserved(ctx, "default", "a", 30000))
	err := e.p.PutReserved(ctx, "default", "b", 8000)
	if !errors.Is(err, errdefs.ErrResourceExhausted) || errdefs.Resource(err) != "FunctionReservedConcurrencyMemory" {
		t.Errorf("PutReserved beyond total-12800 = %v, want ResourceExhausted/FunctionReservedConcurrencyMemory", err)
	}
	err = e.p.PutTotal(ctx, 40000)
	if !errors.Is(err, errdefs.ErrFailedPrecondition) || errdefs.Resource(err) != "ReservedExceedTotal" {
		t.Errorf("PutTotal below reserved+12800 = %v, want FailedPrecondition/ReservedExceedTotal", err)
	}
	mustNil(t, e.p.PutReserved(ctx, "default", "b", 7200))
	mustNil(t, e.p.DeleteReserved(ctx, "default", "b"))

	p2 := e.open(t, nil)
	total, reserved := p2.TotalConcurrency()
	if total != 50000 || reserved != 30000 {
		t.Errorf("after reopening: total %d reserved %d, want 50000 30000", total, reserved)
	}
	mb, ok, _ := p2.GetReserved(ctx, "default", "a")
	if !ok || mb != 30000 {
		t.Errorf("GetReserved(a) = %d %v, want 30000 true", mb, ok)
	}
	if _, ok, _ := p2.GetReserved(ctx, "default", "b"); ok {
		t.Error("a deleted reservation came back")
	}
}

func TestChangedConfigurationDrainsOldInstances(t *testing.T) {
	e := newFakeEnv(t, nil)
	fn := testFunction("f")
	idle := acquire(t, e.p, fn)
	busy := acquire(t, e.p, fn)
	idle.Release(Healthy)

	changed := *fn
	changed.Environment = []scf.Variable{{Key: "K", Value: "v2"}}
	l := acquire(t, e.p, &changed)
	if l.Cold() == nil {
		t.Error("a call with a new configuration reused an old instance")
	}
	eventually(t, "old idle instance stopped", func() bool {
		return e.d.instances()[0].isStopped()
	})
	if e.d.instances()[1].isStopped() {
		t.Error("the old busy instance was stopped under its call")
	}
	busy.Release(Healthy)
	eventually(t, "old busy instance stopped on release", func() bool {
		return e.d.instances()[1].isStopped()
	})
	l.Release(Healthy)
	if diff := cmp.Diff([]string{l.Instance().ID()}, e.d.running()); diff != "" {
		t.Errorf("running instances (-want +got):\n%s", diff)
	}
	if got := e.d.instances()[2].spec.Env; len(got) != 1 || got[0].Value != "v2" {
		t.Errorf("new instance env %v", got)
	}
}

func TestIdleInstancesAreReaped(t *testing.T) {
	e := newFakeEnv(t, nil)
	fn := testFunction("f")
	l := acquire(t, e.p, fn)
	first := l.Instance().ID()
	l.Release(Healthy)
	e.clock.Advance(59 * time.Second)
	if len(e.d.running()) != 1 {
		t.Fatal("instance stopped before the idle timeout")
	}
	// A use in between restarts the idle period.
	l = acquire(t, e.p, fn)
	l.Release(Healthy)
	e.clock.Advance(59 * time.Second)
	if len(e.d.running()) != 1 {
		t.Fatal("instance stopped before the idle timeout after a reuse")
	}
	e.clock.Advance(time.Second)
	eventually(t, "instance stopped", func() bool { return len(e.d.running()) == 0 })
	if n := len(e.p.Instances()); n != 0 {
		t.Errorf("%d instances listed after reaping", n)
	}
	l = acquire(t, e.p, fn)
	defer l.Release(Healthy)
	if l.Cold() == nil || l.Instance().ID() == first {
		t.Error("the call after the idle timeout was not a cold start on a new instance")
	}
}

func TestBrokenAndExitedInstancesAreNotReused(t *testing.T) {
	e := newFakeEnv(t, nil)
	fn := testFunction("f")
	l := acquire(t, e.p, fn)
	l.Release(Broken)
	eventually(t, "broken instance stopped", func() bool { return len(e.d.running()) == 0 })

	l = acquire(t, e.p, fn)
	l.Release(Healthy)
	e.d.instances()[1].crash()
	eventually(t, "exited instance removed", func() bool { return len(e.p.Instances()) == 0 })
	l = acquire(t, e.p, fn)
	defer l.Release(Healthy)
	if l.Cold() == nil {
		t.Error("an exited instance was lent again")
	}
}

func TestRemoveStopsEverything(t *testing.T) {
	e := newFakeEnv(t, nil)
	fn := testFunction("f")
	ctx := context.Background()
	mustNil(t, e.p.PutReserved(ctx, "default", "f", 1024))
	acquire(t, e.p, fn).Release(Healthy)
	busy := acquire(t, e.p, fn)
	e.d.gate = make(chan error)
	w := acquireAsync(e.p, fn)
	eventually(t, "waiter", func() bool { return e.p.waiting(fn) == 1 })
	mustNil(t, e.p.Remove(ctx, "default", "f"))
	if r := <-w; !errors.Is(r.err, errdefs.ErrNotFound) {
		t.Errorf("waiter got %v, want ErrNotFound", r.err)
	}
	eventually(t, "all stopped", func() bool { return len(e.d.running()) == 0 })
	busy.Release(Healthy)
	if _, ok, _ := e.p.GetReserved(ctx, "default", "f"); ok {
		t.Error("the reservation of a removed function remains")
	}
	if _, reserved := e.p.TotalConcurrency(); reserved != 0 {
		t.Errorf("reserved sum %d after Remove, want 0", reserved)
	}
}

func TestLogsGoToAttachedLeases(t *testing.T) {
	var mu sync.Mutex
	var unattached []string
	e := newFakeEnv(t, func(o *Options) {
		o.InstanceLog = func(fn *scf.Function, line sandbox.LogLine) {
			mu.Lock()
			defer mu.Unlock()
			unattached = append(unattached, fn.Name+": "+line.Text)
		}
	})
	fn := testFunction("f")
	l := acquire(t, e.p, fn)
	in := e.d.instances()[0]
	in.spec.Logs(sandbox.LogLine{Text: "before"})
	var got []string
	detach := l.Attach(func(line sandbox.LogLine) { got = append(got, line.Text) })
	in.spec.Logs(sandbox.LogLine{Text: "during"})
	detach()
	in.spec.Logs(sandbox.LogLine{Text: "after"})
	l.Release(Healthy)
	if diff := cmp.Diff([]string{"during"}, got); diff != "" {
		t.Errorf("attached lines (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"f: before", "f: after"}, unattached); diff != "" {
		t.Errorf("instance log lines (-want +got):\n%s", diff)
	}
}

func TestCloseStopsEverything(t *testing.T) {
	e := newFakeEnv(t, nil)
	for i := range 3 {
		acquire(t, e.p, testFunction(fmt.Sprintf("f%d", i))).Release(Healthy)
	}
	busy := acquire(t, e.p, testFunction("f0"))
	_ = busy
	mustNil(t, e.p.Close(context.Background()))
	if r := e.d.running(); len(r) != 0 {
		t.Errorf("running after Close: %v", r)
	}
	if _, err := e.p.Acquire(context.Background(), testFunction("f0")); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Errorf("Acquire after Close = %v, want ErrUnavailable", err)
	}
}

func mustNil(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// The pool owns the retention of the images its instances run: a pin from
// before the image is looked up until the instance has stopped, so that an
// image collection never removes the layers of a running instance.
func TestInstancesPinTheirImageUntilStopped(t *testing.T) {
	imgs := &pinningImages{pins: map[string]int{}}
	e := newFakeEnv(t, func(o *Options) { o.Images = imgs })
	fn := testFunction("f")
	a := acquire(t, e.p, fn)
	b := acquire(t, e.p, fn)
	if n := imgs.held(fn.ImageDigest); n != 2 {
		t.Fatalf("%d pins with two instances, want 2", n)
	}
	a.Release(Healthy)
	b.Release(Broken)
	eventually(t, "the broken instance's pin released", func() bool { return imgs.held(fn.ImageDigest) == 1 })
	e.clock.Advance(time.Hour) // the idle one is reaped
	eventually(t, "every pin released", func() bool { return imgs.held(fn.ImageDigest) == 0 })
}

// An instance counts the requests it was lent for, apart from those it
// serves now.
func TestInstancesCountServedRequests(t *testing.T) {
	e := newFakeEnv(t, nil)
	fn := testFunction("f")
	for range 3 {
		l, err := e.p.Acquire(context.Background(), fn)
		if err != nil {
			t.Fatal(err)
		}
		l.Release(Healthy)
	}
	l, err := e.p.Acquire(context.Background(), fn)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(Healthy)
	ins := e.p.Instances()
	if len(ins) != 1 || ins[0].Served != 4 || ins[0].Requests != 1 {
		t.Errorf("instances %+v, want one that served 4 and serves 1", ins)
	}
}

func TestOnExitRunsWhenTheInstanceExits(t *testing.T) {
	e := newFakeEnv(t, nil)
	fn := testFunction("f")
	fn.Type, fn.Concurrency.MaxConcurrency = scf.TypeHTTP, 2
	a := acquire(t, e.p, fn)
	b := acquire(t, e.p, fn)
	if a.Instance().ID() != b.Instance().ID() {
		t.Fatal("two requests of an HTTP function with MaxConcurrency 2 should share an instance")
	}
	fired := make(chan string, 3)
	wait := func(want string) {
		t.Helper()
		select {
		case got := <-fired:
			if got != want {
				t.Errorf("%s's function ran, want %s's", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s's function did not run after the instance exited", want)
		}
	}
	stopA := a.OnExit(func() { fired <- "a" })
	stopB := b.OnExit(func() { fired <- "b" })
	if !stopA() {
		t.Error("a stop before the exit should keep the function from running")
	}
	a.Release(Healthy)
	e.d.instances()[0].crash()
	wait("b")
	if stopB() {
		t.Error("a stop after the function ran reports that it kept it from running")
	}
	b.OnExit(func() { fired <- "late" }) // registered after the exit: runs at once
	wait("late")
	b.Release(Broken)
	select {
	case got := <-fired:
		t.Errorf("%s's function ran again", got)
	default:
	}
}
