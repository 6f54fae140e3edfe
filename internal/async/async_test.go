package async

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/invocation"
	"github.com/scfd/scfd/internal/store"
	"github.com/scfd/scfd/internal/store/storetest"
	"github.com/scfd/scfd/internal/testenv"
)

type env struct {
	st    *store.Store
	clock *fakeClock
	iv    *fakeInvoker
	q     *Queue
	// workers is Options.Workers; zero means the default.
	workers int
}

func newEnv(t *testing.T, reply func(context.Context, invocation.Request) (*invocation.Result, error)) *env {
	t.Helper()
	return newEnvWorkers(t, 0, reply)
}

func newEnvWorkers(t *testing.T, workers int, reply func(context.Context, invocation.Request) (*invocation.Result, error)) *env {
	t.Helper()
	st, err := storetest.Open(t, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{st: st, clock: newFakeClock(), workers: workers}
	e.q, e.iv = e.open(t, reply)
	return e
}

// open starts a queue over e's store, as a (re)start of scfd does.
func (e *env) open(t *testing.T, reply func(context.Context, invocation.Request) (*invocation.Result, error)) (*Queue, *fakeInvoker) {
	t.Helper()
	return e.openWith(t, reply, nil)
}

// openWith starts a queue over e's store with options set changes.
func (e *env) openWith(t *testing.T, reply func(context.Context, invocation.Request) (*invocation.Result, error), set func(*Options)) (*Queue, *fakeInvoker) {
	t.Helper()
	iv := newFakeInvoker(reply)
	opts := Options{Store: e.st, Functions: fakeFunctions{}, Invoker: iv, Clock: e.clock, Workers: e.workers}
	if set != nil {
		set(&opts)
	}
	q, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q, iv
}

func (e *env) enqueue(t *testing.T) string {
	t.Helper()
	id, err := e.q.Enqueue(context.Background(), invocation.Request{Function: "fn", Event: []byte(`{"k":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// waitStatus polls the event until it has status.
func waitStatus(t *testing.T, q *Queue, id, status string) Event {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		e, err := q.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if e.Status == status {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("event %s: status %s, want %s", id, e.Status, status)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestEnqueueRunsTheEventOnce(t *testing.T) {
	e := newEnv(t, answer(0))
	id := e.enqueue(t)
	got := e.iv.next(t)
	want := invocation.Request{Namespace: "default", Function: "fn", Qualifier: "$LATEST", Event: []byte(`{"k":1}`),
		RequestID: id, Async: true, RetryNum: 0}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("request (-want +got):\n%s", diff)
	}
	ev := waitStatus(t, e.q, id, StatusFinished)
	if ev.StatusCode != 200 || ev.Attempts != 1 || ev.EndTime.IsZero() {
		t.Errorf("event = %+v, want StatusCode 200, 1 attempt, an EndTime", ev)
	}
	e.iv.none(t)
}

// $DEFAULT is queued as it is and resolved by each attempt, as a
// synchronous invocation resolves it (without such an alias, to $LATEST).
func TestEnqueueKeepsAnAliasForTheAttempt(t *testing.T) {
	e := newEnv(t, answer(0))
	for _, q := range []string{"$DEFAULT"} {
		id, err := e.q.Enqueue(context.Background(), invocation.Request{Function: "fn", Qualifier: q, Event: []byte(`{}`)})
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if got := e.iv.next(t); got.Qualifier != q || got.RequestID != id {
			t.Errorf("the attempt ran %q (%s), want %q (%s)", got.Qualifier, got.RequestID, q, id)
		}
		waitStatus(t, e.q, id, StatusFinished)
	}
	if _, err := e.q.Enqueue(context.Background(), invocation.Request{Function: "web", Qualifier: "$DEFAULT"}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("an HTTP function through $DEFAULT: %v, want ErrInvalidArgument", err)
	}
}

func TestFunctionErrorsAreRetriedTwiceThenDead(t *testing.T) {
	e := newEnv(t, answer(invocation.CodeUserError))
	start := e.clock.Now()
	id := e.enqueue(t)
	for i := range 3 {
		if got := e.iv.next(t).RetryNum; got != i {
			t.Fatalf("attempt %d has RetryNum %d", i, got)
		}
		if i < 2 {
			at := start.Add(time.Duration(i+1) * DefaultRetryInterval)
			e.clock.waitArmed(t, at)
			e.iv.none(t) // not before the interval
			e.clock.Advance(DefaultRetryInterval)
		}
	}
	ev := waitStatus(t, e.q, id, StatusFailed)
	if ev.StatusCode != invocation.CodeUserError || ev.ErrMsg != "failure "+id || ev.Attempts != 3 {
		t.Errorf("dead letter = %+v, want code 430, its error, 3 attempts", ev)
	}
	e.clock.Advance(time.Hour)
	e.iv.none(t)
}

func TestPolicyRetryNumZero(t *testing.T) {
	e := newEnv(t, answer(invocation.CodeTimeout))
	if err := e.q.SetConfig(context.Background(), "default", "fn", Policy{RetryNum: 0, MsgTTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	id := e.enqueue(t)
	e.iv.next(t)
	waitStatus(t, e.q, id, StatusFailed)
	e.clock.Advance(time.Hour)
	e.iv.none(t)
}

func TestSystemErrorsBackOffUntilMaxAge(t *testing.T) {
	e := newEnv(t, answer(invocation.CodeConcurrency))
	if err := e.q.SetConfig(context.Background(), "default", "fn",
		Policy{RetryNum: 0, MsgTTL: 5 * time.Minute, RetryInterval: time.Minute}); err != nil {
		t.Fatal(err)
	}
	start := e.clock.Now()
	id := e.enqueue(t)
	// Attempts at 0, 1 min, 3 min; the next would be at 7 min, past the
	// 5 min maximum age.
	for i, step := range []time.Duration{time.Minute, 2 * time.Minute} {
		if got := e.iv.next(t).RetryNum; got != i {
			t.Fatalf("attempt %d has RetryNum %d", i, got)
		}
		start = start.Add(step)
		e.clock.waitArmed(t, start)
		e.clock.Advance(step)
	}
	e.iv.next(t)
	ev := waitStatus(t, e.q, id, StatusFailed)
	if ev.StatusCode != invocation.CodeConcurrency || !strings.Contains(ev.ErrMsg, "maximum age") {
		t.Errorf("dead letter = %+v, want code 432 and the maximum age in its error", ev)
	}
	e.iv.none(t)
}

func TestDeletedFunctionFailsAtOnce(t *testing.T) {
	e := newEnv(t, func(context.Context, invocation.Request) (*invocation.Result, error) {
		return nil, errdefs.NotFound("Function", "function default/fn not found")
	})
	id := e.enqueue(t)
	e.iv.next(t)
	ev := waitStatus(t, e.q, id, StatusFailed)
	if !strings.Contains(ev.ErrMsg, "not found") {
		t.Errorf("ErrMsg = %q", ev.ErrMsg)
	}
}

func TestEnqueueRejects(t *testing.T) {
	e := newEnv(t, answer(0))
	for _, tc := range []struct {
		name  string
		req   invocation.Request
		class error
	}{
		{"unknown function", invocation.Request{Function: "nope"}, errdefs.ErrNotFound},
		{"HTTP function", invocation.Request{Function: "web"}, errdefs.ErrInvalidArgument},
		{"event over 128 KB", invocation.Request{Function: "fn", Event: []byte(`"` + strings.Repeat("x", 128<<10) + `"`)}, errdefs.ErrInvalidArgument},
		{"not JSON", invocation.Request{Function: "fn", Event: []byte(`{`)}, errdefs.ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.q.Enqueue(context.Background(), tc.req)
			if !errors.Is(err, tc.class) {
				t.Errorf("err = %v, want class %v", err, tc.class)
			}
		})
	}
}

func TestEventsClaimedByAStoppedServerRunAgain(t *testing.T) {
	block := make(chan struct{})
	// One worker, busy for ever: the first server cannot claim the event
	// again once the second one has put it back.
	e := newEnvWorkers(t, 1, func(ctx context.Context, req invocation.Request) (*invocation.Result, error) {
		<-block // the first server never finishes: it was killed
		return nil, errors.New("killed")
	})
	t.Cleanup(func() { close(block) })
	id := e.enqueue(t)
	e.iv.next(t)
	e.q.kill()
	// A new server over the same database, as after kill -9: the event
	// runs again once the dead server's lease has expired.
	q2, iv2 := e.open(t, answer(0))
	iv2.none(t)
	e.clock.Advance(DefaultLease)
	got := iv2.next(t)
	if got.RequestID != id || got.RetryNum != 1 {
		t.Errorf("rerun = %s retry %d, want %s retry 1", got.RequestID, got.RetryNum, id)
	}
	waitStatus(t, q2, id, StatusFinished)
}

func TestCloseRequeuesRunningEvents(t *testing.T) {
	e := newEnv(t, func(ctx context.Context, req invocation.Request) (*invocation.Result, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	id := e.enqueue(t)
	e.iv.next(t)
	if err := e.q.Close(); err != nil {
		t.Fatal(err)
	}
	q2, iv2 := e.open(t, answer(0))
	if got := iv2.next(t); got.RequestID != id {
		t.Errorf("rerun of %s, want %s", got.RequestID, id)
	}
	waitStatus(t, q2, id, StatusFinished)
}

func TestTerminate(t *testing.T) {
	cancelled := make(chan struct{}, 10)
	e := newEnv(t, func(ctx context.Context, req invocation.Request) (*invocation.Result, error) {
		<-ctx.Done()
		cancelled <- struct{}{}
		return nil, ctx.Err()
	})
	ctx := context.Background()
	t.Run("running", func(t *testing.T) {
		id := e.enqueue(t)
		e.iv.next(t)
		if err := e.q.Terminate(ctx, "default", "fn", id); err != nil {
			t.Fatal(err)
		}
		select {
		case <-cancelled:
		case <-time.After(5 * time.Second):
			t.Fatal("the running attempt was not cancelled")
		}
		ev := waitStatus(t, e.q, id, StatusAborted)
		if ev.StatusCode != 499 {
			t.Errorf("StatusCode = %d, want 499", ev.StatusCode)
		}
		if err := e.q.Terminate(ctx, "default", "fn", id); !errors.Is(err, errdefs.ErrFailedPrecondition) {
			t.Errorf("second Terminate: %v, want FailedPrecondition", err)
		}
	})
	t.Run("other function", func(t *testing.T) {
		id := e.enqueue(t)
		e.iv.next(t)
		if err := e.q.Terminate(ctx, "default", "other", id); !errors.Is(err, errdefs.ErrNotFound) {
			t.Errorf("Terminate of another function's event: %v, want NotFound", err)
		}
		e.q.Terminate(ctx, "default", "fn", id)
	})
	t.Run("unknown", func(t *testing.T) {
		if err := e.q.Terminate(ctx, "default", "fn", "nope"); !errors.Is(err, errdefs.ErrNotFound) {
			t.Errorf("Terminate: %v, want NotFound", err)
		}
	})
}

func TestTerminateWaitingEventNeverRuns(t *testing.T) {
	e := newEnv(t, answer(invocation.CodeUserError))
	id := e.enqueue(t)
	e.iv.next(t)
	e.clock.waitArmed(t, e.clock.Now().Add(DefaultRetryInterval))
	if err := e.q.Terminate(context.Background(), "default", "fn", id); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(DefaultRetryInterval)
	e.iv.none(t)
	waitStatus(t, e.q, id, StatusAborted)
}

func TestRetryDeadLetterByHand(t *testing.T) {
	fail := true
	e := newEnv(t, func(ctx context.Context, req invocation.Request) (*invocation.Result, error) {
		if fail {
			return answer(invocation.CodeProcessExit)(ctx, req)
		}
		return answer(0)(ctx, req)
	})
	if err := e.q.SetConfig(context.Background(), "default", "fn", Policy{RetryNum: 0, MsgTTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	id := e.enqueue(t)
	e.iv.next(t)
	waitStatus(t, e.q, id, StatusFailed)
	fail = false // the invoker is idle: no race
	if err := e.q.Retry(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if got := e.iv.next(t).RetryNum; got != 1 {
		t.Errorf("retry by hand has RetryNum %d, want 1", got)
	}
	waitStatus(t, e.q, id, StatusFinished)
	if err := e.q.Retry(context.Background(), "nope"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Retry of an unknown event: %v, want NotFound", err)
	}
}

func TestList(t *testing.T) {
	e := newEnv(t, func(ctx context.Context, req invocation.Request) (*invocation.Result, error) {
		if strings.Contains(string(req.Event), "fail") {
			return answer(invocation.CodeUserError)(ctx, req)
		}
		return answer(0)(ctx, req)
	})
	ctx := context.Background()
	e.q.SetConfig(ctx, "default", "fn", Policy{RetryNum: 0, MsgTTL: time.Hour})
	var ids []string
	for i, ev := range []string{`{}`, `{"fail":1}`, `{}`} {
		id, err := e.q.Enqueue(ctx, invocation.Request{Function: "fn", Event: []byte(ev), TriggerSrc: []string{"", "", "timer"}[i]})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		if n, err := e.q.Depth(ctx); err != nil || n != 1 {
			t.Errorf("Depth with one event accepted = %d, %v; want 1", n, err)
		}
		e.iv.next(t)
		waitStatus(t, e.q, id, []string{StatusFinished, StatusFailed, StatusFinished}[i])
		e.clock.Advance(time.Second)
	}
	if n, err := e.q.Depth(ctx); err != nil || n != 0 {
		t.Errorf("Depth with every event ended = %d, %v; want 0", n, err)
	}
	idsOf := func(evs []Event) []string {
		var out []string
		for _, e := range evs {
			out = append(out, e.RequestID)
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		q     Query
		want  []string
		total int
	}{
		{"all, newest first", Query{Function: "fn"}, []string{ids[2], ids[1], ids[0]}, 3},
		{"oldest first", Query{Function: "fn", Ascending: true}, []string{ids[0], ids[1], ids[2]}, 3},
		{"dead letters", Query{Statuses: []string{StatusFailed}}, []string{ids[1]}, 1},
		{"by type", Query{InvokeTypes: []string{"timer"}}, []string{ids[2]}, 1},
		{"by id", Query{RequestID: ids[0]}, []string{ids[0]}, 1},
		{"page", Query{Function: "fn", Offset: 1, Limit: 1}, []string{ids[1]}, 3},
		{"start window", Query{StartFrom: e.clock.Now().Add(-1500 * time.Millisecond)}, []string{ids[2]}, 1},
		{"other function", Query{Function: "other"}, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, total, err := e.q.List(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, idsOf(got)); diff != "" || total != tc.total {
				t.Errorf("ids (-want +got):\n%s\ntotal %d, want %d", diff, total, tc.total)
			}
		})
	}
	if _, _, err := e.q.List(ctx, Query{Statuses: []string{"DONE"}}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("bad status: %v, want InvalidArgument", err)
	}
}

func TestEndedEventsAreReaped(t *testing.T) {
	e := newEnv(t, answer(0))
	id := e.enqueue(t)
	e.iv.next(t)
	waitStatus(t, e.q, id, StatusFinished)
	e.clock.Advance(DefaultRetention + 2*ReapInterval)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := e.q.Get(context.Background(), id)
		if errors.Is(err, errdefs.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("event not reaped: %v", err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestValidatePolicy(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Policy
		ok   bool
	}{
		{"default", Policy{RetryNum: 2, MsgTTL: 6 * time.Hour}, true},
		{"negative retries", Policy{RetryNum: -1, MsgTTL: time.Hour}, false},
		{"too many retries", Policy{RetryNum: MaxRetryNum + 1, MsgTTL: time.Hour}, false},
		{"TTL too short", Policy{MsgTTL: time.Second}, false},
		{"TTL too long", Policy{MsgTTL: 25 * time.Hour}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidatePolicy(tc.p)
			if (err == nil) != tc.ok {
				t.Errorf("ValidatePolicy = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

func TestForgetResetsThePolicy(t *testing.T) {
	e := newEnv(t, answer(0))
	ctx := context.Background()
	if err := e.q.SetConfig(ctx, "default", "fn", Policy{RetryNum: 0, MsgTTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if err := e.q.Forget(ctx, "default", "fn"); err != nil {
		t.Fatal(err)
	}
	got, err := e.q.Config(ctx, "default", "fn")
	if err != nil {
		t.Fatal(err)
	}
	if got != e.q.DefaultPolicy() {
		t.Errorf("policy after Forget %+v, want the default %+v", got, e.q.DefaultPolicy())
	}
}

// With the data directory full, Enqueue answers a class and a message
// naming the cause.
func TestEnqueueOnAFullDataDirectoryNamesTheCause(t *testing.T) {
	if testenv.OnPostgres() {
		t.Skip("SQLite only: on PostgreSQL the data directory holds no table")
	}
	dir := testenv.SmallDisk(t, 4<<20)
	st, err := storetest.Open(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{st: st, clock: newFakeClock()}
	e.q, e.iv = e.open(t, answer(0))
	e.enqueue(t)
	testenv.FillDisk(t, dir)
	event := []byte(`{"pad":"` + strings.Repeat("x", 100<<10) + `"}`)
	for i := 0; i < 50 && err == nil; i++ {
		_, err = e.q.Enqueue(context.Background(), invocation.Request{Function: "fn", Event: event})
	}
	if !errors.Is(err, errdefs.ErrResourceExhausted) || errdefs.Resource(err) != "DiskSpace" {
		t.Fatalf("Enqueue on a full disk = %v, want ErrResourceExhausted about DiskSpace", err)
	}
	if msg := errdefs.Message(err, ""); !strings.Contains(msg, "data directory is full") {
		t.Errorf("message %q does not name the cause", msg)
	}
}

// One namespace's long events hold at most MaxPerNamespace workers (half
// of them by default): another namespace's event runs meanwhile.
func TestANamespaceHoldsAtMostHalfTheWorkers(t *testing.T) {
	release := make(chan struct{})
	e := newEnvWorkers(t, 4, func(ctx context.Context, req invocation.Request) (*invocation.Result, error) {
		if req.Namespace == "greedy" {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return &invocation.Result{}, nil
	})
	defer close(release)
	for range 4 {
		if _, err := e.q.Enqueue(context.Background(), invocation.Request{Namespace: "greedy", Function: "fn", Event: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.iv.next(t); got.Namespace != "greedy" {
		t.Fatalf("first call %+v", got)
	}
	e.iv.next(t)
	e.iv.none(t) // two of four workers: the greedy namespace's bound
	id, err := e.q.Enqueue(context.Background(), invocation.Request{Namespace: "other", Function: "fn", Event: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.iv.next(t); got.Namespace != "other" || got.RequestID != id {
		t.Fatalf("another namespace's event: %+v", got)
	}
	waitStatus(t, e.q, id, StatusFinished)
	e.iv.none(t) // still two greedy ones waiting
}
