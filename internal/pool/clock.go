package pool

import "time"

// Clock is the pool's source of time: idle reaping, queue timeouts and
// retries of provisioned starts are scheduled through it, so tests drive
// them without sleeping. Durations of starts are measured with the real
// monotonic clock whatever Clock is.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has passed.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a scheduled call of Clock.AfterFunc.
type Timer interface {
	// Stop prevents the call if it has not run yet and reports whether it
	// did.
	Stop() bool
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// AfterFunc is time.AfterFunc.
func (SystemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
