package pool

import (
	"fmt"
	"time"
)

// Defaults of the bounds on an instance's output. An invocation's own log
// is further cut at logs.MaxLogBytes.
const (
	// DefaultLogRate is how many bytes of output per second an instance
	// may print, sustained.
	DefaultLogRate = 64 << 10
	// DefaultLogBurst is how many bytes it may print at once, above the
	// rate, after a quiet time.
	DefaultLogBurst = 1 << 20
)

// logLimit is a token bucket over the bytes an instance prints (each line
// counts its length plus the newline). Lines over the budget are dropped
// and counted; the next line let through is preceded by a marker saying
// how much was dropped. Time is the lines' own, so tests need no clock.
// The zero value is unusable: see newLogLimit.
type logLimit struct {
	rate, burst  float64
	tokens       float64
	last         time.Time
	droppedLines uint64
	droppedBytes uint64
}

// newLogLimit returns a bucket of rate bytes per second and burst bytes,
// full; nil (no limit) when rate is negative.
func newLogLimit(rate, burst int) *logLimit {
	if rate < 0 {
		return nil
	}
	if rate == 0 {
		rate = DefaultLogRate
	}
	if burst <= 0 {
		burst = DefaultLogBurst
	}
	return &logLimit{rate: float64(rate), burst: float64(burst), tokens: float64(burst)}
}

// admit spends the cost of a line of n bytes printed at t. It reports
// whether the line is kept and, when it is and lines were dropped before
// it, the marker to put first.
func (l *logLimit) admit(t time.Time, n int) (keep bool, marker string) {
	if l == nil {
		return true, ""
	}
	if !l.last.IsZero() && t.After(l.last) {
		l.tokens = min(l.burst, l.tokens+t.Sub(l.last).Seconds()*l.rate)
	}
	if t.After(l.last) {
		l.last = t
	}
	cost := float64(n + 1)
	if l.tokens < cost {
		l.droppedLines++
		l.droppedBytes += uint64(n + 1)
		return false, ""
	}
	l.tokens -= cost
	return true, l.flush()
}

// flush returns the marker of the lines dropped since the last one, or ""
// when none were, and starts counting again.
func (l *logLimit) flush() string {
	if l == nil || l.droppedLines == 0 {
		return ""
	}
	marker := fmt.Sprintf("[scfd] %d lines (%d bytes) of output dropped: this instance printed more than its limit of %d KB/s (bursts of %d KB)",
		l.droppedLines, l.droppedBytes, int(l.rate)/1024, int(l.burst)/1024)
	l.droppedLines, l.droppedBytes = 0, 0
	return marker
}
