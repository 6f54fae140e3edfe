package credentials

import (
	"errors"
	"sync"
	"time"
)

// TemporaryPrefix starts the SecretId of every temporary key, so that it is
// never mistaken for a permanent one.
const TemporaryPrefix = "AKIDtmp"

// Errors of Issuer.Lookup.
var (
	// ErrUnknown is the error for a SecretId the issuer never issued (or
	// forgot after it expired).
	ErrUnknown = errors.New("temporary SecretId not found")
	// ErrExpired is the error for a temporary key past its expiry.
	ErrExpired = errors.New("temporary credentials expired")
)

// Temporary is a key pair with a session token, valid for one namespace
// until Expires. Functions get one per invocation (X-Scf-Secret-Id,
// X-Scf-Secret-Key, X-Scf-Session-Token) so that they can call the API on
// their own namespace.
type Temporary struct {
	SecretID  string
	SecretKey string
	Token     string
	Namespace string
	Expires   time.Time
}

// IssuerOptions configure an Issuer. The zero value works.
type IssuerOptions struct {
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// Reuse lets invocations of one namespace share credentials issued
	// at most Reuse ago: Issue returns the namespace's current ones while
	// they still have at least the asked ttl to live, and new ones live
	// ttl + Reuse. It bounds the credentials held to a few per namespace
	// however many invocations run. Zero issues new ones every call.
	Reuse time.Duration
}

// Issuer makes temporary credentials and looks them up. It keeps them in
// memory: a restart of scfd revokes them all, which ends no invocation that
// is still running only because no invocation outlives scfd. Expired
// credentials are forgotten on a later Issue, so memory stays bounded by
// the credentials alive at once. The zero value is not usable; call
// NewIssuer. It is safe for concurrent use.
type Issuer struct {
	now func() time.Time

	reuse time.Duration

	mu      sync.Mutex
	keys    map[string]Temporary
	current map[string]Temporary // by namespace, see IssuerOptions.Reuse
	sweep   int                  // len(keys) at which the next sweep runs
	issued  uint64
}

// NewIssuer returns an empty issuer.
func NewIssuer(opts IssuerOptions) *Issuer {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Issuer{now: opts.Now, reuse: opts.Reuse, keys: map[string]Temporary{}, current: map[string]Temporary{}, sweep: 1024}
}

// Issue returns credentials for namespace that live at least ttl: new
// ones, or the namespace's current ones (see IssuerOptions.Reuse).
func (i *Issuer) Issue(namespace string, ttl time.Duration) Temporary {
	now := i.now()
	if i.reuse > 0 {
		i.mu.Lock()
		cur, ok := i.current[namespace]
		i.mu.Unlock()
		if ok && cur.Expires.Sub(now) >= ttl {
			return cur
		}
	}
	t := Temporary{
		SecretID:  TemporaryPrefix + random(29),
		SecretKey: random(32),
		Token:     random(48),
		Namespace: namespace,
		Expires:   now.Add(ttl + i.reuse),
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.reuse > 0 {
		i.current[namespace] = t
	}
	if len(i.keys) >= i.sweep {
		i.forgetExpiredLocked()
		i.sweep = max(1024, 2*len(i.keys))
	}
	i.keys[t.SecretID] = t
	return t
}

// Lookup returns the credentials of secretID: an error wrapping ErrUnknown
// when it was never issued (or was forgotten), ErrExpired when it expired.
func (i *Issuer) Lookup(secretID string) (Temporary, error) {
	i.mu.Lock()
	t, ok := i.keys[secretID]
	i.mu.Unlock()
	if !ok {
		return Temporary{}, ErrUnknown
	}
	if !i.now().Before(t.Expires) {
		return Temporary{}, ErrExpired
	}
	return t, nil
}

// Revoke forgets secretID at once.
func (i *Issuer) Revoke(secretID string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	delete(i.keys, secretID)
}

// Len is how many credentials the issuer holds, expired ones not yet
// forgotten included.
func (i *Issuer) Len() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return len(i.keys)
}

// ForgetExpired drops every expired credential.
func (i *Issuer) ForgetExpired() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.forgetExpiredLocked()
}

func (i *Issuer) forgetExpiredLocked() {
	now := i.now()
	for id, t := range i.keys {
		if !now.Before(t.Expires) {
			delete(i.keys, id)
		}
	}
}
