package credentials

import (
	"errors"
	"strings"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestIssuerLookupAndExpiry(t *testing.T) {
	c := &clock{t: time.Unix(1700000000, 0)}
	iss := NewIssuer(IssuerOptions{Now: c.now})
	tmp := iss.Issue("team", 10*time.Second)
	if !strings.HasPrefix(tmp.SecretID, TemporaryPrefix) || tmp.SecretKey == "" || tmp.Token == "" {
		t.Fatalf("Issue = %+v", tmp)
	}
	if got, err := iss.Lookup(tmp.SecretID); err != nil || got != tmp {
		t.Fatalf("Lookup = %+v, %v; want %+v", got, err, tmp)
	}
	c.t = c.t.Add(9 * time.Second)
	if _, err := iss.Lookup(tmp.SecretID); err != nil {
		t.Fatalf("Lookup before expiry: %v", err)
	}
	c.t = c.t.Add(time.Second)
	if _, err := iss.Lookup(tmp.SecretID); !errors.Is(err, ErrExpired) {
		t.Fatalf("Lookup at expiry: %v, want ErrExpired", err)
	}
	if _, err := iss.Lookup("AKIDtmpnever"); !errors.Is(err, ErrUnknown) {
		t.Fatalf("Lookup unknown: %v, want ErrUnknown", err)
	}
	iss.ForgetExpired()
	if _, err := iss.Lookup(tmp.SecretID); !errors.Is(err, ErrUnknown) {
		t.Fatalf("Lookup forgotten: %v, want ErrUnknown", err)
	}
}

func TestIssuerDistinctKeys(t *testing.T) {
	iss := NewIssuer(IssuerOptions{})
	a, b := iss.Issue("ns", time.Minute), iss.Issue("ns", time.Minute)
	if a.SecretID == b.SecretID || a.SecretKey == b.SecretKey || a.Token == b.Token {
		t.Errorf("two issues share a secret: %+v %+v", a, b)
	}
	iss.Revoke(a.SecretID)
	if _, err := iss.Lookup(a.SecretID); !errors.Is(err, ErrUnknown) {
		t.Errorf("revoked: %v", err)
	}
}

// Expired credentials are swept as new ones are issued, so the map does
// not grow with the number of invocations.
func TestIssuerSweepsExpired(t *testing.T) {
	c := &clock{t: time.Unix(1700000000, 0)}
	iss := NewIssuer(IssuerOptions{Now: c.now})
	for range 5000 {
		iss.Issue("ns", time.Second)
		c.t = c.t.Add(10 * time.Millisecond)
	}
	if n := iss.Len(); n > 2200 {
		t.Errorf("Len = %d after 5000 issues with 100 alive at once, want it bounded", n)
	}
}

// With Reuse, invocations of a namespace share credentials while they
// live long enough, and a busy namespace holds a few, not one per call.
func TestIssuerReusesPerNamespace(t *testing.T) {
	c := &clock{t: time.Unix(1700000000, 0)}
	iss := NewIssuer(IssuerOptions{Now: c.now, Reuse: time.Minute})
	a := iss.Issue("ns", 10*time.Second)
	if got := a.Expires.Sub(c.t); got != 10*time.Second+time.Minute {
		t.Errorf("lives %v, want ttl + Reuse", got)
	}
	if b := iss.Issue("ns", 10*time.Second); b != a {
		t.Errorf("a second call within Reuse got other credentials")
	}
	if o := iss.Issue("other", 10*time.Second); o.SecretID == a.SecretID {
		t.Errorf("another namespace shares credentials")
	}
	if long := iss.Issue("ns", 2*time.Minute); long.SecretID == a.SecretID || long.Expires.Sub(c.t) < 2*time.Minute {
		t.Errorf("a longer ttl than the current ones have left got %+v", long)
	}
	for range 10000 {
		got := iss.Issue("ns", 10*time.Second)
		if got.Expires.Sub(c.t) < 10*time.Second {
			t.Fatalf("credentials live %v, less than the asked 10s", got.Expires.Sub(c.t))
		}
		c.t = c.t.Add(20 * time.Millisecond)
	}
	if n := iss.Len(); n > 10 {
		t.Errorf("the issuer holds %d credentials after 10000 calls over 200 s, want a few", n)
	}
}
