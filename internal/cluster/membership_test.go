package cluster

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scfd/scfd/internal/store"
)

// clock is a fake time source moved by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// openStores opens the store in one directory n times, as n processes
// sharing the database would.
func openStores(t *testing.T, n int) []*store.Store {
	t.Helper()
	dir := t.TempDir()
	var out []*store.Store
	for range n {
		st, err := store.Open(context.Background(), dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		out = append(out, st)
	}
	return out
}

func join(t *testing.T, st *store.Store, c *clock, id string) *Membership {
	t.Helper()
	m, err := Join(context.Background(), Options{DB: st, Self: Member{ID: id, Addr: id + ":9400"}, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Beat(context.Background()); err != nil { // the first heartbeat, once it serves
		t.Fatal(err)
	}
	return m
}

func ids(v *View) []string {
	var out []string
	for _, m := range v.Members() {
		out = append(out, m.ID)
	}
	return out
}

// beat runs one heartbeat of each replica.
func beat(t *testing.T, ms ...*Membership) {
	t.Helper()
	for _, m := range ms {
		if err := m.Beat(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMembership(t *testing.T) {
	ctx := context.Background()
	stores := openStores(t, 3)
	c := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	a := join(t, stores[0], c, "a")
	b := join(t, stores[1], c, "b")
	var changes []Change
	a.Subscribe(func(ch Change) { changes = append(changes, ch) })

	// Both see each other after a heartbeat.
	c.advance(time.Second)
	beat(t, b, a)
	for _, m := range []*Membership{a, b} {
		if diff := cmp.Diff([]string{"a", "b"}, ids(m.View())); diff != "" {
			t.Fatalf("view of %s (-want +got):\n%s", m.Self().ID, diff)
		}
	}
	if got, _ := b.View().Owner(Key{"ns", "fn"}); got.Addr != got.ID+":9400" {
		t.Errorf("owner %v: address not read", got)
	}

	// A third joins; b stops beating (killed): it is live until its
	// heartbeat is Timeout old by a's clock, then gone. (a saw it at
	// once; a replica that reads just before a heartbeat sees it up to
	// Interval later.)
	x := join(t, stores[2], c, "x")
	for range 2 {
		c.advance(time.Second)
		beat(t, a, x)
	}
	if diff := cmp.Diff([]string{"a", "b", "x"}, ids(a.View())); diff != "" {
		t.Fatalf("2 s after b's last heartbeat (-want +got):\n%s", diff)
	}
	c.advance(time.Second)
	beat(t, a, x)
	if diff := cmp.Diff([]string{"a", "x"}, ids(a.View())); diff != "" {
		t.Fatalf("3 s after b's last heartbeat (-want +got):\n%s", diff)
	}
	last := changes[len(changes)-1]
	if diff := cmp.Diff([]Member{{ID: "b", Addr: "b:9400"}}, last.Gone); diff != "" {
		t.Errorf("gone (-want +got):\n%s", diff)
	}
	// b's keys moved to the others, no other key moved.
	gained, lost := Moved(last.Old, last.New, keys(1000))
	if len(lost) != 0 || len(gained) == 0 {
		t.Errorf("a gained %d keys and lost %d when b died", len(gained), len(lost))
	}
	for _, k := range gained {
		if o, _ := last.Old.Owner(k); o.ID != "b" {
			t.Errorf("%v moved to a from %s, which is still live", k, o.ID)
		}
	}

	// x leaves cleanly: out of a's view at a's next heartbeat, without
	// waiting, but not gone while it drains, its heartbeat going on
	// (its instances are its own to stop)...
	if err := x.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	n := len(changes)
	beat(t, a)
	if diff := cmp.Diff([]string{"a"}, ids(a.View())); diff != "" {
		t.Fatalf("after x left (-want +got):\n%s", diff)
	}
	for range 5 {
		c.advance(time.Second)
		beat(t, x) // leaving, it still beats
		beat(t, a)
	}
	if x.Joined() || slices.Contains(ids(a.View()), "x") || slices.Contains(ids(x.View()), "x") {
		t.Errorf("x counted in while leaving: joined %v, a sees %v, x sees %v", x.Joined(), ids(a.View()), ids(x.View()))
	}
	for _, ch := range changes[n:] {
		if len(ch.Gone) > 0 {
			t.Errorf("gone while x drains: %v", ch.Gone)
		}
	}
	// ...and gone once it departs.
	if err := x.Depart(ctx); err != nil {
		t.Fatal(err)
	}
	beat(t, a)
	if got := changes[len(changes)-1].Gone; len(got) != 1 || got[0].ID != "x" {
		t.Errorf("gone after x departed: %v", got)
	}
	beat(t, x) // a replica that departed writes no heartbeat again
	beat(t, a)
	if slices.Contains(ids(a.View()), "x") {
		t.Error("x is back after a heartbeat following its Depart")
	}

	// y leaves, and dies while draining: gone once its heartbeat is
	// Timeout old.
	y := join(t, stores[2], c, "y")
	beat(t, a)
	if err := y.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	beat(t, a)
	n = len(changes)
	for range 3 {
		c.advance(time.Second)
		beat(t, a)
	}
	var gone []string
	for _, ch := range changes[n:] {
		for _, m := range ch.Gone {
			gone = append(gone, m.ID)
		}
	}
	if diff := cmp.Diff([]string{"y"}, gone); diff != "" {
		t.Errorf("gone after y died leaving (-want +got):\n%s", diff)
	}

	// b restarts under the same ID (its process came back): live again.
	beat(t, b)
	beat(t, a)
	if diff := cmp.Diff([]string{"a", "b"}, ids(a.View())); diff != "" {
		t.Fatalf("after b's heartbeat resumed (-want +got):\n%s", diff)
	}
}

func TestStaleRowsAreNotLive(t *testing.T) {
	stores := openStores(t, 2)
	c := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	join(t, stores[0], c, "dead")
	c.advance(DefaultTimeout)
	b := join(t, stores[1], c, "b")
	if diff := cmp.Diff([]string{"b"}, ids(b.View())); diff != "" {
		t.Fatalf("a replica that joins after another died (-want +got):\n%s", diff)
	}
	// Its subscribers learn that it is gone (its instances are
	// nobody's), once.
	var gone []string
	b.Subscribe(func(ch Change) {
		for _, m := range ch.Gone {
			gone = append(gone, m.ID)
		}
	})
	beat(t, b)
	if diff := cmp.Diff([]string{"dead"}, gone); diff != "" {
		t.Errorf("gone (-want +got):\n%s", diff)
	}
	// A minute later its row is deleted.
	c.advance(DefaultForget)
	beat(t, b)
	var n int
	if err := stores[1].DB().QueryRow(`SELECT COUNT(*) FROM replicas`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d rows, want b's only", n)
	}
}

func TestSuspect(t *testing.T) {
	stores := openStores(t, 2)
	c := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	a := join(t, stores[0], c, "a")
	b := join(t, stores[1], c, "b")
	beat(t, a)
	var gone []Member
	a.Subscribe(func(ch Change) { gone = append(gone, ch.Gone...) })
	a.Suspect("a") // never itself
	a.Suspect("b")
	if diff := cmp.Diff([]string{"a"}, ids(a.View())); diff != "" {
		t.Fatalf("after suspecting b (-want +got):\n%s", diff)
	}
	// Though b keeps beating, it stays out for Timeout; it was never gone.
	for range 2 {
		c.advance(time.Second)
		beat(t, b, a)
		if slices.Contains(ids(a.View()), "b") {
			t.Fatal("b is back before its suspicion ended")
		}
	}
	c.advance(time.Second)
	beat(t, b, a)
	if diff := cmp.Diff([]string{"a", "b"}, ids(a.View())); diff != "" {
		t.Fatalf("after the suspicion (-want +got):\n%s", diff)
	}
	if len(gone) != 0 {
		t.Errorf("a suspect was reported gone: %v", gone)
	}
}

// Replicas whose clocks disagree by more than Forget still see each
// other: liveness is judged by when a heartbeat moved, on the reader's
// clock, and nobody deletes a row it has not seen stand still.
func TestClocksNeedNotAgree(t *testing.T) {
	stores := openStores(t, 2)
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ahead := &clock{t: base.Add(10 * time.Minute)}
	behind := &clock{t: base}
	a := join(t, stores[0], ahead, "a")
	b := join(t, stores[1], behind, "b")
	for range 5 {
		ahead.advance(time.Second)
		behind.advance(time.Second)
		beat(t, a, b)
	}
	for _, m := range []*Membership{a, b} {
		if diff := cmp.Diff([]string{"a", "b"}, ids(m.View())); diff != "" {
			t.Errorf("view of %s (-want +got):\n%s", m.Self().ID, diff)
		}
	}
}

// A replica that joined is not forwarded to before its first heartbeat
// (written once it serves), though it counts itself already.
func TestJoinWritesNoHeartbeat(t *testing.T) {
	stores := openStores(t, 2)
	c := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	a := join(t, stores[0], c, "a")
	b, err := Join(context.Background(), Options{DB: stores[1], Self: Member{ID: "b", Addr: "b:9400"}, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "b"}, ids(b.View())); diff != "" {
		t.Errorf("b's view after Join (-want +got):\n%s", diff)
	}
	beat(t, a)
	if diff := cmp.Diff([]string{"a"}, ids(a.View())); diff != "" {
		t.Errorf("a's view before b's first heartbeat (-want +got):\n%s", diff)
	}
	if b.Joined() {
		t.Error("b is Joined before its first heartbeat")
	}
	beat(t, b, a)
	if diff := cmp.Diff([]string{"a", "b"}, ids(a.View())); diff != "" {
		t.Errorf("a's view after it (-want +got):\n%s", diff)
	}
	if b.Joined() {
		t.Error("b is Joined at its first heartbeat, before the others' next read")
	}
	c.advance(DefaultInterval)
	if !b.Joined() {
		t.Error("b is not Joined an Interval after its first heartbeat")
	}
	if err := b.Leave(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b.Joined() {
		t.Error("b is Joined after it left")
	}
}
