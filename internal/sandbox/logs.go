package sandbox

import (
	"bytes"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Stream names an output stream of an instance.
type Stream string

// The streams.
const (
	Stdout Stream = "stdout"
	Stderr Stream = "stderr"
)

// LogLine is one line an instance printed.
type LogLine struct {
	Instance string
	Stream   Stream
	Time     time.Time // when scfd read it
	Text     string    // without the newline; long lines are cut at MaxLineBytes
	// Dropped counts the lines lost, because the reader was slow, between
	// the previous delivered line and this one.
	Dropped uint64
}

// Defaults of a LogPump.
const (
	MaxLineBytes   = 16 << 10 // longer lines are delivered in pieces
	LogQueueLines  = 256      // lines buffered for a slow reader
	lastLinesKept  = 10
	readBufferSize = 4 << 10
)

// LogPump reads an instance's output streams line by line and hands the
// lines to a sink from one goroutine. Reading never waits for the sink:
// when LogQueueLines lines are waiting, new lines are dropped and counted,
// and the count rides on the next delivered line. It also remembers the
// last lines, for start-up errors.
type LogPump struct {
	instance  string
	sink      func(LogLine)
	now       func() time.Time
	readers   sync.WaitGroup
	done      chan struct{}
	closeOnce sync.Once
	wake      chan struct{} // tells the delivering goroutine lines wait

	mu      sync.Mutex
	dropped uint64 // not yet reported
	total   uint64 // ever dropped
	last    []string
	queue   []LogLine // lines for the sink
	closed  bool      // no line comes any more
	streams []*pumpStream

	// delivering is held while lines go to the sink, so that they go in
	// order whoever hands them over.
	delivering sync.Mutex
}

// pumpStream is one stream of an instance. A pipe read through the poller
// (os.Pipe) is read under mu, until the pipe is empty, by its goroutine
// when the pipe is readable and by Sync whenever it is called: so Sync
// reads the last lines itself instead of waiting for the goroutine to
// wake. Other readers are read by their goroutine alone, which says when
// it waits in Read; Sync can only approximate for them.
type pumpStream struct {
	name Stream
	raw  syscall.RawConn // nil unless the stream is a pollable file

	mu      sync.Mutex
	buf     []byte
	partial []byte // a line not yet complete
	eof     bool

	waiting atomic.Bool   // a blocking reader waits in Read
	reads   atomic.Uint64 // reads of a blocking reader
}

// drain's answers.
const (
	drained  = iota // the pipe is empty
	more            // the budget ran out with bytes left
	finished        // end of the stream or an error
)

// drainBudget is how many reads drain does before it lets Sync or the
// goroutine in: a flood of output does not hold a stream for long.
const drainBudget = 16

// pollable reports whether raw's descriptor is non-blocking, as the
// runtime poller needs.
func pollable(raw syscall.RawConn) bool {
	flags := 0
	if err := raw.Control(func(fd uintptr) { flags, _ = unix.FcntlInt(fd, unix.F_GETFL, 0) }); err != nil {
		return false
	}
	return flags&unix.O_NONBLOCK != 0
}

// NewLogPump returns a pump for instance delivering to sink (nil
// discards). now stamps the lines; nil means time.Now.
func NewLogPump(instance string, sink func(LogLine), now func() time.Time) *LogPump {
	if now == nil {
		now = time.Now
	}
	p := &LogPump{instance: instance, sink: sink, now: now, done: make(chan struct{}), wake: make(chan struct{}, 1)}
	if sink != nil {
		go p.deliver()
	} else {
		close(p.done)
	}
	return p
}

// Read consumes r as stream until EOF and closes r. Call it once per
// stream, each in its own goroutine, before Wait.
func (p *LogPump) Read(stream Stream, r io.ReadCloser) {
	s := &pumpStream{name: stream, buf: make([]byte, readBufferSize)}
	if f, ok := r.(*os.File); ok {
		if raw, err := f.SyscallConn(); err == nil && pollable(raw) {
			s.raw = raw
		}
	}
	p.mu.Lock()
	p.streams = append(p.streams, s)
	p.mu.Unlock()
	p.readers.Add(1)
	go func() {
		defer p.readers.Done()
		defer r.Close()
		if s.raw != nil {
			p.readPipe(s)
		} else {
			p.readBlocking(s, r)
		}
		s.mu.Lock()
		s.eof = true
		if len(s.partial) > 0 {
			p.emit(s.name, string(s.partial))
			s.partial = nil
		}
		s.mu.Unlock()
	}()
}

// readPipe reads a polled pipe whenever it is readable, until its end.
func (p *LogPump) readPipe(s *pumpStream) {
	for {
		state := finished
		err := s.raw.Read(func(fd uintptr) bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			state = p.drain(s, int(fd))
			return state != drained
		})
		if err != nil || state == finished {
			return
		}
	}
}

// readBlocking reads r, saying when it waits in Read.
func (p *LogPump) readBlocking(s *pumpStream, r io.Reader) {
	defer s.waiting.Store(true) // at EOF nothing more comes
	for {
		s.waiting.Store(true)
		n, err := r.Read(s.buf)
		s.waiting.Store(false)
		s.mu.Lock()
		p.split(s, s.buf[:n])
		s.mu.Unlock()
		s.reads.Add(1)
		if err != nil {
			return
		}
	}
}

