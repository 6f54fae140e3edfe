package trigger

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/scfd/scfd/internal/async"
	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/invocation"
	"github.com/scfd/scfd/internal/scf"
	"github.com/scfd/scfd/internal/store"
)

// replicaQueue is one replica's async queue, counting what its timers
// queued and what another replica had queued first.
type replicaQueue struct {
	q *async.Queue

	mu              sync.Mutex
	queued, already int
}

func (r *replicaQueue) Enqueue(ctx context.Context, req invocation.Request) (string, error) {
	id, err := r.q.Enqueue(ctx, req)
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case err == nil:
		r.queued++
	case errors.Is(err, errdefs.ErrAlreadyExists):
		r.already++
	}
	return id, err
}

func (r *replicaQueue) counts() (queued, already int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.queued, r.already
}

type succeed struct{}

func (succeed) Invoke(_ context.Context, req invocation.Request) (*invocation.Result, error) {
	return &invocation.Result{RequestID: req.RequestID}, nil
}

// replica is one scfd replica's async queue and timers over st.
type replica struct {
	svc   *Service
	queue *replicaQueue
	stop  context.CancelFunc
}

func startReplica(t *testing.T, st *store.Store) *replica {
	t.Helper()
	q, err := async.Open(context.Background(), async.Options{Store: st, Functions: st, Aliases: st, Invoker: succeed{}})
	if err != nil {
		t.Fatal(err)
	}
	rq := &replicaQueue{q: q}
	svc, stop := run(t, st, rq)
	return &replica{svc: svc, queue: rq, stop: func() { stop(); q.Close() }}
}

// firedTimes lists the scheduled times of the timer events in the queue,
// oldest first, one entry per event.
func firedTimes(t *testing.T, st *store.Store) []time.Time {
	t.Helper()
	rows, err := st.DB().Query(`SELECT event FROM async_events WHERE invoke_type = 'timer'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []time.Time
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			t.Fatal(err)
		}
		var ev TimerEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatal(err)
		}
		at, err := time.Parse(time.RFC3339, ev.Time)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, at)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

// Two replicas on one database fire each scheduled time of a timer once
// between them: the one that did not create the timer learns of it from
// the database, keeps it going when the other dies, stops it when the
// other disables or deletes it, and after both were down the timer makes
// up one missed time, not one per replica.
func TestTimersFireOncePerTimeOnTwoReplicas(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		st := openStore(t, dir)
		defer st.Close()
		createFunction(t, st, "tick", scf.TypeEvent)
		a, b := startReplica(t, st), startReplica(t, st)
		tr := &scf.Trigger{Namespace: "default", Function: "tick", Name: "every2s", Type: scf.TriggerTimer,
			Desc: "*/2 * * * * * *", Enabled: true}
		if err := a.svc.Create(ctx, tr); err != nil {
			t.Fatal(err)
		}
		start := time.Now().UTC().Truncate(2 * time.Second)
		// every wants the fire times after from, up to to, every 2 s.
		every := func(from, to time.Time) []time.Time {
			var out []time.Time
			for at := from.Truncate(2 * time.Second).Add(2 * time.Second); !at.After(to); at = at.Add(2 * time.Second) {
				out = append(out, at)
			}
			return out
		}
		// settle lets what is due happen. A replica may be waiting for
		// SQLite's write lock in its busy handler, which sleeps on the
		// bubble's clock: Wait alone does not see it through.
		settle := func() {
			time.Sleep(500 * time.Millisecond)
			synctest.Wait()
		}
		check := func(what string, want []time.Time) {
			t.Helper()
			got := firedTimes(t, st)
			if len(got) != len(want) {
				t.Fatalf("%s: %d events %v, want %d %v", what, len(got), got, len(want), want)
			}
			for i := range got {
				if !got[i].Equal(want[i]) {
					t.Fatalf("%s: event %d at %v, want %v (all: %v)", what, i, got[i], want[i], got)
				}
			}
		}

		time.Sleep(30*time.Second + 200*time.Millisecond)
		settle()
		check("both replicas", every(start, time.Now()))
		qa, aa := a.queue.counts()
		qb, ab := b.queue.counts()
		if qa+qb != 15 || aa+ab == 0 || qb+ab == 0 {
			t.Errorf("a queued %d and found %d queued, b %d and %d: want 15 queued between them, b firing too", qa, aa, qb, ab)
		}

		// a dies: b keeps the timer going, missing no time.
		a.stop()
		time.Sleep(10 * time.Second)
		settle()
		check("b alone", every(start, time.Now()))

		// Both down for a minute, then both up: one catch-up fire.
		b.stop()
		down := time.Now()
		time.Sleep(time.Minute)
		a, b = startReplica(t, st), startReplica(t, st)
		settle()
		caughtUp := append(every(start, down), time.Now().UTC().Truncate(2*time.Second))
		check("after downtime", caughtUp)

		// Disabled on b: a, which armed the timer, does not fire it.
		if _, err := b.svc.Update(ctx, "default", "tick", "every2s", func(t *scf.Trigger) error { t.Enabled = false; return nil }); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		settle()
		check("disabled", caughtUp)
		if _, err := b.svc.Update(ctx, "default", "tick", "every2s", func(t *scf.Trigger) error { t.Enabled = true; return nil }); err != nil {
			t.Fatal(err)
		}
		enabled := time.Now()
		time.Sleep(4 * time.Second)
		settle()
		check("enabled again", append(caughtUp, every(enabled, time.Now())...))

		// Deleted on b: a stops at once.
		if err := b.svc.Delete(ctx, "default", "tick", "every2s"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		settle()
		check("deleted", append(caughtUp, every(enabled, enabled.Add(4*time.Second))...))
		a.stop()
		b.stop()
	})
}
