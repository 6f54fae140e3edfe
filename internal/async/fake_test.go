package async

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/invocation"
	"github.com/scfd/scfd/internal/scf"
)

// fakeClock is a manual clock: Advance fires the timers that are due.
type fakeClock struct {
	mu     sync.Mutex
	cond   *sync.Cond
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
	c := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	c.cond = sync.NewCond(&c.mu)
	return c
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
	if d <= 0 {
		go f()
		return t
	}
	c.timers = append(c.timers, t)
	c.cond.Broadcast()
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.stopped
	t.stopped = true
	for i, x := range t.c.timers {
		if x == t {
			t.c.timers = append(t.c.timers[:i], t.c.timers[i+1:]...)
			return was
		}
	}
	return false
}

// Advance moves the clock and runs the timers that fall due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	kept := c.timers[:0]
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			t.stopped = true
			due = append(due, t)
		} else {
			kept = append(kept, t)
		}
	}
	c.timers = kept
	c.mu.Unlock()
	for _, t := range due {
		go t.f()
	}
}

// waitArmed waits until a timer is armed for exactly at.
func (c *fakeClock) waitArmed(t *testing.T, at time.Time) {
	t.Helper()
	c.waitArmedN(t, at, 1)
}

// waitArmedN waits until n timers are armed for exactly at.
func (c *fakeClock) waitArmedN(t *testing.T, at time.Time, n int) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for {
			found := 0
			for _, x := range c.timers {
				if x.at.Equal(at) {
					found++
				}
			}
			if found >= n {
				close(done)
				return
			}
			c.cond.Wait()
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("no timer armed for %s", at)
	}
}

// fakeInvoker answers with what reply says and reports every call.
type fakeInvoker struct {
	calls chan invocation.Request
	reply func(ctx context.Context, req invocation.Request) (*invocation.Result, error)
}

func newFakeInvoker(reply func(ctx context.Context, req invocation.Request) (*invocation.Result, error)) *fakeInvoker {
	return &fakeInvoker{calls: make(chan invocation.Request, 100), reply: reply}
}

func (f *fakeInvoker) Invoke(ctx context.Context, req invocation.Request) (*invocation.Result, error) {
	f.calls <- req
	return f.reply(ctx, req)
}

// next waits for the next call.
func (f *fakeInvoker) next(t *testing.T) invocation.Request {
	t.Helper()
	select {
	case r := <-f.calls:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("the invoker was not called")
		return invocation.Request{}
	}
}

// none asserts that no call comes within a short while.
func (f *fakeInvoker) none(t *testing.T) {
	t.Helper()
	select {
	case r := <-f.calls:
		t.Fatalf("unexpected call: retry %d of %s", r.RetryNum, r.RequestID)
	case <-time.After(50 * time.Millisecond):
	}
}

func answer(code int) func(context.Context, invocation.Request) (*invocation.Result, error) {
	return func(ctx context.Context, req invocation.Request) (*invocation.Result, error) {
		res := &invocation.Result{RequestID: req.RequestID, RetCode: code, InvokeResult: code}
		if code != 0 {
			res.ErrMsg = "failure " + req.RequestID
		}
		return res, nil
	}
}

// fakeFunctions knows event function "fn" and HTTP function "web" in the
// default namespace.
type fakeFunctions struct{}

func (fakeFunctions) GetFunction(ctx context.Context, ns, name, version string) (*scf.Function, error) {
	switch {
	case !scf.IsVersion(version): // as the store: aliases are not versions
		return nil, errdefs.NotFound("Version", "version %q of function %q not found", version, name)
	case (ns == scf.DefaultNamespace || ns == "greedy" || ns == "other") && name == "fn":
		return &scf.Function{Namespace: ns, Name: name, Version: version, Type: scf.TypeEvent, Status: scf.StatusActive}, nil
	case ns == scf.DefaultNamespace && name == "web":
		return &scf.Function{Namespace: ns, Name: name, Version: version, Type: scf.TypeHTTP, Status: scf.StatusActive}, nil
	}
	return nil, errdefs.NotFound("Function", "function %s/%s not found", ns, name)
}

// kill stops q as kill -9 stops scfd: it claims nothing more and renews
// no lease, and its attempts are left running (their end is recorded
// under their lease, as a process that was only paused would).
func (q *Queue) kill() {
	q.stopTimers()
	q.cancel()
}
