package tc3

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// memShared is a SharedReplays in memory, atomic as the store's is, that
// counts what it is asked.
type memShared struct {
	mu      sync.Mutex
	recs    map[string]*memRecord
	claims  int
	adds    int
	err     error  // answered by every call when set
	onClaim func() // called before each claim is answered, mu not held
}

type memRecord struct {
	actions []string
	client  string
	first   time.Time
	expires time.Time
}

func newMemShared() *memShared { return &memShared{recs: map[string]*memRecord{}} }

func (m *memShared) ClaimSignature(ctx context.Context, key []byte, action, client string, now, expires time.Time) ([]string, string, time.Time, error) {
	if m.onClaim != nil {
		m.onClaim()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.claims++
	if m.err != nil {
		return nil, "", time.Time{}, m.err
	}
	r, ok := m.recs[string(key)]
	if !ok {
		r = &memRecord{actions: []string{action}, client: client, first: now, expires: expires}
		m.recs[string(key)] = r
	}
	return slices.Clone(r.actions), r.client, r.first, nil
}

func (m *memShared) AddSignatureAction(ctx context.Context, key []byte, served []string, action string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.adds++
	if m.err != nil {
		return false, m.err
	}
	r, ok := m.recs[string(key)]
	if !ok || !slices.Equal(r.actions, served) {
		return false, nil
	}
	r.actions = append(r.actions, action)
	return true, nil
}

func (m *memShared) calls() (claims, adds int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.claims, m.adds
}

func keyOf(v Verified) []byte {
	b, _ := hex.DecodeString(v.Signature[:32])
	return b
}

// The rules of one process hold across processes sharing a record: each
// use of a scenario goes to the next process in turn.
func TestSharedReplaysApplyTheRulesAcrossProcesses(t *testing.T) {
	at := time.Unix(1735787045, 0)
	type step struct {
		action, client string
		after          time.Duration
		want           error // nil, or the class
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"another action from elsewhere", []step{
			{"GetFunction", client, 0, nil},
			{"DeleteFunction", attacker, 100 * time.Millisecond, ErrSignatureReplayed},
			{"GetFunction", attacker, time.Second, nil}, // a retry, from anywhere
			{"DeleteFunction", attacker, 2 * time.Second, ErrSignatureReplayed},
		}},
		{"another action later", []step{
			{"GetFunction", client, 0, nil},
			{"DeleteFunction", client, ReplayGrace + time.Millisecond, ErrSignatureReplayed},
			{"DeleteFunction", client, MaxSkew, ErrSignatureReplayed},
		}},
		{"one client's actions at once", []step{
			{"CreateFunction", client, 0, nil},
			{"GetFunction", client, 300 * time.Millisecond, nil},
			{"DeleteFunction", client, 600 * time.Millisecond, nil},
			{"GetFunction", client, 900 * time.Millisecond, nil},
			{"ListVersionByFunction", client, 1200 * time.Millisecond, nil},
			{"PublishVersion", client, 2 * time.Second, ErrSignatureReplayed}, // a fifth
			{"DeleteFunction", attacker, time.Minute, nil},
			{"UpdateFunctionCode", client, time.Minute, ErrSignatureReplayed},
		}},
	} {
		for _, processes := range []int{1, 2, 3} {
			t.Run(fmt.Sprintf("%s/%d processes", tc.name, processes), func(t *testing.T) {
				shared := newMemShared()
				var ps []*Replays
				for range processes {
					opts := ReplayOptions{}
					if processes > 1 {
						opts.Shared = shared
					}
					ps = append(ps, NewReplays(opts))
				}
				v := verified("AKIDa", 1, at)
				for i, s := range tc.steps {
					err := use(ps[i%processes], v, s.action, s.client, at.Add(s.after))
					if (s.want == nil && err != nil) || (s.want != nil && !errors.Is(err, s.want)) {
						t.Fatalf("step %d, %s from %s after %v: %v, want %v", i, s.action, s.client, s.after, err, s.want)
					}
				}
			})
		}
	}
}

