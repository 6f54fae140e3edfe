package sandbox

import (
	"bufio"
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
	instance string
	sink     func(LogLine)
	now      func() time.Time
	queue    chan LogLine
	readers  sync.WaitGroup
	done     chan struct{}
	// closeOnce guards the close of queue.
	closeOnce sync.Once

	mu      sync.Mutex
	dropped uint64 // not yet reported
	total   uint64 // ever dropped
	last    []string

	// For Sync: the readers and whether each waits in Read, and whether
	// the sink is handling a line.
	streams []*pumpReader
	pending atomic.Int64 // lines queued or being delivered
}

// pumpReader wraps one stream and says whether it waits for more bytes.
// For a pipe read through the poller (os.Pipe), waiting turns false before
// each read and true only when a read found the pipe empty: so when it is
// true, every byte read before has been split into lines and emitted.
// Other readers set it around a blocking Read, which Sync can only
// approximate.
type pumpReader struct {
	r       io.ReadCloser
	raw     syscall.RawConn // nil unless r is a pollable file
	waiting atomic.Bool
	reads   atomic.Uint64
}

func newPumpReader(r io.ReadCloser) *pumpReader {
	pr := &pumpReader{r: r}
	if f, ok := r.(*os.File); ok {
		if raw, err := f.SyscallConn(); err == nil && pollable(raw) {
			pr.raw = raw
		}
	}
	return pr
}

// pollable reports whether raw's descriptor is non-blocking, as the
// runtime poller needs.
func pollable(raw syscall.RawConn) bool {
	flags := 0
	if err := raw.Control(func(fd uintptr) { flags, _ = unix.FcntlInt(fd, unix.F_GETFL, 0) }); err != nil {
		return false
	}
	return flags&unix.O_NONBLOCK != 0
}

