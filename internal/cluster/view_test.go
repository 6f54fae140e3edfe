package cluster

import (
	"fmt"
	"testing"
)

func members(n int) []Member {
	var ms []Member
	for i := range n {
		ms = append(ms, Member{ID: fmt.Sprintf("replica-%d", i), Addr: fmt.Sprintf("10.0.0.%d:9400", i)})
	}
	return ms
}

func keys(n int) []Key {
	var ks []Key
	for i := range n {
		ks = append(ks, Key{Namespace: fmt.Sprintf("ns%d", i%7), Function: fmt.Sprintf("fn-%d", i)})
	}
	return ks
}

func TestOwnerIsTheSameOnEveryReplica(t *testing.T) {
	ms := members(5)
	for _, k := range keys(200) {
		want, _ := NewView(ms[0].ID, ms).Owner(k)
		for _, m := range ms {
			// Another replica, members listed in another order.
			rev := append([]Member(nil), ms...)
			for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
				rev[i], rev[j] = rev[j], rev[i]
			}
			got, self := NewView(m.ID, rev).Owner(k)
			if got != want || self != (got.ID == m.ID) {
				t.Fatalf("%v on %s: got %v (self %v), want %v", k, m.ID, got, self, want)
			}
		}
	}
}

func TestRemovingAReplicaMovesOnlyItsKeys(t *testing.T) {
	ms := members(5)
	before := NewView("", ms)
	gone := ms[2]
	after := NewView("", append(append([]Member(nil), ms[:2]...), ms[3:]...))
	moved := 0
	for _, k := range keys(5000) {
		b, _ := before.Owner(k)
		a, _ := after.Owner(k)
		if b.ID != gone.ID && a != b {
			t.Fatalf("%v moved from %s to %s, though %s stayed", k, b.ID, a.ID, b.ID)
		}
		if b.ID == gone.ID {
			moved++
			if next, _ := before.Next(k, gone.ID); next != a {
				t.Fatalf("%v: Next without %s is %s, the owner after it left is %s", k, gone.ID, next.ID, a.ID)
			}
		}
	}
	if moved == 0 {
		t.Fatal("no key was owned by the replica removed")
	}
	// Adding it back moves exactly those keys back.
	gained, lost := Moved(NewView(gone.ID, after.Members()), NewView(gone.ID, ms), keys(5000))
	if len(gained) != moved || len(lost) != 0 {
		t.Errorf("adding %s back: gained %d, lost %d; want %d and 0", gone.ID, len(gained), len(lost), moved)
	}
}

func TestOwnershipIsBalanced(t *testing.T) {
	const n, nkeys = 5, 20000
	v := NewView("", members(n))
	count := map[string]int{}
	for _, k := range keys(nkeys) {
		o, _ := v.Owner(k)
		count[o.ID]++
	}
	for id, c := range count {
		if share := float64(c) / nkeys; share < 0.8/n || share > 1.2/n {
			t.Errorf("%s owns %.1f%% of the keys, want about %.0f%%", id, 100*share, 100.0/n)
		}
	}
	if len(count) != n {
		t.Errorf("%d replicas own keys, want %d", len(count), n)
	}
}

func TestEmptyView(t *testing.T) {
	var nilView *View
	for _, v := range []*View{nilView, NewView("a", nil)} {
		if m, self := v.Owner(Key{"ns", "fn"}); m != (Member{}) || self {
			t.Errorf("empty view: owner %v, self %v", m, self)
		}
	}
	if _, self := NewView("a", []Member{{ID: "a"}}).Owner(Key{"ns", "fn"}); !self {
		t.Error("a replica alone does not own every key")
	}
}

func TestOwnerDoesNotAllocate(t *testing.T) {
	v := NewView("replica-1", members(5))
	k := Key{"default", "hello"}
	if n := testing.AllocsPerRun(100, func() { v.Owner(k) }); n != 0 {
		t.Errorf("Owner allocates %v times", n)
	}
}

func BenchmarkOwner(b *testing.B) {
	v := NewView("replica-1", members(5))
	k := Key{"default", "hello"}
	for b.Loop() {
		v.Owner(k)
	}
}
