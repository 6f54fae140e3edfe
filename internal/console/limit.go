package console

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Failed sign-ins are limited per client address and per SecretId, each
// with a token bucket: SignInBurst failures at once, then one more every
// SignInEvery per address and every SignInKeyEvery per SecretId. A
// sign-in that succeeds costs nothing. An IPv6 client counts by its /64.
const (
	SignInBurst    = 10
	SignInEvery    = 6 * time.Second  // 10 a minute from one address
	SignInKeyEvery = 12 * time.Second // 5 a minute for one SecretId
)

// maxLimited bounds the addresses and SecretIds a limiter remembers; past
// it, ones idle long enough to have a full bucket are forgotten, and if
// none is, sign-ins are refused until some are.
const maxLimited = 1 << 16

// limiter is a token bucket per key.
type limiter struct {
	every time.Duration
	burst int

	mu sync.Mutex
	m  map[string]*rate.Limiter
}

func newLimiter(every time.Duration, burst int) *limiter {
	return &limiter{every: every, burst: burst, m: map[string]*rate.Limiter{}}
}

// take takes a token of key's bucket at now; when there is none it
// returns how long until there is one, and takes nothing.
func (l *limiter) take(key string, now time.Time) (*rate.Reservation, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.m[key]
	if lim == nil {
		if len(l.m) >= maxLimited {
			l.sweep(now)
		}
		if len(l.m) >= maxLimited {
			return nil, l.every
		}
		lim = rate.NewLimiter(rate.Every(l.every), l.burst)
		l.m[key] = lim
	}
	res := lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return nil, d
	}
	return res, 0
}

// sweep forgets the keys whose bucket is full again.
func (l *limiter) sweep(now time.Time) {
	for k, lim := range l.m {
		if lim.TokensAt(now) >= float64(l.burst) {
			delete(l.m, k)
		}
	}
}

// signInLimits are the console's limits of failed sign-ins.
type signInLimits struct {
	byAddr, byKey *limiter
}

func newSignInLimits() *signInLimits {
	return &signInLimits{byAddr: newLimiter(SignInEvery, SignInBurst), byKey: newLimiter(SignInKeyEvery, SignInBurst/2)}
}

// attempt starts a sign-in of secretID from r at now. It returns a
// function to call if the sign-in succeeded (it gives the attempt back),
// or, when over a limit, false after answering 429 with Retry-After.
func (s *signInLimits) attempt(w http.ResponseWriter, r *http.Request, secretID string, now time.Time) (succeeded func(), ok bool) {
	addr, wait := s.byAddr.take(clientAddr(r), now)
	if addr == nil {
		refuseSignIn(w, "from this address", wait)
		return nil, false
	}
	key, wait := s.byKey.take(secretID, now)
	if key == nil {
		addr.CancelAt(now)
		refuseSignIn(w, "for this SecretId", wait)
		return nil, false
	}
	return func() { addr.CancelAt(now); key.CancelAt(now) }, true
}

func refuseSignIn(w http.ResponseWriter, what string, wait time.Duration) {
	secs := int(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	fail(w, http.StatusTooManyRequests, "RequestLimitExceeded", fmt.Sprintf("too many failed sign-ins %s: try again in %d s", what, secs))
}

// clientAddr is the address a request came from (never a header the
// client sets), an IPv6 one as its /64.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
