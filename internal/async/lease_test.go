package async

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/scfd/scfd/internal/invocation"
	"github.com/scfd/scfd/internal/testenv"
)

// beat moves the clock by a third of the default lease, the renewal
// interval, and waits until the n queues open have armed their next
// renewal (so each has renewed its leases and claimed what was due).
func (e *env) beat(t *testing.T, n int) {
	t.Helper()
	step := DefaultLease / 3
	e.clock.Advance(step)
	e.clock.waitArmedN(t, e.clock.Now().Add(step), n)
}

// Two queues on one database, each with its own workers, run every event
// exactly once between them, wherever it was queued.
func TestTwoQueuesRunEachEventOnce(t *testing.T) {
	gate := make(chan struct{})
	var mu sync.Mutex
	runs := map[string]int{}
	reply := func(ctx context.Context, req invocation.Request) (*invocation.Result, error) {
		<-gate
		mu.Lock()
		runs[req.RequestID]++
		mu.Unlock()
		return answer(0)(ctx, req)
	}
	e := newEnvWorkers(t, 4, reply)
	a := e.q
	e.clock.Advance(time.Second) // so that the queues renew at distinct times
	b, ivB := e.openWith(t, reply, func(o *Options) { o.Replica = "b" })
	open := sync.OnceFunc(func() { close(gate) })
	t.Cleanup(open) // before the queues close
	const n = 40
	var ids []string
	for i := range n {
		q := a
		if i%4 == 3 {
			q = b
		}
		id, err := q.Enqueue(context.Background(), invocation.Request{Function: "fn", Event: []byte(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	// Both claim at once: a's and b's workers hold 4 events each, waiting
	// for the gate; the rest waits for a free worker on either.
	e.beat(t, 2)
	e.iv.next(t)
	ivB.next(t)
	open()
	for _, id := range ids {
		ev := waitStatus(t, a, id, StatusFinished)
		if ev.Attempts != 1 {
			t.Errorf("event %s: %d attempts, want 1", id, ev.Attempts)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		if runs[id] != 1 {
			t.Errorf("event %s ran %d times, want once", id, runs[id])
		}
	}
	if len(runs) != n {
		t.Errorf("%d events ran, want %d", len(runs), n)
	}
}

// An event runs on one queue while that queue renews its lease, however
// long the attempt; when the queue dies, another runs the event once the
// lease has expired, and the dead queue's late outcome is not recorded.
func TestAKilledQueuesEventRunsOnAnother(t *testing.T) {
	release := make(chan struct{})
	e := newEnvWorkers(t, 1, func(ctx context.Context, req invocation.Request) (*invocation.Result, error) {
		<-release
		// A late failure, had it been recorded, would make the event a
		// dead letter.
		return &invocation.Result{RetCode: invocation.CodeUserError, ErrMsg: "stale outcome"}, nil
	})
	if err := e.q.SetConfig(context.Background(), "default", "fn", Policy{RetryNum: 0, MsgTTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	a := e.q
	id := e.enqueue(t)
	e.iv.next(t)
	e.clock.Advance(time.Second)
	b, ivB := e.openWith(t, answer(0), func(o *Options) { o.Replica = "b" })
	stop := sync.OnceFunc(func() { close(release) })
	t.Cleanup(stop)
	for range 6 { // two leases: a renews, b keeps off
		e.beat(t, 2)
	}
	ivB.none(t)
	if ev, _ := b.Get(context.Background(), id); ev.Status != StatusRunning || ev.Attempts != 1 {
		t.Fatalf("while a runs it: %+v", ev)
	}

	a.kill()
	for range 4 { // a lease and a renewal interval
		e.beat(t, 1)
	}
	got := ivB.next(t)
	if got.RequestID != id || got.RetryNum != 1 {
		t.Fatalf("b ran %s retry %d, want %s retry 1", got.RequestID, got.RetryNum, id)
	}
	ev := waitStatus(t, b, id, StatusFinished)

	stop() // the dead queue's attempt ends, and fails
	a.bg.Wait()
	after, err := b.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if after.Status != StatusFinished || after.ErrMsg != "" || after.Attempts != 2 || !after.EndTime.Equal(ev.EndTime) {
		t.Errorf("after the stale outcome: %+v, want b's: %+v", after, ev)
	}
}

// A stale owner's outcome changes nothing: record names the claim it was
// made under.
func TestRecordNeedsTheLease(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	e := newEnvWorkers(t, 1, func(ctx context.Context, req invocation.Request) (*invocation.Result, error) {
		<-block
		return nil, errors.New("never")
	})
	id := e.enqueue(t)
	e.iv.next(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		r    run
		want error
	}{
		{"another replica", run{id: id, attempt: 1}, errStale},
		{"an earlier claim", run{id: id, attempt: 0}, errStale},
		{"the claim", run{id: id, attempt: 1}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := e.q
			if tc.name == "another replica" {
				q = &Queue{opts: Options{Replica: "someone else"}, db: e.q.db, clock: e.clock}
			}
			if err := q.record(ctx, &tc.r, outcome{state: stateFailed, retCode: 430, errMsg: tc.name}); !errors.Is(err, tc.want) {
				t.Fatalf("record = %v, want %v", err, tc.want)
			}
		})
	}
	if ev, _ := e.q.Get(ctx, id); ev.Status != StatusFailed || ev.ErrMsg != "the claim" {
		t.Errorf("event = %+v, want FAILED by the claim's own outcome", ev)
	}
}

// Terminate on one queue of an event running on another: the event is
// ABORTED at once, and its queue cancels the attempt when it next renews
// the lease, recording nothing.
func TestTerminateOnAnotherQueue(t *testing.T) {
	cancelled := make(chan error, 1)
	e := newEnvWorkers(t, 1, func(ctx context.Context, req invocation.Request) (*invocation.Result, error) {
		<-ctx.Done()
		cancelled <- context.Cause(ctx)
		return &invocation.Result{}, nil // a success, had it been recorded
	})
	id := e.enqueue(t)
	e.iv.next(t)
	e.clock.Advance(time.Second)
	b, _ := e.openWith(t, answer(0), func(o *Options) { o.Replica = "b" })
	if err := b.Terminate(context.Background(), "default", "fn", id); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, b, id, StatusAborted)
	e.beat(t, 2)
	select {
	case cause := <-cancelled:
		if !errors.Is(cause, errLeaseLost) {
			t.Errorf("the attempt was cancelled by %v, want the lost lease", cause)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the attempt on the other queue was not cancelled")
	}
	e.q.Close() // waits for the attempt
	if ev, _ := b.Get(context.Background(), id); ev.Status != StatusAborted || ev.StatusCode != 499 {
		t.Errorf("event = %+v, want ABORTED", ev)
	}
}

// A queue restarted under its Replica name takes back at once the events
// its killed predecessor ran; a queue of another name does not touch them
// before their lease expires.
func TestARestartedReplicaTakesBackItsEvents(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	e := newEnvWorkers(t, 1, func(ctx context.Context, req invocation.Request) (*invocation.Result, error) {
		<-block
		return nil, errors.New("killed")
	})
	name := e.q.opts.Replica
	id := e.enqueue(t)
	e.iv.next(t)
	e.q.kill()
	_, other := e.openWith(t, answer(0), func(o *Options) { o.Replica = "another" })
	other.none(t)
	q, iv := e.openWith(t, answer(0), func(o *Options) { o.Replica = name })
	if got := iv.next(t); got.RequestID != id || got.RetryNum != 1 {
		t.Errorf("rerun = %s retry %d, want %s retry 1", got.RequestID, got.RetryNum, id)
	}
	waitStatus(t, q, id, StatusFinished)
	other.none(t)
}

func TestDialect(t *testing.T) {
	e := newEnv(t, answer(0))
	want := sqliteDialect
	if testenv.OnPostgres() {
		want = postgresDialect
	}
	if e.q.dialect != want {
		t.Errorf("dialect of the %s store = %+v, want %+v", e.st.Dialect(), e.q.dialect, want)
	}
}

// Two queues given one Replica name by mistake: the second takes back at
// Open what the first runs (it cannot tell it from a dead predecessor's),
// but after that neither takes the other's running events.
func TestOneNameTwiceTakesBackOnlyAtOpen(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	hold := func(ctx context.Context, req invocation.Request) (*invocation.Result, error) {
		<-block
		return &invocation.Result{}, nil
	}
	e := newEnvWorkers(t, 4, hold)
	name := e.q.opts.Replica
	first := e.enqueue(t)
	e.iv.next(t)
	_, iv2 := e.openWith(t, hold, func(o *Options) { o.Replica = name })
	if got := iv2.next(t); got.RequestID != first {
		t.Fatalf("the second queue ran %s at Open, want %s", got.RequestID, first)
	}
	second := e.enqueue(t)
	select { // either queue may claim it
	case got := <-e.iv.calls:
		if got.RequestID != second {
			t.Fatalf("the first queue ran %s, want %s", got.RequestID, second)
		}
	case got := <-iv2.calls:
		if got.RequestID != second {
			t.Fatalf("the second queue ran %s, want %s", got.RequestID, second)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the second event did not run")
	}
	// Neither takes the other's running events after its first claim.
	e.beat(t, 2)
	e.iv.none(t)
	iv2.none(t)
}
