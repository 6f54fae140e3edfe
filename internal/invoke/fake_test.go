package invoke

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/scfd/scfd/internal/pool"
	"github.com/scfd/scfd/internal/sandbox"
	"github.com/scfd/scfd/internal/scf"
)

// fakeInstance is an instance whose server is an httptest server.
type fakeInstance struct {
	addr   string
	peak   uint64
	exited chan struct{}
	once   sync.Once
	reason sandbox.ExitReason
}

func (f *fakeInstance) ID() string                   { return "fake" }
func (f *fakeInstance) Addr() string                 { return f.addr }
func (f *fakeInstance) Phases() sandbox.Phases       { return sandbox.Phases{} }
func (f *fakeInstance) State() sandbox.State         { return sandbox.Busy }
func (f *fakeInstance) SetState(sandbox.State) error { return nil }
func (f *fakeInstance) Stats() (sandbox.Stats, error) {
	return sandbox.Stats{MemoryPeakBytes: f.peak}, nil
}
func (f *fakeInstance) ResetPeak() error               { return nil }
func (f *fakeInstance) Exited() <-chan struct{}        { return f.exited }
func (f *fakeInstance) ExitReason() sandbox.ExitReason { return f.reason }
func (f *fakeInstance) Stop(context.Context) error {
	f.exit(sandbox.ExitReason{Kind: sandbox.ExitStopped})
	return nil
}
func (f *fakeInstance) exit(r sandbox.ExitReason) {
	f.once.Do(func() { f.reason = r; close(f.exited) })
}

// fakeLease lends a fakeInstance; lines are "printed" with print.
type fakeLease struct {
	in   *fakeInstance
	cold *pool.ColdStart

	mu       sync.Mutex
	sink     func(sandbox.LogLine)
	outcomes []pool.Outcome
}

func (l *fakeLease) Instance() sandbox.Instance { return l.in }
func (l *fakeLease) Cold() *pool.ColdStart      { return l.cold }
func (l *fakeLease) Attach(sink func(sandbox.LogLine)) func() {
	l.mu.Lock()
	l.sink = sink
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		l.sink = nil
		l.mu.Unlock()
	}
}
func (l *fakeLease) OnExit(f func()) (stop func() bool) {
	cancel := make(chan struct{})
	go func() {
		select {
		case <-l.in.exited:
			f()
		case <-cancel:
		}
	}()
	var once sync.Once
	return func() bool {
		stopped := false
		once.Do(func() { close(cancel); stopped = true })
		return stopped
	}
}
func (l *fakeLease) Release(o pool.Outcome) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.outcomes = append(l.outcomes, o)
}
func (l *fakeLease) print(text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sink != nil {
		l.sink(sandbox.LogLine{Stream: sandbox.Stdout, Text: text})
	}
}

// fakeInstances lends the one lease, or fails with err.
type fakeInstances struct {
	lease *fakeLease
	err   error
}

func (f *fakeInstances) Acquire(ctx context.Context, fn *scf.Function) (pool.Lease, error) {
	if f.err != nil {
		return nil, f.err
	}
	return f.lease, nil
}

// functions is a one-function store.
type functions map[string]*scf.Function

func (f functions) GetFunction(ctx context.Context, ns, name, version string) (*scf.Function, error) {
	fn, ok := f[ns+"/"+name+"/"+version]
	if !ok {
		return nil, errNotFound(name)
	}
	return fn, nil
}

func testFunction() *scf.Function {
	fn := &scf.Function{Namespace: "default", Name: "fn", Timeout: 3, Status: scf.StatusActive,
		Image: scf.ImageConfig{ImageUri: "reg/x:1"}}
	scf.ApplyDefaults(fn)
	return fn
}

// fakeSetup serves handler as the function's server.
func fakeSetup(t testing.TB, handler http.HandlerFunc) (*fakeLease, functions) {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	in := &fakeInstance{addr: strings.TrimPrefix(srv.URL, "http://"), peak: 7 << 20, exited: make(chan struct{})}
	fn := testFunction()
	return &fakeLease{in: in}, functions{"default/fn/$LATEST": fn}
}
