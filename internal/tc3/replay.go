package tc3

import (
	"encoding/hex"
	"sync"
	"time"
)

// ErrSignatureReplayed is the error of a signature used before for
// another action. Its code is SCF's AuthFailure.SignatureFailure (the
// signature does not hold for this request); errors.Is matches it with
// ErrSignatureFailure too.
var ErrSignatureReplayed = &Error{Code: ErrSignatureFailure.Code, Msg: "this signature was already used for another action"}

// ErrTooManySignatures is the error of a signature Replays has no room
// for: the caller sent more distinct requests within the signatures'
// validity than it may.
var ErrTooManySignatures = &Error{Code: "RequestLimitExceeded"}

// Defaults of ReplayOptions.
const (
	// DefaultReplayMaxEntries bounds the signatures remembered: about
	// 50 MB at most.
	DefaultReplayMaxEntries = 1 << 19
	// DefaultReplayMaxPerKey bounds those of one SecretId: 1 << 17
	// signatures within their validity (up to 10 minutes) is more than
	// 200 distinct requests a second.
	DefaultReplayMaxPerKey = 1 << 17
)

// ReplayOptions configure Replays. Zero fields take the defaults.
type ReplayOptions struct {
	MaxEntries int // signatures remembered; DefaultReplayMaxEntries
	MaxPerKey  int // signatures remembered of one SecretId; DefaultReplayMaxPerKey
}

// Replays remembers the action of each verified signature until the
// signature expires (its timestamp plus MaxSkew), and refuses the
// signature for another action: the SDKs sign the body and the host but
// not X-TC-Action, so the signature of a captured GetFunction also
// verifies as a DeleteFunction of the same body. The same signature with
// the same action stays valid: a client that retries, or polls with the
// same body within one second, sends it legitimately. Its memory is bounded
// by ReplayOptions: when full, new signatures are refused (fail closed)
// rather than forgetting ones still valid. It is safe for concurrent use.
type Replays struct {
	opts ReplayOptions

	mu      sync.Mutex
	buckets map[int64]*replayBucket // by minute of the signatures' timestamps
	total   int
	perKey  map[string]int
	actions map[string]string // interned action names
}

type replayBucket struct {
	actions map[[16]byte]string // by the signature's first 16 bytes
	perKey  map[string]int
}

// NewReplays returns an empty Replays.
func NewReplays(opts ReplayOptions) *Replays {
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultReplayMaxEntries
	}
	if opts.MaxPerKey <= 0 {
		opts.MaxPerKey = DefaultReplayMaxPerKey
	}
	return &Replays{opts: opts, buckets: map[int64]*replayBucket{}, perKey: map[string]int{}, actions: map[string]string{}}
}

// Use records that the verified request v asks for action at now. It
// returns an error matching ErrSignatureReplayed when v's signature was
// used for another action, and ErrTooManySignatures when it is new and
// there is no room for it. Actions should come from a small set (the
// API's): each distinct name is kept for good.
func (p *Replays) Use(v Verified, action string, now time.Time) error {
	sig, err := hex.DecodeString(v.Signature)
	if err != nil || len(sig) < 16 {
		return failure(ErrSignatureFailure, "the signature is not hexadecimal")
	}
	var key [16]byte
	copy(key[:], sig)
	minute := v.Timestamp.Unix() / 60
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expire(now)
	b := p.buckets[minute]
	if b != nil {
		if prev, ok := b.actions[key]; ok {
			if prev == action {
				return nil
			}
			return failure(ErrSignatureReplayed, "this signature was already used for %s, not %s: sign each request anew", prev, action)
		}
	}
	if p.total >= p.opts.MaxEntries || p.perKey[v.SecretID] >= p.opts.MaxPerKey {
		return failure(ErrTooManySignatures, "too many distinct requests within %v: retry in a minute", 2*MaxSkew)
	}
	if b == nil {
		b = &replayBucket{actions: map[[16]byte]string{}, perKey: map[string]int{}}
		p.buckets[minute] = b
	}
	name, ok := p.actions[action]
	if !ok {
		name = string([]byte(action)) // not the request's header memory
		p.actions[name] = name
	}
	b.actions[key] = name
	b.perKey[v.SecretID]++
	p.perKey[v.SecretID]++
	p.total++
	return nil
}

// Len is the number of signatures remembered.
func (p *Replays) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.total
}

// expire drops the minutes whose signatures are all past MaxSkew at now.
func (p *Replays) expire(now time.Time) {
	for minute, b := range p.buckets {
		if now.Unix() < (minute+1)*60+int64(MaxSkew/time.Second) {
			continue
		}
		for id, n := range b.perKey {
			if p.perKey[id] -= n; p.perKey[id] <= 0 {
				delete(p.perKey, id)
			}
		}
		p.total -= len(b.actions)
		delete(p.buckets, minute)
	}
}
