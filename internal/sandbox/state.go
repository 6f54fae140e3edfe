package sandbox

import (
	"fmt"
	"sync"

	"github.com/scfd/scfd/internal/errdefs"
)

// State is where an instance is in its life.
//
//	Creating → Starting → Ready ⇄ Busy ⇄ Idle
//	any state → Stopping → Gone; Creating/Starting → Gone (failed start)
type State int

// The states.
const (
	Creating State = iota // rootfs, network and runtime container being made
	Starting              // process started, waiting for the port
	Ready                 // accepted a connection, never used yet
	Busy                  // serving at least one request
	Idle                  // served, now waiting
	Stopping              // being torn down
	Gone                  // nothing left
)

var stateNames = [...]string{"creating", "starting", "ready", "busy", "idle", "stopping", "gone"}

func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// transitions is the whole table of legal moves.
var transitions = map[State][]State{
	Creating: {Starting, Stopping, Gone},
	Starting: {Ready, Stopping, Gone},
	Ready:    {Busy, Idle, Stopping},
	Busy:     {Idle, Busy, Stopping},
	Idle:     {Busy, Stopping},
	Stopping: {Gone},
	Gone:     {},
}

// CanTransition reports whether an instance may move from one state to
// another.
func CanTransition(from, to State) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// StateBox holds a State behind a mutex and refuses illegal moves. Its zero
// value is in Creating.
type StateBox struct {
	mu sync.Mutex
	s  State
}

// Get returns the current state.
func (b *StateBox) Get() State {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.s
}

// Set moves to state to, or fails with errdefs.ErrFailedPrecondition.
func (b *StateBox) Set(to State) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !CanTransition(b.s, to) {
		return errdefs.New(errdefs.ErrFailedPrecondition, "Instance", "instance cannot go from %s to %s", b.s, to)
	}
	b.s = to
	return nil
}

// SetByCaller makes a move that a driver's caller may ask for: between
// Ready, Busy and Idle. The other states are the driver's to set.
func (b *StateBox) SetByCaller(to State) error {
	switch to {
	case Ready, Busy, Idle:
		return b.Set(to)
	}
	return errdefs.New(errdefs.ErrFailedPrecondition, "Instance", "instance state %s is the driver's to set", to)
}

// Stop moves to Stopping and reports whether this call did it: false means
// the instance is already stopping or gone.
func (b *StateBox) Stop() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.s == Stopping || b.s == Gone {
		return false
	}
	b.s = Stopping
	return true
}
