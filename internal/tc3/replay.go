package tc3

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
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
	// Shared is the record of signatures' uses that this Replays shares
	// with those of other processes, replicas that a captured request
	// may be replayed at. Nil: this process alone verifies signatures,
	// and its memory decides.
	Shared SharedReplays
}

// SharedReplays is a record of the uses of signatures that the Replays
// of several processes share, such as replicas on one database. Each
// method is atomic across all of them. Replays asks it about every
// signature it has not seen serve the action at hand, and decides, with
// the rule it applies to its own memory, which action it may add.
type SharedReplays interface {
	// ClaimSignature returns the record of the signature key: the
	// actions it served, in the order they were added (at least one),
	// and the client address and time of its first use. When key has no
	// record, it first records one of action, from client at now, kept
	// until expires at least: then it returns just that. Of processes
	// claiming one new signature at once, exactly one records its use.
	ClaimSignature(ctx context.Context, key []byte, action, client string, now, expires time.Time) (actions []string, firstClient string, firstUse time.Time, err error)
	// AddSignatureAction appends action to the actions of key's record
	// if they are still served (compare-and-swap) and reports whether it
	// did.
	AddSignatureAction(ctx context.Context, key []byte, served []string, action string) (bool, error)
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
//
// With ReplayOptions.Shared, processes that each verify signatures share
// the check: a signature this process has seen serve the action at hand
// passes at once, as without; any other use is decided by the shared
// record (one round trip for a new signature), and only what it allowed
// is remembered here. When the shared record cannot be read, the request
// is refused.
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
// address client (its IP address), asks for action at now. It returns an
// error matching ErrSignatureReplayed when v's signature was used for
// another action (past ReplayGrace, or from another client, or when it
// served 4 already), and ErrTooManySignatures when it is new and there is
// no room for it. With a shared record, an error reading it is returned
// wrapped, of no tc3 code: an internal error. Actions should come from a
// small set (the API's): each distinct name is kept for good.
func (p *Replays) Use(ctx context.Context, v Verified, signer Signer, action, client string, now time.Time) error {
	sig, err := hex.DecodeString(v.Signature)
	if err != nil || len(sig) < 16 {
		return failure(ErrSignatureFailure, "the signature is not hexadecimal")
	}
	use := replayUseOf{minute: v.Timestamp.Unix() / 60, signer: signer, action: action, from: maphash.String(p.seed, client), now: now}
	copy(use.key[:], sig)
	p.mu.Lock()
	decided, err := p.useLocal(use)
	p.mu.Unlock()
	if decided {
		return err
	}
	// Not held during the round trip: the other signatures go on.
	if err := p.useShared(ctx, use, client); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.record(use)
}

// replayUseOf is one call of Use.
type replayUseOf struct {
	key    [16]byte // the signature's first 16 bytes
	minute int64    // of the signature's timestamp
	signer Signer
	action string
	from   uint64 // hash of the client address
	now    time.Time
}

// expires is when the signature of a timestamp in minute expires: when
// the last of that minute's is past MaxSkew.
func expires(minute int64) time.Time {
	return time.Unix((minute+1)*60+int64(MaxSkew/time.Second), 0)
}

// mayServeAnother is the rule for a signature that served served actions,
// first used since ago, to serve another action: from the client of its
// first use (sameClient), within ReplayGrace, up to maxActions.
func mayServeAnother(served int, sameClient bool, since time.Duration) bool {
	return served < maxActions && sameClient && since <= ReplayGrace
}

// useLocal decides u from this process's memory when it can: decided is
// false when the shared record must. p.mu is held.
func (p *Replays) useLocal(u replayUseOf) (decided bool, err error) {
	p.expire(u.now)
	id := p.intern(u.action)
	if b := p.buckets[u.minute]; b != nil {
		if r, ok := b.uses[u.key]; ok {
			free := -1
			for i, a := range r.actions {
				if a == id {
					return true, nil
				}
				if a == 0 && free < 0 {
					free = i
				}
			}
			if p.opts.Shared != nil {
				return false, nil
			}
			served := free
			if free < 0 {
				served = maxActions
			}
			if mayServeAnother(served, r.client == u.from, time.Duration(u.now.UnixNano()-r.first)) {
				r.actions[free] = id
				b.uses[u.key] = r
				return true, nil
			}
			return true, replayed(p.names[r.actions[0]-1], u.action)
		}
	}
	if err := p.room(u.signer); err != nil {
		return true, err
	}
	if p.opts.Shared != nil {
		return false, nil
	}
	p.insert(u, id)
	return true, nil
}

// useShared decides u, which this process's memory could not, with the
// shared record.
func (p *Replays) useShared(ctx context.Context, u replayUseOf, client string) error {
	// Each round that fails to add the action found one more added by
	// another process: the rule allows maxActions at most.
	for range maxActions + 1 {
		actions, first, at, err := p.opts.Shared.ClaimSignature(ctx, u.key[:], u.action, client, u.now, expires(u.minute))
		if err != nil {
			return fmt.Errorf("tc3: reading the shared record of a signature: %w", err)
		}
		if len(actions) == 0 {
			return errors.New("tc3: the shared record of a signature holds no action")
		}
		if slices.Contains(actions, u.action) {
			return nil
		}
		if !mayServeAnother(len(actions), first == client, u.now.Sub(at)) {
			return replayed(actions[0], u.action)
		}
		added, err := p.opts.Shared.AddSignatureAction(ctx, u.key[:], actions, u.action)
		if err != nil {
			return fmt.Errorf("tc3: adding to the shared record of a signature: %w", err)
		}
		if added {
			return nil
		}
	}
	return errors.New("tc3: the shared record of a signature kept changing")
}

// record remembers u, which the shared record allowed. p.mu is held.
func (p *Replays) record(u replayUseOf) error {
	p.expire(u.now)
	id := p.intern(u.action)
	if b := p.buckets[u.minute]; b != nil {
		if r, ok := b.uses[u.key]; ok {
			// The shared record holds at most maxActions, of which these
			// are some: there is room.
			if i := slices.Index(r.actions[:], 0); i >= 0 && !slices.Contains(r.actions[:], id) {
				r.actions[i] = id
				b.uses[u.key] = r
			}
			return nil
		}
	}
	if err := p.room(u.signer); err != nil {
		return err
	}
	p.insert(u, id)
	return nil
}

// room returns ErrTooManySignatures when a new signature of signer is
// one too many. p.mu is held.
func (p *Replays) room(signer Signer) error {
	if (!signer.Privileged && p.total >= p.opts.MaxEntries) || p.perKey[signer.Name] >= p.opts.MaxPerKey {
		return failure(ErrTooManySignatures, "too many distinct requests within %v: retry in a minute", 2*MaxSkew)
	}
	return nil
}

// insert remembers u's new signature, which served the action id. p.mu
// is held.
func (p *Replays) insert(u replayUseOf, id uint16) {
	b := p.buckets[u.minute]
	if b == nil {
		b = &replayBucket{uses: map[[16]byte]replayUse{}, perKey: map[string]int{}}
		p.buckets[u.minute] = b
	}
	b.uses[u.key] = replayUse{actions: [maxActions]uint16{id}, first: u.now.UnixNano(), client: u.from}
	b.perKey[u.signer.Name]++
	p.perKey[u.signer.Name]++
	if u.signer.Privileged {
		b.privileged++
	} else {
		p.total++
	}
}

// replayed is the refusal of a signature that served first for action.
func replayed(first, action string) error {
	return failure(ErrSignatureReplayed, "this signature was already used for %s, not %s: sign each request anew", first, action)
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
		if now.Before(expires(minute)) {
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
