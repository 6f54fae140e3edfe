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