// A signature this process saw serve the action passes without a round
// trip; anything else asks the shared record, and only what it allowed is
// remembered.
func TestSharedReplaysAskOnlyWhatIsNotKnown(t *testing.T) {
	at := time.Unix(1735787045, 0)
	shared := newMemShared()
	p := NewReplays(ReplayOptions{Shared: shared})
	v := verified("AKIDa", 1, at)
	if err := use(p, v, "GetFunction", client, at); err != nil {
		t.Fatal(err)
	}
	if c, a := shared.calls(); c != 1 || a != 0 {
		t.Fatalf("a new signature: %d claims, %d adds; want 1, 0", c, a)
	}
	want := expires(at.Unix() / 60)
	if got := shared.recs[string(keyOf(v))].expires; !got.Equal(want) || want.Sub(at) < MaxSkew {
		t.Errorf("the shared record expires at %v, want %v", got, want)
	}
	for i := range 3 {
		if err := use(p, v, "GetFunction", attacker, at.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if c, _ := shared.calls(); c != 1 {
		t.Fatalf("the same action again: %d claims, want still 1", c)
	}

	// Another process took a signature first, for another action: refused
	// here, every time, and never remembered as allowed.
	w := verified("AKIDa", 2, at)
	if _, _, _, err := shared.ClaimSignature(context.Background(), keyOf(w), "GetFunction", client, at, expires(at.Unix()/60)); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		err := use(p, w, "DeleteFunction", attacker, at.Add(time.Second))
		if !errors.Is(err, ErrSignatureReplayed) || Code(err) != "AuthFailure.SignatureFailure" {
			t.Fatalf("attempt %d: another process's GetFunction as DeleteFunction: %v", i, err)
		}
	}
	if c, _ := shared.calls(); c != 1+1+2 {
		t.Fatalf("refused uses asked %d times in all, want each asked", c-2)
	}
	if got := p.Len(); got != 1 {
		t.Errorf("Len = %d, want 1: a refused signature is not remembered", got)
	}

	// Remembered with one action, another is decided by the shared record
	// whose first use is earlier than this process's: the grace runs from
	// it.
	x := verified("AKIDa", 3, at)
	if _, _, _, err := shared.ClaimSignature(context.Background(), keyOf(x), "GetFunction", client, at, expires(at.Unix()/60)); err != nil {
		t.Fatal(err)
	}
	if err := use(p, x, "ListAliases", client, at.Add(4*time.Second)); err != nil {
		t.Fatalf("within the grace of the first use elsewhere: %v", err)
	}
	if err := use(p, x, "DeleteFunction", client, at.Add(ReplayGrace+time.Second)); !errors.Is(err, ErrSignatureReplayed) {
		t.Fatalf("past the grace of the first use elsewhere, within this process's: %v", err)
	}
	if err := use(p, x, "ListAliases", attacker, at.Add(time.Minute)); err != nil {
		t.Fatalf("an action it served: %v", err)
	}

	// Bounds are checked before the round trip.
	q := NewReplays(ReplayOptions{Shared: shared, MaxPerKey: 1})
	if err := use(q, verified("AKIDb", 10, at), "GetFunction", client, at); err != nil {
		t.Fatal(err)
	}
	before, _ := shared.calls()
	if err := use(q, verified("AKIDb", 11, at), "GetFunction", client, at); !errors.Is(err, ErrTooManySignatures) {
		t.Fatalf("over the bound: %v", err)
	}
	if after, _ := shared.calls(); after != before {
		t.Errorf("a signature over the bound was asked about")
	}
}

// Actions added by other processes between the read and the
// compare-and-swap are read again and count.
func TestSharedReplaysReadAgainWhenTheRecordChanged(t *testing.T) {
	at := time.Unix(1735787045, 0)
	shared := newMemShared()
	v := verified("AKIDa", 1, at)
	if err := use(NewReplays(ReplayOptions{Shared: shared}), v, "A1", client, at); err != nil {
		t.Fatal(err)
	}
	// Each of this process's reads is followed by another process adding
	// one action, until the record holds 4.
	p := NewReplays(ReplayOptions{Shared: racing{shared, func() {
		shared.mu.Lock()
		defer shared.mu.Unlock()
		if r := shared.recs[string(keyOf(v))]; len(r.actions) < maxActions {
			r.actions = append(r.actions, fmt.Sprint("A", len(r.actions)+1))
		}
	}}})
	err := use(p, v, "DeleteFunction", client, at.Add(time.Second))
	if !errors.Is(err, ErrSignatureReplayed) {
		t.Fatalf("a fifth action, the other four added meanwhile: %v", err)
	}
	if got := shared.recs[string(keyOf(v))].actions; !slices.Equal(got, []string{"A1", "A2", "A3", "A4"}) {
		t.Errorf("actions %v", got)
	}
	if _, adds := shared.calls(); adds != 3 {
		t.Errorf("%d compare-and-swaps, want 3 (each lost to another process)", adds)
	}
}

// racing is a shared record that another process changes between each
// claim and the compare-and-swap that follows it.
type racing struct {
	*memShared
	between func()
}

func (r racing) ClaimSignature(ctx context.Context, key []byte, action, client string, now, expires time.Time) ([]string, string, time.Time, error) {
	actions, c, first, err := r.memShared.ClaimSignature(ctx, key, action, client, now, expires)
	r.between()
	return actions, c, first, err
}

// An error of the shared record refuses the request, with an error of
// no tc3 code (an internal error), and leaves nothing remembered.
func TestSharedReplaysFailClosed(t *testing.T) {
	at := time.Unix(1735787045, 0)
	shared := newMemShared()
	down := errors.New("connection refused")
	shared.err = down
	p := NewReplays(ReplayOptions{Shared: shared})
	v := verified("AKIDa", 1, at)
	err := use(p, v, "GetFunction", client, at)
	if !errors.Is(err, down) || Code(err) != "" {
		t.Fatalf("with the record down: %v (code %q), want the error wrapped, no code", err, Code(err))
	}
	if p.Len() != 0 {
		t.Fatalf("a signature was remembered without the record's word")
	}
	shared.err = nil
	if err := use(p, v, "GetFunction", client, at.Add(time.Second)); err != nil {
		t.Fatalf("with the record back: %v", err)
	}
	shared.err = down
	if err := use(p, v, "GetFunction", client, at.Add(2*time.Second)); err != nil {
		t.Fatalf("a known signature and action need not the record: %v", err)
	}
	if err := use(p, v, "DeleteFunction", client, at.Add(2*time.Second)); !errors.Is(err, down) {
		t.Fatalf("another action with the record down: %v", err)
	}
}

// The lock is not held during the round trip: other requests go on.
func TestSharedReplaysDoNotHoldTheLockAcrossTheRoundTrip(t *testing.T) {
	at := time.Unix(1735787045, 0)
	shared := newMemShared()
	p := NewReplays(ReplayOptions{Shared: shared})
	known := verified("AKIDa", 1, at)
	if err := use(p, known, "GetFunction", client, at); err != nil {
		t.Fatal(err)
	}
	asked, release := make(chan struct{}), make(chan struct{})
	shared.onClaim = func() { close(asked); <-release }
	done := make(chan error)
	go func() { done <- use(p, verified("AKIDa", 2, at), "GetFunction", client, at) }()
	<-asked
	// Would wait forever for the lock if the round trip held it.
	if err := use(p, known, "GetFunction", client, at); err != nil {
		t.Fatal(err)
	}
	if p.Len() != 1 {
		t.Fatalf("Len = %d during the round trip, want 1", p.Len())
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// Processes racing on one signature, each for its own action from its
// own address: exactly one is served.
func TestSharedReplaysRace(t *testing.T) {
	at := time.Unix(1735787045, 0)
	for round := range 20 {
		shared := newMemShared()
		v := verified("AKIDa", round, at)
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			p := NewReplays(ReplayOptions{Shared: shared})
			wg.Go(func() { errs[i] = use(p, v, fmt.Sprint("Action", i), fmt.Sprint("192.0.2.", i), at) })
		}
		wg.Wait()
		served := 0
		for i, err := range errs {
			switch {
			case err == nil:
				served++
			case !errors.Is(err, ErrSignatureReplayed):
				t.Fatalf("racer %d: %v", i, err)
			}
		}
		if served != 1 {
			t.Fatalf("round %d: %d racers served, want exactly 1", round, served)
		}
	}
}

// What a request pays the replay check: a new signature alone, a new
// signature asking an (in-memory) shared record, and a signature seen
// with its action, which asks nothing.
func BenchmarkReplaysUse(b *testing.B) {
	at := time.Unix(1735787045, 0)
	ctx := context.Background()
	for _, bc := range []struct {
		name   string
		shared SharedReplays
		fresh  bool
	}{
		{"new signature, alone", nil, true},
		{"new signature, shared", newMemShared(), true},
		{"known signature, shared", newMemShared(), false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := NewReplays(ReplayOptions{Shared: bc.shared, MaxEntries: 1 << 30, MaxPerKey: 1 << 30})
			v := verified("AKIDa", 0, at)
			n := 0
			for b.Loop() {
				if bc.fresh {
					n++
					v.Signature = fmt.Sprintf("%032x%032x", n, 0)
				}
				if err := p.Use(ctx, v, Signer{Name: "AKIDa"}, "GetFunction", client, at); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
