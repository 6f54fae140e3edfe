// Package cluster lets several scfd replicas share the work: each
// function has one owning replica at a time, and requests that arrive at
// another replica are forwarded to the owner, so that one replica's pool
// holds all of a function's instances and its concurrency (reserved,
// provisioned, MaxConcurrency) is counted in one place.
//
// Three parts, each usable alone:
//
//   - Membership: each replica keeps a row in the shared database's
//     replicas table (its ID, the address of its internal listener, a
//     heartbeat renewed every Interval) and reads everyone's rows at the
//     same time. A replica is live while its heartbeat moved within
//     Timeout (judged by the reader's own clock, so clocks of different
//     machines need not agree); a clean stop deletes its row at once
//     (Leave). Every change of the live set is handed to subscribers.
//   - Ownership: rendezvous (highest random weight) hashing of a Key, a
//     function of a namespace, over the live replicas. A View is an
//     immutable snapshot swapped atomically, so Owner neither allocates
//     nor queries anything. Removing a replica moves only its keys.
//   - Forwarding: the Forwarder sends a web request (through
//     httputil.ReverseProxy, bodies streaming both ways, Upgrade
//     included) or an event invocation to the owner's internal listener,
//     authenticated with a shared secret (HMAC-SHA256 over the request's
//     line and a timestamp); Handler serves that listener and refuses
//     unauthenticated requests. A forwarded request is never forwarded
//     again (the receiver serves it even when its own view names another
//     owner). An owner that cannot be reached is suspected (left out of
//     this replica's view for Timeout) and the request goes to the next
//     owner, once.
//
// The unit of ownership is a function, all its versions: a function's
// reserved concurrency is shared by its versions, so they are counted in
// one pool. The account's total concurrency is still counted per
// replica.
package cluster

import (
	"context"
	"time"

	"github.com/scfd/scfd/internal/invocation"
)

// Defaults of Options.
const (
	// DefaultInterval is how often a replica renews its heartbeat and
	// reads the others'.
	DefaultInterval = time.Second
	// DefaultTimeout is how long a replica whose heartbeat stopped
	// moving stays live: its functions move to the others after it.
	DefaultTimeout = 3 * time.Second
	// DefaultForget is how long a heartbeat must have stood still, by a
	// replica's own clock, for it to delete the row (a replica that died
	// without leaving).
	DefaultForget = time.Minute
)

// Member is one replica.
type Member struct {
	// ID names the replica for the run of its process; required, unique.
	ID string
	// Addr is the host:port of its internal listener, where the others
	// forward requests.
	Addr string
}

// Key names the unit of ownership: a function of a namespace.
type Key struct {
	Namespace, Function string
}

// Owners answers who owns a key; *Membership has it, and a fixed *View
// does too.
type Owners interface {
	// Owner returns key's owner and whether it is this replica.
	Owner(k Key) (Member, bool)
	// Next returns the owner key would have without the replica skip,
	// and whether that is this replica.
	Next(k Key, skip string) (Member, bool)
	// Suspect leaves the replica id out of the view for a while: it
	// could not be reached. Nil-safe to call with this replica's ID (no
	// effect).
	Suspect(id string)
}

// Invoker runs event invocations; *invoke.Invoker has it.
type Invoker interface {
	Invoke(ctx context.Context, req invocation.Request) (*invocation.Result, error)
}
