package pool

import (
	"context"
	"sync/atomic"
	"testing"
)

func TestRebalanceFollowsOwnership(t *testing.T) {
	var owned atomic.Bool
	e := newFakeEnv(t, func(o *Options) {
		o.Owns = func(ns, name string) bool { return name != "f" || owned.Load() }
	})
	ctx := context.Background()
	v1 := e.publish(t, testFunction("f"), "1")

	// Another replica owns f: its provisioned instances run there.
	mustNil(t, e.p.PutProvisioned(ctx, "default", "f", "1", 2))
	if n := e.d.count(); n != 0 {
		t.Fatalf("%d instances started for a function another replica owns", n)
	}
	// A call that reaches this replica anyway (its owner could not be
	// reached) is served.
	l, err := e.p.Acquire(ctx, v1)
	mustNil(t, err)
	l.Release(Healthy)

	// f moves here: its provisioned instances start.
	owned.Store(true)
	e.p.Rebalance(ctx)
	eventually(t, "two provisioned instances", func() bool { return provisioned(t, e.p, v1, "1").Available == 2 })

	// A busy instance finishes its call after f moved away; everything
	// else stops at once, and nothing comes back.
	busy, err := e.p.Acquire(ctx, v1)
	mustNil(t, err)
	owned.Store(false)
	e.p.Rebalance(ctx)
	eventually(t, "only the busy instance left", func() bool { return len(e.d.running()) == 1 })
	busy.Release(Healthy)
	eventually(t, "no instance left", func() bool { return len(e.d.running()) == 0 })
	if got := provisioned(t, e.p, v1, "1"); got.Allocated != 2 {
		t.Errorf("the setting was lost: %+v", got)
	}
	started := e.d.count()
	e.p.Rebalance(ctx)
	if e.d.count() != started {
		t.Error("instances started for a function this replica does not own")
	}
}