// drain reads s's pipe, with s.mu held, until it is empty, it ends or the
// budget runs out, and emits the lines read.
func (p *LogPump) drain(s *pumpStream, fd int) int {
	if s.eof {
		return finished
	}
	for range drainBudget {
		n, err := unix.Read(fd, s.buf)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return drained
		case err != nil || n == 0:
			s.eof = true
			return finished
		}
		p.split(s, s.buf[:n])
	}
	return more
}

// split emits the complete lines of s's partial line followed by b, and
// keeps the rest; a line reaching MaxLineBytes is emitted in pieces.
func (p *LogPump) split(s *pumpStream, b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		chunk := b
		if i >= 0 {
			chunk, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		s.partial = append(s.partial, chunk...)
		for len(s.partial) >= MaxLineBytes {
			p.emit(s.name, string(s.partial[:MaxLineBytes]))
			s.partial = s.partial[MaxLineBytes:]
		}
		if i >= 0 {
			p.emit(s.name, string(bytes.TrimSuffix(s.partial, []byte{'\r'})))
			s.partial = s.partial[:0]
		}
	}
}

func (p *LogPump) emit(stream Stream, text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.last) == lastLinesKept {
		copy(p.last, p.last[1:])
		p.last = p.last[:lastLinesKept-1]
	}
	p.last = append(p.last, text)
	if p.sink == nil || p.closed {
		return
	}
	if len(p.queue) >= LogQueueLines {
		p.dropped++
		p.total++
		return
	}
	p.queue = append(p.queue, LogLine{Instance: p.instance, Stream: stream, Time: p.now(), Text: text, Dropped: p.dropped})
	p.dropped = 0
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Sync waits, at most max, until every byte the process wrote to its
// streams before the call has been read and its lines handed to the sink.
// It reads what waits in a polled pipe itself and hands the lines over
// itself, so that it rarely waits at all. An invocation calls it when the
// function answered, so that lines printed just before the answer are not
// lost to the next.
func (p *LogPump) Sync(max time.Duration) {
	deadline := time.Now().Add(max)
	p.mu.Lock()
	streams := p.streams
	p.mu.Unlock()
	for _, s := range streams {
		if s.raw != nil {
			p.drainNow(s, deadline)
		} else {
			waitBlocking(s, deadline)
		}
	}
	p.flush()
}

// drainNow reads s's pipe until it is empty, or until deadline under a
// flood.
func (p *LogPump) drainNow(s *pumpStream, deadline time.Time) {
	for {
		state := finished
		s.mu.Lock()
		if !s.eof {
			s.raw.Control(func(fd uintptr) { state = p.drain(s, int(fd)) })
		}
		s.mu.Unlock()
		if state != more || !time.Now().Before(deadline) {
			return
		}
	}
}

// waitBlocking waits, until deadline, for a blocking reader to wait in
// Read twice with no read in between: it may have taken bytes from its
// stream and not yet said so.
func waitBlocking(s *pumpStream, deadline time.Time) {
	for time.Now().Before(deadline) {
		reads := s.reads.Load()
		if s.waiting.Load() {
			spin(syncRecheck)
			if s.waiting.Load() && s.reads.Load() == reads {
				return
			}
			continue
		}
		spin(syncRecheck)
	}
}

// syncRecheck is how long Sync pauses between its looks at a blocking
// reader. The pause is spun, not slept: a sleep lasts a timer tick, far
// longer than the few microseconds a reader needs.
const syncRecheck = 20 * time.Microsecond

// spin lets other goroutines run for d without parking on a timer.
func spin(d time.Duration) {
	for end := time.Now().Add(d); time.Now().Before(end); {
		runtime.Gosched()
	}
}

// flush hands every queued line to the sink, in order.
func (p *LogPump) flush() {
	if p.sink == nil {
		return
	}
	p.delivering.Lock()
	defer p.delivering.Unlock()
	for {
		p.mu.Lock()
		lines := p.queue
		p.queue = nil
		p.mu.Unlock()
		if len(lines) == 0 {
			return
		}
		for _, l := range lines {
			p.sink(l)
		}
	}
}

func (p *LogPump) deliver() {
	defer close(p.done)
	for range p.wake {
		p.flush()
	}
	p.flush()
}

// Wait returns once every stream reached EOF and every queued line was
// delivered. Lines dropped after the last delivered one are reported in a
// final line with empty Text.
// It is safe to call more than once, from several goroutines.
func (p *LogPump) Wait() {
	p.readers.Wait()
	p.closeOnce.Do(p.closeQueue)
	<-p.done
}

func (p *LogPump) closeQueue() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.sink == nil {
		return
	}
	if p.dropped > 0 {
		p.queue = append(p.queue, LogLine{Instance: p.instance, Stream: Stderr, Time: p.now(), Dropped: p.dropped})
		p.dropped = 0
	}
	close(p.wake)
}

// Dropped returns how many lines were dropped in all.
func (p *LogPump) Dropped() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.total
}

// LastLines returns the last lines read (at most 10), oldest first.
func (p *LogPump) LastLines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.last...)
}
