// Package upstream is scfd's HTTP/1.1 transport to its instances.
//
// net/http's Transport hands every exchange to two goroutines of each
// connection (one writes the request, one reads the answer), so a proxied
// request wakes three goroutines where one would do; on a small machine
// those wake-ups cost more CPU than the exchange itself. Transport writes
// the request and reads the answer's head on the caller's goroutine, over
// kept-alive connections it pools per address, with net/http's own request
// writer and response reader. What needs the answer read while the
// request is still being sent (a protocol upgrade, a body of unknown or
// large size, Expect: 100-continue, trailers) goes to an http.Transport.
package upstream

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Defaults of Options.
const (
	// DefaultMaxIdlePerAddr is how many idle connections are kept per
	// instance address.
	DefaultMaxIdlePerAddr = 256
	// DefaultIdleTimeout is how long an idle connection is kept.
	DefaultIdleTimeout = 90 * time.Second
	// MaxDirectBody is the largest request body sent on the caller's
	// goroutine; it is read whole first, so that a request on a
	// connection the instance had closed can be sent again.
	MaxDirectBody = 1 << 20
	// MaxHeaderBytes bounds an answer's head, as net/http's Transport
	// bounds it by default: an instance cannot grow scfd's memory with a
	// head that never ends.
	MaxHeaderBytes = 10 << 20
	// max1xx bounds the informational answers before the real one.
	max1xx = 5
)

// Options configure a Transport. The zero value takes every default.
type Options struct {
	// MaxIdlePerAddr: see DefaultMaxIdlePerAddr. Zero means the default.
	MaxIdlePerAddr int
	// IdleTimeout: see DefaultIdleTimeout. Zero means the default.
	IdleTimeout time.Duration
	// Dial opens a connection. Nil means a net.Dialer with a 5 s timeout.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Transport is an http.RoundTripper to instances. It is safe for
// concurrent use.
type Transport struct {
	opts     Options
	fallback *http.Transport

	mu    sync.Mutex
	idle  map[string][]*conn // by address, most recently used last
	sweep *time.Timer        // armed while connections are idle
}

// New returns a Transport.
func New(opts Options) *Transport {
	if opts.MaxIdlePerAddr <= 0 {
		opts.MaxIdlePerAddr = DefaultMaxIdlePerAddr
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.Dial == nil {
		opts.Dial = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	return &Transport{
		opts: opts,
		fallback: &http.Transport{
			DialContext:         opts.Dial,
			MaxIdleConns:        4096,
			MaxIdleConnsPerHost: opts.MaxIdlePerAddr,
			IdleConnTimeout:     opts.IdleTimeout,
			DisableCompression:  true,
		},
		idle: map[string][]*conn{},
	}
}

// conn is a pooled connection.
type conn struct {
	net.Conn
	addr  string
	raw   syscall.RawConn // nil when the connection has no descriptor
	lr    *limitedReader  // under br: bounds the bytes of a head
	br    *bufio.Reader
	bw    *bufio.Writer
	since time.Time // idle since
}

// limitedReader reads from its connection until n bytes were read, then
// fails; n < 0 means no limit.
type limitedReader struct {
	r io.Reader
	n int64
}

// errHeadTooLarge is the error of an answer whose head passed
// MaxHeaderBytes.
var errHeadTooLarge = errors.New("upstream: the answer's head is larger than 10 MiB")

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return l.r.Read(p)
	}
	if l.n == 0 {
		return 0, errHeadTooLarge
	}
	p = p[:min(int64(len(p)), l.n)]
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// RoundTrip sends req and returns the answer, whose body must be read to
// its end and closed for the connection to serve again.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !direct(req) {
		return t.fallback.RoundTrip(req)
	}
	body, err := readBody(req)
	if err != nil {
		return nil, err
	}
	ctx := req.Context()
	for retried := false; ; retried = true {
		c, reused, err := t.get(ctx, req.URL.Host)
		if err != nil {
			return nil, err
		}
		res, sent, err := t.exchange(ctx, c, req, body)
		if err == nil {
			return res, nil
		}
		c.Close()
		// A kept-alive connection the instance closed just as it was
		// taken fails before any answer: the request goes again on a new
		// one if the instance cannot have run it, or if running it twice
		// is harmless, as net/http's Transport does.
		if !reused || retried || ctx.Err() != nil || sent && !replayable(req) {
			return nil, err
		}
	}
}

