package tc3

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func verified(id string, n int, at time.Time) Verified {
	return Verified{SecretID: id, Timestamp: at, Signature: fmt.Sprintf("%032x%032x", n, 0)}
}

const client, attacker = "192.0.2.1", "198.51.100.7"

// use is p.Use by v's key as an unprivileged signer.
func use(p *Replays, v Verified, action, client string, now time.Time) error {
	return p.Use(context.Background(), v, Signer{Name: v.SecretID}, action, client, now)
}

func TestReplaysRefuseAnotherAction(t *testing.T) {
	at := time.Unix(1735787045, 0)
	p := NewReplays(ReplayOptions{})
	v := verified("AKIDa", 1, at)
	if err := use(p, v, "GetFunction", client, at); err != nil {
		t.Fatalf("first use: %v", err)
	}
	// A retry, or a poll within the same second: same signature, same action.
	if err := use(p, v, "GetFunction", client, at.Add(time.Second)); err != nil {
		t.Fatalf("same action again: %v", err)
	}
	// From another address, another action is refused at once.
	err := use(p, v, "DeleteFunction", attacker, at.Add(100*time.Millisecond))
	if !errors.Is(err, ErrSignatureReplayed) || Code(err) != "AuthFailure.SignatureFailure" {
		t.Fatalf("another action from elsewhere: %v (code %q), want AuthFailure.SignatureFailure", err, Code(err))
	}
	if msg := err.Error(); !strings.Contains(msg, "already used for GetFunction, not DeleteFunction") {
		t.Errorf("message %q does not say what happened", msg)
	}
	// From the same address past ReplayGrace too, and until the signature
	// expires.
	for _, d := range []time.Duration{ReplayGrace + time.Millisecond, MaxSkew} {
		if err := use(p, v, "DeleteFunction", client, at.Add(d)); !errors.Is(err, ErrSignatureReplayed) {
			t.Fatalf("another action %v later: %v", d, err)
		}
	}
	if err := use(p, verified("AKIDa", 2, at), "DeleteFunction", client, at); err != nil {
		t.Fatalf("another signature: %v", err)
	}
}

// The SDK signs in seconds: its GetFunction then DeleteFunction of one
// body within a second carry one signature, from one client.
func TestReplaysLetOneClientUseASignatureForSeveralActionsAtOnce(t *testing.T) {
	at := time.Unix(1735787045, 0)
	p := NewReplays(ReplayOptions{})
	v := verified("AKIDa", 1, at)
	for i, action := range []string{"CreateFunction", "GetFunction", "DeleteFunction", "GetFunction", "ListVersionByFunction"} {
		if err := use(p, v, action, client, at.Add(time.Duration(i)*300*time.Millisecond)); err != nil {
			t.Fatalf("%s: %v", action, err)
		}
	}
	// A fifth action is one too many; the ones used stay valid.
	if err := use(p, v, "PublishVersion", client, at.Add(2*time.Second)); !errors.Is(err, ErrSignatureReplayed) {
		t.Fatalf("a fifth action: %v", err)
	}
	if err := use(p, v, "DeleteFunction", attacker, at.Add(time.Minute)); err != nil {
		t.Fatalf("an action it served, later: %v", err)
	}
	if err := use(p, v, "UpdateFunctionCode", client, at.Add(time.Minute)); !errors.Is(err, ErrSignatureReplayed) {
		t.Fatalf("another action, later: %v", err)
	}
}

func TestReplaysForgetExpiredSignatures(t *testing.T) {
	at := time.Unix(1735787040, 0) // the start of a minute
	p := NewReplays(ReplayOptions{})
	for i := range 100 {
		if err := use(p, verified("AKIDa", i, at.Add(time.Duration(i)*time.Second)), "GetFunction", client, at); err != nil {
			t.Fatal(err)
		}
	}
	if got := p.Len(); got != 100 {
		t.Fatalf("Len = %d, want 100", got)
	}
	// The first minute's signatures expire together once the last of them
	// is past MaxSkew; the rest later.
	use(p, verified("AKIDb", 1000, at.Add(time.Hour)), "GetFunction", client, at.Add(time.Minute+MaxSkew))
	if got := p.Len(); got != 100-60+1 {
		t.Errorf("after the first minute expired: Len = %d, want %d", got, 100-60+1)
	}
	use(p, verified("AKIDb", 1001, at.Add(time.Hour)), "GetFunction", client, at.Add(time.Hour))
	if got := p.Len(); got != 2 {
		t.Errorf("after all expired: Len = %d, want 2", got)
	}
}

