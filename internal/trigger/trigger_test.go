package trigger

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/invocation"
	"github.com/scfd/scfd/internal/scf"
	"github.com/scfd/scfd/internal/store"
	"github.com/scfd/scfd/internal/store/storetest"
)

// queue records what the timers enqueue.
type queue struct {
	mu   sync.Mutex
	reqs []invocation.Request
}

func (q *queue) Enqueue(_ context.Context, r invocation.Request) (string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.reqs = append(q.reqs, r)
	return invocation.NewRequestID(), nil
}

func (q *queue) take() []invocation.Request {
	q.mu.Lock()
	defer q.mu.Unlock()
	r := q.reqs
	q.reqs = nil
	return r
}

func openStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := storetest.Open(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func createFunction(t *testing.T, st *store.Store, name string, typ scf.FunctionType) {
	t.Helper()
	fn := &scf.Function{Name: name, Type: typ, Status: scf.StatusActive, Image: scf.ImageConfig{ImageUri: "127.0.0.1:5000/a/b:1"}}
	scf.ApplyDefaults(fn)
	if err := st.CreateFunction(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

// run starts a Service over st and returns it with a function that stops
// its timers.
func run(t *testing.T, st *store.Store, q Queue) (*Service, context.CancelFunc) {
	t.Helper()
	svc, err := Open(context.Background(), Options{DB: st, Functions: st, Aliases: st, Queue: q, GatewayURL: "http://127.0.0.1:9200"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		svc.Run(ctx)
	}()
	return svc, func() {
		cancel()
		<-done
	}
}

// The scenario, on a virtual clock: a timer every 2 s fires 3 or 4
// times in 7.5 s with the right event and header, stops when disabled or
// deleted, and survives a restart with one catch-up fire.
func TestTimerFiresOnScheduleAndSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		st := openStore(t, dir)
		defer st.Close()
		createFunction(t, st, "tick", scf.TypeEvent)
		q := &queue{}
		svc, stop := run(t, st, q)

		tr := &scf.Trigger{Namespace: "default", Function: "tick", Name: "every2s", Type: scf.TriggerTimer,
			Desc: "*/2 * * * * * *", CustomArgument: "hello", Enabled: true}
		if err := svc.Create(ctx, tr); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		time.Sleep(7500 * time.Millisecond)
		synctest.Wait()
		fired := q.take()
		if n := len(fired); n < 3 || n > 4 {
			t.Fatalf("%d fires in 7.5 s, want 3 or 4", n)
		}
		for i, r := range fired {
			if r.Namespace != "default" || r.Function != "tick" || r.Qualifier != scf.Latest || r.TriggerSrc != "timer" || !r.Async {
				t.Errorf("fire %d: %+v", i, r)
			}
			var ev TimerEvent
			if err := json.Unmarshal(r.Event, &ev); err != nil {
				t.Fatalf("fire %d: event %s: %v", i, r.Event, err)
			}
			at, err := time.Parse(time.RFC3339, ev.Time)
			if err != nil || ev.Type != "Timer" || ev.TriggerName != "every2s" || ev.Message != "hello" {
				t.Errorf("fire %d: event %+v (%v)", i, ev, err)
			}
			if want := start.Add(time.Duration(2*(i+1)) * time.Second).UTC().Truncate(time.Second); !at.Equal(want) {
				t.Errorf("fire %d at %v, want %v", i, at, want)
			}
		}

		if _, err := svc.Update(ctx, "default", "tick", "every2s", func(t *scf.Trigger) error { t.Enabled = false; return nil }); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if n := len(q.take()); n != 0 {
			t.Errorf("a disabled timer fired %d times", n)
		}
		if _, err := svc.Update(ctx, "default", "tick", "every2s", func(t *scf.Trigger) error { t.Enabled = true; return nil }); err != nil {
			t.Fatal(err)
		}
		// Re-enabled at 17.5 s: the next fire is at 18 s, and the fires
		// missed while disabled are not made up.
		time.Sleep(time.Second)
		synctest.Wait()
		if n := len(q.take()); n != 1 {
			t.Errorf("re-enabled timer: %d fires in 1 s, want 1 (no catch-up for the disabled time)", n)
		}

		// Downtime of a minute: one catch-up fire at start, then the schedule.
		stop()
		time.Sleep(time.Minute)
		svc, stop = run(t, st, q)
		synctest.Wait()
		if n := len(q.take()); n != 1 {
			t.Errorf("after downtime: %d catch-up fires, want 1", n)
		}
		time.Sleep(4500 * time.Millisecond)
		synctest.Wait()
		if n := len(q.take()); n != 2 {
			t.Errorf("after restart: %d fires in 4.5 s, want 2", n)
		}

		if err := svc.Delete(ctx, "default", "tick", "every2s"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if n := len(q.take()); n != 0 {
			t.Errorf("a deleted timer fired %d times", n)
		}
		stop()
	})
}

// A timer on $DEFAULT runs what InvokeFunction runs: $DEFAULT, which
// without such an alias is $LATEST. A timer whose qualifier cannot run
// says so in its state, with its last and next fire, and queues nothing.
func TestTimerQualifierState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		st := openStore(t, t.TempDir())
		defer st.Close()
		createFunction(t, st, "tick", scf.TypeEvent)
		createFunction(t, st, "web", scf.TypeHTTP)
		q := &queue{}
		svc, stop := run(t, st, q)
		defer stop()
		timer := func(fn, name, qualifier string) *scf.Trigger {
			tr := &scf.Trigger{Namespace: "default", Function: fn, Name: name, Type: scf.TriggerTimer,
				Desc: "*/2 * * * * * *", Qualifier: qualifier, Enabled: true}
			if err := svc.Create(ctx, tr); err != nil {
				t.Fatal(err)
			}
			return tr
		}
		def := timer("tick", "default", scf.DefaultAlias)
		// A timer bound to an alias that is then deleted.
		if err := st.CreateAlias(ctx, &scf.Alias{Namespace: "default", Function: "tick", Name: "prod", FunctionVersion: scf.Latest}); err != nil {
			t.Fatal(err)
		}
		prod := timer("tick", "prod", "prod")
		if err := st.DeleteAlias(ctx, "default", "tick", "prod"); err != nil {
			t.Fatal(err)
		}
		web := timer("web", "web", scf.Latest)
		start := time.Now()
		state := func(tr *scf.Trigger) scf.TriggerState {
			s, err := svc.State(ctx, tr)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		if s := state(def); !s.Available || !s.LastRun.IsZero() || !s.NextRun.Equal(start.Add(2*time.Second).Truncate(time.Second)) {
			t.Errorf("$DEFAULT before its first fire: %+v", s)
		}
		time.Sleep(2500 * time.Millisecond)
		synctest.Wait()
		fired := q.take()
		if len(fired) != 1 || fired[0].Qualifier != scf.DefaultAlias {
			t.Fatalf("fires %+v, want one of $DEFAULT (prod and web cannot run)", fired)
		}
		if s := state(def); !s.Available || s.LastError != "" || !s.LastRun.Equal(start.Add(2*time.Second).Truncate(time.Second)) {
			t.Errorf("$DEFAULT after a fire: %+v", s)
		}
		if s := state(prod); s.Available || !strings.Contains(s.Reason, "alias prod does not exist") || s.LastRun.IsZero() || s.LastError == "" || s.NextRun.IsZero() {
			t.Errorf("a timer on a missing alias: %+v", s)
		}
		if s := state(web); s.Available || !strings.Contains(s.Reason, "HTTP function") {
			t.Errorf("a timer on an HTTP function: %+v", s)
		}
		// Once the alias exists again, its timer runs.
		if err := st.CreateAlias(ctx, &scf.Alias{Namespace: "default", Function: "tick", Name: "prod", FunctionVersion: scf.Latest}); err != nil {
			t.Fatal(err)
		}
		if s := state(prod); !s.Available || s.Reason != "" {
			t.Errorf("a timer on an alias that now exists: %+v", s)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if n := len(q.take()); n != 2 {
			t.Errorf("%d fires, want 2 ($DEFAULT and prod)", n)
		}
		if s := state(prod); s.LastError != "" {
			t.Errorf("prod ran, yet its last error is %q", s.LastError)
		}
		// A disabled timer has no next fire.
		if _, err := svc.Update(ctx, "default", "tick", "prod", func(t *scf.Trigger) error { t.Enabled = false; return nil }); err != nil {
			t.Fatal(err)
		}
		if s := state(prod); !s.NextRun.IsZero() {
			t.Errorf("a disabled timer's next fire: %v", s.NextRun)
		}
	})
}

func TestTriggerValidation(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	defer st.Close()
	createFunction(t, st, "ev", scf.TypeEvent)
	createFunction(t, st, "web", scf.TypeHTTP)
	svc, stop := run(t, st, &queue{})
	defer stop()
	for _, tc := range []struct {
		tr    scf.Trigger
		class error
		res   string
	}{
		{scf.Trigger{Function: "ev", Name: "t", Type: "timer", Desc: "* * *"}, errdefs.ErrInvalidArgument, "TriggerDesc"},
		{scf.Trigger{Function: "ev", Name: "1t", Type: "timer", Desc: "*/5 * * * * * *"}, errdefs.ErrInvalidArgument, "TriggerName"},
		{scf.Trigger{Function: "ev", Name: "t", Type: "cos"}, errdefs.ErrInvalidArgument, "Type"},
		{scf.Trigger{Function: "ghost", Name: "t", Type: "timer", Desc: "*/5 * * * * * *"}, errdefs.ErrNotFound, "Function"},
		{scf.Trigger{Function: "ev", Name: "t", Type: "timer", Desc: "*/5 * * * * * *", Qualifier: "7"}, errdefs.ErrNotFound, "Qualifier"},
		{scf.Trigger{Function: "web", Name: "t", Type: "apigw"}, errdefs.ErrInvalidArgument, "Type"},
	} {
		tr := tc.tr
		tr.Namespace = "default"
		err := svc.Create(ctx, &tr)
		if !errors.Is(err, tc.class) || errdefs.Resource(err) != tc.res {
			t.Errorf("Create(%+v) = %v, want %v about %s", tc.tr, err, tc.class, tc.res)
		}
	}
	gw := &scf.Trigger{Namespace: "default", Function: "ev", Name: "api", Type: "apigw", Enabled: true}
	if err := svc.Create(ctx, gw); err != nil {
		t.Fatal(err)
	}
	if want := "http://127.0.0.1:9200/default/ev/apigw/api/"; gw.Desc != want {
		t.Errorf("apigw TriggerDesc = %q, want %q", gw.Desc, want)
	}
	if err := svc.Create(ctx, gw); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Errorf("duplicate: %v", err)
	}
	list, err := svc.List(ctx, "default", "ev")
	if err != nil || len(list) != 1 {
		t.Errorf("List: %v %v", list, err)
	}
	if err := svc.Forget(ctx, "default", "ev"); err != nil {
		t.Fatal(err)
	}
	if list, _ := svc.List(ctx, "default", "ev"); len(list) != 0 {
		t.Errorf("triggers outlived their function: %v", list)
	}
}