// replayable says whether req may run twice: an idempotent method
// without a body.
func replayable(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return req.Body == nil || req.Body == http.NoBody
	}
	return false
}

// CloseIdleConnections closes every idle connection.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = map[string][]*conn{}
	t.mu.Unlock()
	for _, cs := range idle {
		for _, c := range cs {
			c.Close()
		}
	}
	t.fallback.CloseIdleConnections()
}

// direct says whether req can be sent on the caller's goroutine.
func direct(req *http.Request) bool {
	if req.URL.Scheme != "http" || req.Trailer != nil || req.Header.Get("Upgrade") != "" || req.Header.Get("Expect") != "" {
		return false
	}
	if req.Body == nil || req.Body == http.NoBody {
		return true
	}
	return req.ContentLength > 0 && req.ContentLength <= MaxDirectBody
}

// readBody reads req's body whole (of the length it announced) and
// closes it.
func readBody(req *http.Request) ([]byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	defer req.Body.Close()
	b := make([]byte, req.ContentLength)
	if _, err := io.ReadFull(req.Body, b); err != nil {
		return nil, fmt.Errorf("upstream: reading the request body: %w", err)
	}
	return b, nil
}

// get returns an idle connection to addr, or a new one.
func (t *Transport) get(ctx context.Context, addr string) (c *conn, reused bool, err error) {
	now := time.Now()
	t.mu.Lock()
	cs := t.idle[addr]
	var stale []*conn
	for len(cs) > 0 {
		c, cs = cs[len(cs)-1], cs[:len(cs)-1]
		if now.Sub(c.since) < t.opts.IdleTimeout {
			break
		}
		stale = append(stale, c)
		c = nil
	}
	if len(cs) == 0 {
		delete(t.idle, addr)
	} else {
		t.idle[addr] = cs
	}
	t.mu.Unlock()
	for _, s := range stale {
		s.Close()
	}
	if c != nil {
		if c.open() {
			return c, true, nil
		}
		// Closed by the instance while idle (its server's idle timeout):
		// the next idle one, or a new one.
		c.Close()
		return t.get(ctx, addr)
	}
	nc, err := t.opts.Dial(ctx, "tcp", addr)
	if err != nil {
		return nil, false, err
	}
	lr := &limitedReader{r: nc, n: -1}
	c = &conn{Conn: nc, addr: addr, lr: lr, br: bufio.NewReaderSize(lr, 4096), bw: bufio.NewWriterSize(nc, 4096)}
	if sc, ok := nc.(syscall.Conn); ok {
		c.raw, _ = sc.SyscallConn()
	}
	return c, false, nil
}

// open says whether an idle connection is still open: the instance did
// not close it, and sent nothing on it, since its last answer. One
// non-blocking look at the socket.
func (c *conn) open() bool {
	if c.raw == nil {
		return true
	}
	open := true
	err := c.raw.Control(func(fd uintptr) {
		var b [1]byte
		_, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		open = err == unix.EAGAIN
	})
	return err == nil && open
}

// put keeps c for the next request to its address, or closes it.
func (t *Transport) put(c *conn) {
	if c.br.Buffered() > 0 {
		// Bytes no request asked for: the connection is out of step.
		c.Close()
		return
	}
	c.since = time.Now()
	t.mu.Lock()
	cs := t.idle[c.addr]
	if len(cs) >= t.opts.MaxIdlePerAddr {
		t.mu.Unlock()
		c.Close()
		return
	}
	t.idle[c.addr] = append(cs, c)
	if t.sweep == nil {
		t.sweep = time.AfterFunc(t.opts.IdleTimeout, t.closeStale)
	}
	t.mu.Unlock()
}

