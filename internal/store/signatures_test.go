package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// claimed is what ClaimSignature returns.
type claimed struct {
	Actions []string
	Client  string
	First   time.Time
}

func claim(t *testing.T, s *Store, key []byte, action, client string, now, expires time.Time) claimed {
	t.Helper()
	actions, c, first, err := s.ClaimSignature(context.Background(), key, action, client, now, expires)
	if err != nil {
		t.Fatalf("ClaimSignature(%s, %s): %v", action, client, err)
	}
	return claimed{actions, c, first}
}

func TestSignatureUses(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	at := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	expires := at.Add(6 * time.Minute)
	key := []byte("0123456789abcdef")

	want := claimed{[]string{"GetFunction"}, "192.0.2.1", at}
	if got := claim(t, s, key, "GetFunction", "192.0.2.1", at, expires); !cmp.Equal(got, want) {
		t.Fatalf("first claim: %s", cmp.Diff(want, got))
	}
	// Claimed again, for anything by anyone, it answers the first use.
	if got := claim(t, s, key, "DeleteFunction", "198.51.100.7", at.Add(time.Second), expires); !cmp.Equal(got, want) {
		t.Fatalf("second claim: %s", cmp.Diff(want, got))
	}
	// Another signature is another record.
	other := []byte("0123456789abcdeF")
	if got := claim(t, s, other, "DeleteFunction", "198.51.100.7", at, expires.Add(time.Minute)); got.Actions[0] != "DeleteFunction" {
		t.Fatalf("another signature: %+v", got)
	}

	// Actions are added to what was read, compare-and-swap.
	if ok, err := s.AddSignatureAction(ctx, key, []string{"GetFunction"}, "DeleteFunction"); err != nil || !ok {
		t.Fatalf("adding DeleteFunction: %v, %v", ok, err)
	}
	if ok, err := s.AddSignatureAction(ctx, key, []string{"GetFunction"}, "PublishVersion"); err != nil || ok {
		t.Fatalf("adding to stale actions: %v, %v; want refused", ok, err)
	}
	if ok, err := s.AddSignatureAction(ctx, []byte("no such signature"), nil, "GetFunction"); err != nil || ok {
		t.Fatalf("adding to no record: %v, %v; want refused", ok, err)
	}
	want.Actions = []string{"GetFunction", "DeleteFunction"}
	if got := claim(t, s, key, "GetFunction", "192.0.2.1", at.Add(2*time.Second), expires); !cmp.Equal(got, want) {
		t.Fatalf("after the add: %s", cmp.Diff(want, got))
	}

	// Expired records go, the others stay.
	if n, err := s.ExpireSignatures(ctx, expires); err != nil || n != 0 {
		t.Fatalf("ExpireSignatures at the expiry: %d, %v; want none deleted", n, err)
	}
	if n, err := s.ExpireSignatures(ctx, expires.Add(time.Nanosecond)); err != nil || n != 1 {
		t.Fatalf("ExpireSignatures past the expiry: %d, %v; want 1", n, err)
	}
	if got := claim(t, s, key, "ListFunctions", "203.0.113.9", at.Add(time.Hour), at.Add(time.Hour)); got.Actions[0] != "ListFunctions" {
		t.Fatalf("a signature claimed after its record expired: %+v, want a new record", got)
	}
	if got := claim(t, s, other, "GetFunction", "192.0.2.1", at, expires); got.Actions[0] != "DeleteFunction" {
		t.Fatalf("the record not expired: %+v", got)
	}
}

// Replicas racing on one signature, each with its own action and address:
// exactly one records its use, and every one reads that record; adding
// actions to it, exactly one wins each round.
func TestSignatureUsesRace(t *testing.T) {
	dir := t.TempDir()
	replicas := []*Store{openTest(t, dir), openTest(t, dir)}
	ctx := context.Background()
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	const racers = 8
	for round := range 5 {
		key := []byte(fmt.Sprintf("signature %8d", round))
		got := make([]claimed, racers)
		errs := make([]error, racers)
		var wg sync.WaitGroup
		for i := range racers {
			wg.Go(func() {
				s := replicas[i%len(replicas)]
				a, c, f, err := s.ClaimSignature(ctx, key, fmt.Sprint("Action", i), fmt.Sprint("192.0.2.", i), at.Add(time.Duration(i)), at.Add(time.Hour))
				got[i], errs[i] = claimed{a, c, f}, err
			})
		}
		wg.Wait()
		winners := 0
		for i := range racers {
			if errs[i] != nil {
				t.Fatalf("racer %d: %v", i, errs[i])
			}
			if d := cmp.Diff(got[0], got[i]); d != "" {
				t.Fatalf("racers 0 and %d read different records: %s", i, d)
			}
			if got[i].Actions[0] == fmt.Sprint("Action", i) {
				winners++
				if got[i].Client != fmt.Sprint("192.0.2.", i) || !got[i].First.Equal(at.Add(time.Duration(i))) {
					t.Fatalf("the winner's record is not its own: %+v", got[i])
				}
			}
		}
		if winners != 1 || len(got[0].Actions) != 1 {
			t.Fatalf("round %d: %d racers recorded their use (record %+v), want exactly 1", round, winners, got[0])
		}

		served := got[0].Actions
		added := make([]bool, racers)
		for i := range racers {
			wg.Go(func() {
				added[i], errs[i] = replicas[i%len(replicas)].AddSignatureAction(ctx, key, served, fmt.Sprint("Added", i))
			})
		}
		wg.Wait()
		won := -1
		for i := range racers {
			if errs[i] != nil {
				t.Fatalf("adder %d: %v", i, errs[i])
			}
			if added[i] {
				if won >= 0 {
					t.Fatalf("round %d: adders %d and %d both added an action", round, won, i)
				}
				won = i
			}
		}
		if won < 0 {
			t.Fatalf("round %d: no adder added its action", round)
		}
		final := claim(t, replicas[1], key, "Late", "192.0.2.99", at.Add(time.Minute), at.Add(time.Hour))
		if want := append(served, fmt.Sprint("Added", won)); !cmp.Equal(final.Actions, want) {
			t.Fatalf("round %d: actions %v, want %v", round, final.Actions, want)
		}
	}
}

// The cost of a new signature to the shared replay check: one
// ClaimSignature, sequentially and from many requests at once.
func BenchmarkClaimSignature(b *testing.B) {
	s := openTest(b, b.TempDir())
	ctx := context.Background()
	at := time.Now()
	var n atomic.Int64
	claim := func() {
		key := fmt.Appendf(nil, "%016d", n.Add(1))
		if _, _, _, err := s.ClaimSignature(ctx, key, "GetFunction", "192.0.2.1", at, at.Add(10*time.Minute)); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("sequential", func(b *testing.B) {
		for b.Loop() {
			claim()
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				claim()
			}
		})
	})
}
