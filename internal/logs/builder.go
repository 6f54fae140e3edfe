package logs

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Sizes of an invocation's log.
const (
	// MaxLogBytes caps one invocation's log. The function's own lines stop
	// being kept once they reach it (a line saying so is added); the
	// platform's closing lines are always kept.
	MaxLogBytes = 1 << 20
	// TailBytes is how much of the log Invoke returns with LogType Tail.
	TailBytes = 4 << 10
)

// Builder collects one invocation's log: the platform's lines (START,
// Init Report, ERROR, Response, END, Report) and the function's own
// output, in order. The function's lines are capped at MaxLogBytes in all;
// platform lines always fit. It is safe for concurrent use (output lines
// come from the instance's log goroutine). The zero value is not usable;
// call NewBuilder.
type Builder struct {
	mu      sync.Mutex
	b       strings.Builder
	max     int
	user    int // bytes of the function's lines kept
	cut     bool
	dropped int // function lines not kept
}

// NewBuilder returns an empty log capped at max bytes of the function's
// output (0 means MaxLogBytes).
func NewBuilder(max int) *Builder {
	if max <= 0 {
		max = MaxLogBytes
	}
	return &Builder{max: max}
}

// Platform appends a line of the platform's own (without its newline).
func (b *Builder) Platform(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.b.Cap() == 0 {
		b.b.Grow(initialBytes)
	}
	b.b.WriteString(line)
	b.b.WriteByte('\n')
}

// initialBytes is room for a small invocation's whole log (START, END,
// Report and a few lines of its own), so that it is allocated once.
const initialBytes = 512

// Line appends a line the function printed. Once the function's lines
// reach the cap, the rest are counted, not kept, and one line marks the
// cut.
func (b *Builder) Line(text string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cut {
		b.dropped++
		return
	}
	if b.user+len(text)+1 > b.max {
		b.cut = true
		b.dropped++
		fmt.Fprintf(&b.b, "[scfd] log cut: this invocation's output exceeds %d bytes; further lines are not kept\n", b.max)
		return
	}
	b.user += len(text) + 1
	b.b.WriteString(text)
	b.b.WriteByte('\n')
}

// Dropped notes n lines lost before reaching the log (a slow reader).
func (b *Builder) Dropped(n uint64) {
	if n == 0 {
		return
	}
	b.Platform("[scfd] " + strconv.FormatUint(n, 10) + " lines of output were lost: the function printed faster than they could be collected")
}

// String is the log so far.
func (b *Builder) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Truncated reports whether some of the function's lines were not kept.
func (b *Builder) Truncated() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cut
}

// Tail returns the last n bytes of log (TailBytes when n is 0), starting
// at a line when a line break falls within them, and never splitting a
// UTF-8 character.
func Tail(log string, n int) string {
	if n <= 0 {
		n = TailBytes
	}
	if len(log) <= n {
		return log
	}
	t := log[len(log)-n:]
	if i := strings.IndexByte(t, '\n'); i >= 0 && i < len(t)-1 {
		return t[i+1:]
	}
	for len(t) > 0 && !utf8.RuneStart(t[0]) {
		t = t[1:]
	}
	return t
}
