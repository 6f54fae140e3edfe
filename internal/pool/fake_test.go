package pool

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/scfd/scfd/internal/images"
	"github.com/scfd/scfd/internal/sandbox"
	"github.com/scfd/scfd/internal/scf"
	"github.com/scfd/scfd/internal/store"
)

// fakeDriver starts fakeInstances. While gate is non-nil, starts wait
// for a value on it (nil error: success).
type fakeDriver struct {
	mu       sync.Mutex
	gate     chan error
	started  []*fakeInstance
	inFlight int
	maxIn    int
}

func (d *fakeDriver) Start(ctx context.Context, spec sandbox.Spec) (sandbox.Instance, error) {
	d.mu.Lock()
	d.inFlight++
	d.maxIn = max(d.maxIn, d.inFlight)
	gate := d.gate
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.inFlight--
		d.mu.Unlock()
	}()
	if gate != nil {
		select {
		case err := <-gate:
			if err != nil {
				return nil, err
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	in := &fakeInstance{id: spec.ID, spec: spec, exited: make(chan struct{})}
	in.state.Set(sandbox.Starting)
	in.state.Set(sandbox.Ready)
	d.mu.Lock()
	d.started = append(d.started, in)
	d.mu.Unlock()
	return in, nil
}

func (d *fakeDriver) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.started)
}

func (d *fakeDriver) instances() []*fakeInstance {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*fakeInstance(nil), d.started...)
}

// running lists the ids of instances not stopped, sorted.
func (d *fakeDriver) running() []string {
	var ids []string
	for _, in := range d.instances() {
		if !in.isStopped() {
			ids = append(ids, in.id)
		}
	}
	sort.Strings(ids)
	return ids
}

type fakeInstance struct {
	id       string
	prepared bool // started from a container prepared ahead
	spec     sandbox.Spec
	state    sandbox.StateBox
	exited   chan struct{}
	once     sync.Once
	mu       sync.Mutex
	reason   sandbox.ExitReason
}

func (f *fakeInstance) ID() string   { return f.id }
func (f *fakeInstance) Addr() string { return "192.0.2.1:9000" }
func (f *fakeInstance) Phases() sandbox.Phases {
	return sandbox.Phases{Prepared: f.prepared, Total: time.Millisecond}
}
func (f *fakeInstance) State() sandbox.State           { return f.state.Get() }
func (f *fakeInstance) SetState(s sandbox.State) error { return f.state.Set(s) }
func (f *fakeInstance) Stats() (sandbox.Stats, error)  { return sandbox.Stats{}, nil }
func (f *fakeInstance) ResetPeak() error               { return nil }
func (f *fakeInstance) Exited() <-chan struct{}        { return f.exited }
func (f *fakeInstance) ExitReason() sandbox.ExitReason {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reason
}

func (f *fakeInstance) end(kind sandbox.ExitKind) {
	f.once.Do(func() {
		f.mu.Lock()
		f.reason = sandbox.ExitReason{Kind: kind}
		f.mu.Unlock()
		f.state.Stop()
		f.state.Set(sandbox.Gone)
		close(f.exited)
	})
}

func (f *fakeInstance) Stop(ctx context.Context) error { f.end(sandbox.ExitStopped); return nil }

// crash ends the process as if it exited by itself.
func (f *fakeInstance) crash() { f.end(sandbox.ExitCode) }

func (f *fakeInstance) isStopped() bool {
	select {
	case <-f.exited:
		return true
	default:
		return false
	}
}

type fakeImages struct{}

func (fakeImages) Get(ctx context.Context, digest string) (*images.Image, error) {
	return &images.Image{Digest: digest, Layers: []string{"/nonexistent"}}, nil
}

// pinningImages counts the pins held per digest.
type pinningImages struct {
	fakeImages
	mu   sync.Mutex
	pins map[string]int
}

func (f *pinningImages) Pin(d string) func() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pins[d]++
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.pins[d]--
		})
	}
}

func (f *pinningImages) held(d string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pins[d]
}

// fakeClock fires its timers when the test advances it, in the test's
// goroutine.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c       *fakeClock
	at      time.Time
	f       func()
	stopped bool
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	return was
}

// Advance moves the clock and runs the timers that came due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	keep := c.timers[:0]
	for _, t := range c.timers {
		switch {
		case t.stopped:
		case !t.at.After(c.now):
			t.stopped = true
			due = append(due, t)
		default:
			keep = append(keep, t)
		}
	}
	c.timers = keep
	c.mu.Unlock()
	for _, t := range due {
		t.f()
	}
}

// pending counts the timers not yet fired or stopped.
func (c *fakeClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.stopped {
			n++
		}
	}
	return n
}

func openStore(t testing.TB, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

type fakeEnv struct {
	p     *Pool
	d     *fakeDriver
	clock *fakeClock
	st    *store.Store
}

func newFakeEnv(t *testing.T, tweak func(*Options)) *fakeEnv {
	t.Helper()
	e := &fakeEnv{d: &fakeDriver{}, clock: newFakeClock(), st: openStore(t, t.TempDir())}
	e.p = e.open(t, tweak)
	return e
}

func (e *fakeEnv) open(t *testing.T, tweak func(*Options)) *Pool {
	t.Helper()
	opts := Options{Driver: e.d, Images: fakeImages{}, Store: e.st, Clock: e.clock, IdleTimeout: time.Minute}
	if tweak != nil {
		tweak(&opts)
	}
	p, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p
}

func testFunction(name string) *scf.Function {
	return &scf.Function{
		Namespace: scf.DefaultNamespace, Name: name, Version: scf.Latest,
		Type: scf.TypeEvent, MemorySize: 128, ImageDigest: "sha256:" + name,
		Status: scf.StatusActive,
	}
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// waiting returns how many calls wait for an instance of fn.
func (p *Pool) waiting(fn *scf.Function) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if vp := p.pools[verKey{fn.Namespace, fn.Name, fn.Version}]; vp != nil {
		return len(vp.waiters)
	}
	return 0
}