func TestReplaysAreBounded(t *testing.T) {
	at := time.Unix(1735787045, 0)
	p := NewReplays(ReplayOptions{MaxEntries: 10, MaxPerKey: 4})
	for i := range 4 {
		if err := use(p, verified("AKIDflood", i, at), "GetFunction", client, at); err != nil {
			t.Fatal(err)
		}
	}
	if err := use(p, verified("AKIDflood", 99, at), "GetFunction", client, at); !errors.Is(err, ErrTooManySignatures) || Code(err) != "RequestLimitExceeded" {
		t.Fatalf("over the per-key bound: %v", err)
	}
	// A known signature still answers; other keys still have room.
	if err := use(p, verified("AKIDflood", 0, at), "GetFunction", client, at); err != nil {
		t.Fatalf("known signature: %v", err)
	}
	for i := range 6 {
		if err := use(p, verified(fmt.Sprint("AKID", i), 100+i, at), "GetFunction", client, at); err != nil {
			t.Fatal(err)
		}
	}
	if err := use(p, verified("AKIDother", 200, at), "GetFunction", client, at); !errors.Is(err, ErrTooManySignatures) {
		t.Fatalf("over the total bound: %v", err)
	}
	// Room again once they expire.
	if err := use(p, verified("AKIDflood", 300, at.Add(time.Hour)), "GetFunction", client, at.Add(time.Hour)); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
}

// Rotating keys of one signer share its bound, and a privileged signer
// keeps room when the others filled theirs.
func TestReplaysCountSignersNotKeys(t *testing.T) {
	at := time.Unix(1735787045, 0)
	p := NewReplays(ReplayOptions{MaxEntries: 6, MaxPerKey: 3})
	fn := Signer{Name: "namespace/team"}
	for i := range 3 {
		if err := p.Use(context.Background(), verified(fmt.Sprint("AKIDtemp", i), i, at), fn, "Invoke", client, at); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Use(context.Background(), verified("AKIDtemp9", 9, at), fn, "Invoke", client, at); !errors.Is(err, ErrTooManySignatures) {
		t.Fatalf("a new temporary key of a signer at its bound: %v", err)
	}
	other := Signer{Name: "AKIDother"}
	for i := range 3 {
		if err := p.Use(context.Background(), verified("AKIDother", 10+i, at), other, "Invoke", client, at); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Use(context.Background(), verified("AKIDthird", 20, at), Signer{Name: "AKIDthird"}, "Invoke", client, at); !errors.Is(err, ErrTooManySignatures) {
		t.Fatalf("over the total bound: %v", err)
	}
	admin := Signer{Name: "AKIDadmin", Privileged: true}
	for i := range 3 {
		if err := p.Use(context.Background(), verified("AKIDadmin", 30+i, at), admin, "GetFunction", client, at); err != nil {
			t.Fatalf("the administrator, with the total bound reached: %v", err)
		}
	}
	if err := p.Use(context.Background(), verified("AKIDadmin", 40, at), admin, "GetFunction", client, at); !errors.Is(err, ErrTooManySignatures) {
		t.Fatalf("the administrator over its own bound: %v", err)
	}
	if got := p.Len(); got != 9 {
		t.Errorf("Len = %d, want 9", got)
	}
	// All expire: room again for everyone.
	later := at.Add(time.Hour)
	if err := p.Use(context.Background(), verified("AKIDthird", 50, later), Signer{Name: "AKIDthird"}, "Invoke", client, later); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if got := p.Len(); got != 1 {
		t.Errorf("Len after expiry = %d, want 1", got)
	}
}