// closeStale closes the connections idle for IdleTimeout, and comes back
// while any stay idle.
func (t *Transport) closeStale() {
	now := time.Now()
	var stale []*conn
	t.mu.Lock()
	for addr, cs := range t.idle {
		n := 0
		for _, c := range cs {
			if now.Sub(c.since) >= t.opts.IdleTimeout {
				stale = append(stale, c)
			} else {
				cs[n] = c
				n++
			}
		}
		clear(cs[n:])
		if n == 0 {
			delete(t.idle, addr)
		} else {
			t.idle[addr] = cs[:n]
		}
	}
	t.sweep = nil
	if len(t.idle) > 0 {
		t.sweep = time.AfterFunc(t.opts.IdleTimeout/2, t.closeStale)
	}
	t.mu.Unlock()
	for _, c := range stale {
		c.Close()
	}
}

// longAgo is the deadline that breaks off a connection's reads and writes
// when the request's context ends.
var longAgo = time.Unix(1, 0)

// exchange writes req with body on c and reads the answer's head. sent
// says whether the instance may have seen the request: it was written
// whole.
func (t *Transport) exchange(ctx context.Context, c *conn, req *http.Request, body []byte) (*http.Response, bool, error) {
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(longAgo) })
	fail := func(sent bool, err error) (*http.Response, bool, error) {
		stop()
		if ctx.Err() != nil {
			err = fmt.Errorf("upstream: %w", context.Cause(ctx))
		}
		return nil, sent, err
	}
	out := *req
	out.Body = nil
	if body != nil {
		out.Body = io.NopCloser(bytes.NewReader(body))
	}
	if err := out.Write(c.bw); err != nil {
		return fail(false, err)
	}
	if err := c.bw.Flush(); err != nil {
		return fail(false, err)
	}
	var res *http.Response
	for n1xx := 0; ; n1xx++ {
		if _, err := c.br.Peek(1); err != nil {
			return fail(true, err)
		}
		c.lr.n = MaxHeaderBytes - int64(c.br.Buffered())
		var err error
		res, err = http.ReadResponse(c.br, req)
		exhausted := c.lr.n == 0
		c.lr.n = -1
		if err != nil {
			if exhausted {
				err = errHeadTooLarge
			}
			return fail(true, err)
		}
		if res.StatusCode >= 200 || res.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		// 1xx informational answers precede the real one, a few at most.
		res.Body.Close()
		if n1xx == max1xx {
			return fail(true, errors.New("upstream: too many informational answers"))
		}
	}
	if res.StatusCode == http.StatusSwitchingProtocols {
		res.Body.Close()
		return fail(true, errors.New("upstream: the instance switched protocols unasked"))
	}
	res.Body = &answerBody{
		ReadCloser: res.Body, t: t, c: c, stop: stop,
		keep: !res.Close && !req.Close, eof: res.Body == http.NoBody,
	}
	return res, true, nil
}

// answerBody is the body of an answer. Its connection serves again once
// it was read to its end and closed.
type answerBody struct {
	io.ReadCloser
	t    *Transport
	c    *conn
	stop func() bool // stops watching the request's context
	keep bool        // neither side asked to close the connection
	eof  bool        // the body was read to its end
	done bool        // closed
}

func (b *answerBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

// Close puts the connection back when the body was read to its end, and
// closes it otherwise (without reading the rest, which may never end).
func (b *answerBody) Close() error {
	if b.done {
		return nil
	}
	b.done = true
	watching := b.stop()
	if !b.eof || !b.keep || !watching {
		b.c.Close()
		b.ReadCloser.Close()
		return nil
	}
	err := b.ReadCloser.Close()
	b.t.put(b.c)
	return err
}
