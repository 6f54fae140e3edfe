package tc3

import (
	"encoding/hex"
	"hash/maphash"
	"strings"
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
	// ReplayGrace is how long after a signature was first used it may
	// come again for another action, from the same client address: the
	// SDKs' timestamps are in seconds, so a client that sends GetFunction
	// then DeleteFunction of the same body within one second sends one
	// signature twice, legitimately.
	ReplayGrace = 5 * time.Second
	// maxActions bounds the actions one signature may serve within
	// ReplayGrace.
	maxActions = 4
)

// ReplayOptions configure Replays. Zero fields take the defaults.
type ReplayOptions struct {
	MaxEntries int // signatures remembered of unprivileged signers; DefaultReplayMaxEntries
	MaxPerKey  int // signatures remembered of one Signer; DefaultReplayMaxPerKey
}

// Signer is whom a signature's room in Replays is counted against.
type Signer struct {
	// Name is the signer's: a key's SecretId, or one name for all the
	// keys of one owner when they rotate (a function's temporary
	// credentials change every few minutes: counted per key, one
	// function could fill Replays by itself).
	Name string
	// Privileged signers (the administrator) are bounded by MaxPerKey
	// only, not by MaxEntries: no other signer can crowd them out.
	Privileged bool
}

// Replays remembers the actions each verified signature was used for
// until the signature expires (its timestamp plus MaxSkew), and refuses
// the signature for another action: the SDKs sign the body and the host
// but not X-TC-Action, so the signature of a captured GetFunction also
// verifies as a DeleteFunction of the same body. The same signature with
// an action it was used for stays valid: a client that retries, or polls
// with the same body within one second, sends it legitimately. Within
// ReplayGrace of its first use, and from the same client address, a
// signature may serve other actions too (up to 4): the SDK's own calls
// of one body within one second. Its memory is bounded by
// ReplayOptions: when full, new signatures are refused (fail closed)
// rather than forgetting ones still valid. It is safe for concurrent use.
type Replays struct {
	opts ReplayOptions
	seed maphash.Seed

	mu      sync.Mutex
	buckets map[int64]*replayBucket // by minute of the signatures' timestamps
	total   int                     // signatures of unprivileged signers
	perKey  map[string]int          // by Signer.Name
	ids     map[string]uint16       // interned action names, from 1
	names   []string                // by id - 1
}

type replayBucket struct {
	uses       map[[16]byte]replayUse // by the signature's first 16 bytes
	perKey     map[string]int
	privileged int // of uses, those of privileged signers
}

// replayUse is what is known of a signature's use.
type replayUse struct {
	actions [maxActions]uint16 // ids of the actions it served; 0: none
	first   int64              // when it was first used, Unix nanoseconds
	client  uint64             // hash of the client address of its first use
}

// NewReplays returns an empty Replays.
func NewReplays(opts ReplayOptions) *Replays {
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultReplayMaxEntries
	}
	if opts.MaxPerKey <= 0 {
		opts.MaxPerKey = DefaultReplayMaxPerKey
	}
	return &Replays{opts: opts, seed: maphash.MakeSeed(), buckets: map[int64]*replayBucket{}, perKey: map[string]int{}, ids: map[string]uint16{}}
}

// Use records that the verified request v of signer, from the client
// address client (its IP address), asks for action at now. It returns an error
// matching ErrSignatureReplayed when v's signature was used for another
// action (past ReplayGrace, or from another client), and
// ErrTooManySignatures when it is new and there is no room for it.
// Actions should come from a small set (the API's): each distinct name is
// kept for good.
func (p *Replays) Use(v Verified, signer Signer, action, client string, now time.Time) error {
	sig, err := hex.DecodeString(v.Signature)
	if err != nil || len(sig) < 16 {
		return failure(ErrSignatureFailure, "the signature is not hexadecimal")
	}
	var key [16]byte
	copy(key[:], sig)
	minute := v.Timestamp.Unix() / 60
	from := maphash.String(p.seed, client)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expire(now)
	id := p.intern(action)
	b := p.buckets[minute]
	if b != nil {
		if u, ok := b.uses[key]; ok {
			free := -1
			for i, a := range u.actions {
				if a == id {
					return nil
				}
				if a == 0 && free < 0 {
					free = i
				}
			}
			if free >= 0 && u.client == from && now.UnixNano()-u.first <= int64(ReplayGrace) {
				u.actions[free] = id
				b.uses[key] = u
				return nil
			}
			return failure(ErrSignatureReplayed, "this signature was already used for %s, not %s: sign each request anew", p.names[u.actions[0]-1], action)
		}
	}
	if (!signer.Privileged && p.total >= p.opts.MaxEntries) || p.perKey[signer.Name] >= p.opts.MaxPerKey {
		return failure(ErrTooManySignatures, "too many distinct requests within %v: retry in a minute", 2*MaxSkew)
	}
	if b == nil {
		b = &replayBucket{uses: map[[16]byte]replayUse{}, perKey: map[string]int{}}
		p.buckets[minute] = b
	}
	b.uses[key] = replayUse{actions: [maxActions]uint16{id}, first: now.UnixNano(), client: from}
	b.perKey[signer.Name]++
	p.perKey[signer.Name]++
	if signer.Privileged {
		b.privileged++
	} else {
		p.total++
	}
	return nil
}

// intern returns the id of action, from 1.
func (p *Replays) intern(action string) uint16 {
	if id, ok := p.ids[action]; ok {
		return id
	}
	name := strings.Clone(action) // not the request's header memory
	p.names = append(p.names, name)
	id := uint16(len(p.names))
	p.ids[name] = id
	return id
}

// Len is the number of signatures remembered.
func (p *Replays) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, b := range p.buckets {
		n += len(b.uses)
	}
	return n
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
		p.total -= len(b.uses) - b.privileged
		delete(p.buckets, minute)
	}
}
