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

// Two pools on one store stand for two replicas: the settings one
// changes reach the other's pool when it reloads them, and the owner
// starts and stops the provisioned instances.
func TestReloadSettings(t *testing.T) {
	owner := newFakeEnv(t, nil)
	other := owner.open(t, func(o *Options) { o.Owns = func(string, string) bool { return false } })
	ctx := context.Background()
	v1 := owner.publish(t, testFunction("f"), "1")

	mustNil(t, other.PutReserved(ctx, "default", "f", 1024))
	mustNil(t, other.PutProvisioned(ctx, "default", "f", "1", 2))
	if n := owner.d.count(); n != 0 {
		t.Fatalf("%d instances started by the replica that does not own f", n)
	}
	mustNil(t, owner.p.ReloadSettings(ctx))
	if mb, ok, _ := owner.p.GetReserved(ctx, "default", "f"); !ok || mb != 1024 {
		t.Errorf("reserved after the reload: %d, %v", mb, ok)
	}
	if _, reserved := owner.p.TotalConcurrency(); reserved != 1024 {
		t.Errorf("reserved in all: %d MB, want 1024", reserved)
	}
	eventually(t, "two provisioned instances on the owner", func() bool { return provisioned(t, owner.p, v1, "1").Available == 2 })

	mustNil(t, other.PutProvisioned(ctx, "default", "f", "1", 1))
	mustNil(t, owner.p.ReloadSettings(ctx))
	eventually(t, "one provisioned instance left", func() bool { return len(owner.d.running()) == 1 })

	mustNil(t, other.DeleteProvisioned(ctx, "default", "f", "1"))
	mustNil(t, other.DeleteReserved(ctx, "default", "f"))
	mustNil(t, owner.p.ReloadSettings(ctx))
	if _, ok, _ := owner.p.GetReserved(ctx, "default", "f"); ok {
		t.Error("the reserved quota deleted through the other replica is still set")
	}
	if _, reserved := owner.p.TotalConcurrency(); reserved != 0 {
		t.Errorf("reserved in all: %d MB, want 0", reserved)
	}
	eventually(t, "the provisioned instance stopped", func() bool { return len(owner.d.running()) == 0 })
	// A reload that changes nothing changes nothing.
	started := owner.d.count()
	mustNil(t, owner.p.ReloadSettings(ctx))
	if owner.d.count() != started {
		t.Error("a reload without changes started instances")
	}
}