func (r *pumpReader) Read(b []byte) (int, error) {
	defer r.reads.Add(1)
	if r.raw == nil {
		r.waiting.Store(true)
		n, err := r.r.Read(b)
		r.waiting.Store(false)
		return n, err
	}
	var n int
	var rerr error
	err := r.raw.Read(func(fd uintptr) bool {
		r.waiting.Store(false)
		for {
			n, rerr = unix.Read(int(fd), b)
			if rerr != unix.EINTR {
				break
			}
		}
		if rerr == unix.EAGAIN {
			r.waiting.Store(true)
			return false
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	if rerr != nil {
		return 0, rerr
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// unread says how many bytes wait in the stream's pipe, when it is one.
func (r *pumpReader) unread() int {
	if r.raw == nil {
		return 0
	}
	n := 0
	r.raw.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.TIOCINQ) }) // TIOCINQ is FIONREAD
	return n
}

// NewLogPump returns a pump for instance delivering to sink (nil
// discards). now stamps the lines; nil means time.Now.
func NewLogPump(instance string, sink func(LogLine), now func() time.Time) *LogPump {
	if now == nil {
		now = time.Now
	}
	p := &LogPump{instance: instance, sink: sink, now: now, done: make(chan struct{})}
	if sink != nil {
		p.queue = make(chan LogLine, LogQueueLines)
		go p.deliver()
	} else {
		close(p.done)
	}
	return p
}

// Read consumes r as stream until EOF and closes r. Call it once per
// stream, each in its own goroutine, before Wait.
func (p *LogPump) Read(stream Stream, r io.ReadCloser) {
	pr := newPumpReader(r)
	p.mu.Lock()
	p.streams = append(p.streams, pr)
	p.mu.Unlock()
	p.readers.Add(1)
	go func() {
		defer p.readers.Done()
		defer r.Close()
		defer pr.waiting.Store(true) // at EOF nothing more comes
		br := bufio.NewReaderSize(pr, readBufferSize)
		var partial []byte
		for {
			chunk, err := br.ReadSlice('\n')
			if len(chunk) > 0 {
				complete := chunk[len(chunk)-1] == '\n'
				if complete {
					chunk = chunk[:len(chunk)-1]
				}
				partial = append(partial, chunk...)
				for len(partial) >= MaxLineBytes {
					p.emit(stream, string(partial[:MaxLineBytes]))
					partial = partial[MaxLineBytes:]
				}
				if complete {
					p.emit(stream, string(bytes.TrimSuffix(partial, []byte{'\r'})))
					partial = partial[:0]
				}
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			if err != nil {
				if len(partial) > 0 {
					p.emit(stream, string(partial))
				}
				return
			}
		}
	}()
}

func (p *LogPump) emit(stream Stream, text string) {
	p.mu.Lock()
	if len(p.last) == lastLinesKept {
		copy(p.last, p.last[1:])
		p.last = p.last[:lastLinesKept-1]
	}
	p.last = append(p.last, text)
	if p.queue == nil {
		p.mu.Unlock()
		return
	}
	l := LogLine{Instance: p.instance, Stream: stream, Time: p.now(), Text: text, Dropped: p.dropped}
	p.pending.Add(1)
	select {
	case p.queue <- l:
		p.dropped = 0
	default:
		p.pending.Add(-1)
		p.dropped++
		p.total++
	}
	p.mu.Unlock()
}

// Sync waits, at most max, until every byte the process wrote to its
// streams before the call has been read and its lines handed to the sink:
// each reader waits for more with its pipe empty, and no line is queued
// or being delivered. An invocation calls it when the function answered,
// so that lines printed just before the answer are not lost to the next.
func (p *LogPump) Sync(max time.Duration) {
	deadline := time.Now().Add(max)
	for time.Now().Before(deadline) {
		reads, ok, exact := p.idle()
		if ok && exact {
			return
		}
		if ok {
			// A blocking reader may have taken bytes from its stream and
			// not yet said so: idle must hold twice, with no read in
			// between.
			spin(syncRecheck)
			if again, ok, _ := p.idle(); ok && again == reads {
				return
			}
			continue
		}
		spin(syncRecheck)
	}
}

// syncRecheck is how long Sync pauses between its looks. The pause is
// spun, not slept: a sleep lasts a timer tick, far longer than the few
// microseconds a reader needs.
const syncRecheck = 20 * time.Microsecond

// spin lets other goroutines run for d without parking on a timer.
func spin(d time.Duration) {
	for end := time.Now().Add(d); time.Now().Before(end); {
		runtime.Gosched()
	}
}

// idle reports whether every reader waits with its pipe empty and no line
// is queued or being delivered, with the number of reads done so far.
// exact says every reader is a polled pipe, for which one look is proof.
// The order of the looks matters: a pipe seen empty and then its reader
// seen waiting means the reader emitted every line it read; the lines
// emitted before are counted in pending, which is looked at last.
func (p *LogPump) idle() (reads uint64, ok, exact bool) {
	p.mu.Lock()
	streams := p.streams
	p.mu.Unlock()
	ok, exact = true, true
	for _, r := range streams {
		reads += r.reads.Load()
		if r.unread() > 0 || !r.waiting.Load() {
			ok = false
		}
		exact = exact && r.raw != nil
	}
	ok = ok && p.pending.Load() == 0
	return reads, ok, exact
}

func (p *LogPump) deliver() {
	defer close(p.done)
	for l := range p.queue {
		p.sink(l)
		p.pending.Add(-1)
	}
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
	if p.queue != nil {
		p.mu.Lock()
		if p.dropped > 0 {
			// The reader is gone, so this may block on a slow sink; that no
			// longer holds up the function.
			l := LogLine{Instance: p.instance, Stream: Stderr, Time: p.now(), Dropped: p.dropped}
			p.dropped = 0
			p.mu.Unlock()
			p.pending.Add(1)
			p.queue <- l
		} else {
			p.mu.Unlock()
		}
		close(p.queue)
	}
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
