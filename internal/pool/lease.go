// Package pool decides how many instances each function version has: it
// lends warm instances to invocations, starts new ones (sharing starts
// between waiting callers), enforces reserved and account concurrency,
// reaps idle instances, and keeps provisioned ones.
//
// Callers see only Acquire and the Lease it returns; the pool owns every
// instance it starts, through a sandbox.Driver, and routes each instance's
// output lines to the lease that currently holds it. With a driver that
// prepares containers ahead (sandbox.Preparer), Prepare readies a
// version's next cold start, and starts from a prepared container do not
// wait for a start token.
package pool

import (
	"time"

	"github.com/scfd/scfd/internal/sandbox"
)

// Outcome tells the pool what became of a lent instance.
type Outcome int

// The outcomes of a lease.
const (
	// Healthy: the instance answered (even with an error status) and may
	// serve again.
	Healthy Outcome = iota
	// Broken: the instance must be destroyed (a timeout, an out-of-memory
	// kill, a process exit, a broken connection).
	Broken
)

// ColdStart describes the start of an instance that a lease got fresh.
type ColdStart struct {
	// ImageCheck is the time spent finding the image's layers locally.
	ImageCheck time.Duration
	// Phases are the sandbox's steps (root filesystem, network, runtime
	// create and start, until the server accepted).
	Phases sandbox.Phases
	// Total is the whole time from the decision to start until ready.
	Total time.Duration
	// Provisioned is true when the instance was started ahead of demand
	// (provisioned concurrency) and this is its first use.
	Provisioned bool
}

// Path names the way the instance started, for the Init Report:
// "prepared" when its container had been created ahead and only its
// process started (Phases.Prepared), "provisioned" for the first use of a
// provisioned instance, "create" otherwise.
func (c *ColdStart) Path() string {
	switch {
	case c.Provisioned:
		return "provisioned"
	case c.Phases.Prepared:
		return "prepared"
	}
	return "create"
}

// Lease is one instance lent to one invocation (or to one of several
// concurrent requests of an HTTP function). Release it exactly once.
type Lease interface {
	// Instance is the lent instance: its address, memory statistics and
	// exit reason.
	Instance() sandbox.Instance
	// Cold is non-nil when this lease started the instance (a cold start)
	// or is the first use of a provisioned instance.
	Cold() *ColdStart
	// Attach sends the instance's output lines to sink until the returned
	// detach is called. Lines printed while nothing is attached go to the
	// pool's instance log (Options.InstanceLog). With several concurrent
	// leases on one instance, every attached sink gets every line.
	Attach(sink func(sandbox.LogLine)) (detach func())
	// OnExit calls f in its own goroutine once the instance's process
	// ended (at once if it already has), unless stop is called first;
	// stop reports whether it kept f from running. It costs no
	// goroutine while the instance lives.
	OnExit(f func()) (stop func() bool)
	// Release returns the instance to the pool, or destroys it when the
	// outcome is Broken.
	Release(Outcome)
}
