package upstream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// server is an httptest server that counts the connections it accepted
// and reports those it closed.
type server struct {
	*httptest.Server
	accepted atomic.Int64
	closed   chan struct{}
}

func newServer(t *testing.T, h http.HandlerFunc) *server {
	t.Helper()
	s := &server{closed: make(chan struct{}, 1024)}
	s.Server = httptest.NewUnstartedServer(h)
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			s.accepted.Add(1)
		case http.StateClosed, http.StateHijacked:
			s.closed <- struct{}{}
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func newTransport(t *testing.T, opts Options) *Transport {
	tr := New(opts)
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

func do(t *testing.T, c *http.Client, req *http.Request) string {
	t.Helper()
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.Status + " " + string(b)
}

func get(t *testing.T, url string) *http.Request {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// TestKeepsConnectionsAlive: sequential requests share one connection,
// bodies and headers pass both ways, and HEAD and 204 answers leave it
// usable too.
func TestKeepsConnectionsAlive(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/empty" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Seen", r.Header.Get("X-Sent"))
		fmt.Fprintf(w, "%s %s %d %s", r.Method, r.URL.RequestURI(), r.ContentLength, b)
	})
	c := &http.Client{Transport: newTransport(t, Options{})}
	for i := range 50 {
		req, _ := http.NewRequest("POST", s.URL+"/p?q=1", strings.NewReader(fmt.Sprint("body", i)))
		req.Header.Set("X-Sent", "h")
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if want := fmt.Sprintf("POST /p?q=1 %d body%d", len(fmt.Sprint("body", i)), i); string(b) != want || res.Header.Get("X-Seen") != "h" {
			t.Fatalf("answer %q (X-Seen %q), want %q", b, res.Header.Get("X-Seen"), want)
		}
		if got := do(t, c, get(t, s.URL+"/empty")); got != "204 No Content " {
			t.Fatalf("empty answer: %q", got)
		}
		head, _ := http.NewRequest("HEAD", s.URL+"/h", nil)
		if got := do(t, c, head); got != "200 OK " {
			t.Fatalf("HEAD: %q", got)
		}
	}
	if n := s.accepted.Load(); n != 1 {
		t.Errorf("150 sequential requests used %d connections, want 1", n)
	}
}

// TestClosedIdleConnectionIsNotUsed: a kept-alive connection that the
// server closed without a word while it was idle is not used again: the
// request goes on a new one, body included.
func TestClosedIdleConnectionIsNotUsed(t *testing.T) {
	closed := make(chan struct{}, 16)
	url, accepted := rawServer(t, func(c net.Conn) {
		// One exchange, then the connection is closed although the
		// answer promised nothing of the kind.
		defer func() { closed <- struct{}{} }()
		defer c.Close()
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		b, _ := io.ReadAll(req.Body)
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(b), b)
	})
	c := &http.Client{Transport: newTransport(t, Options{})}
	for i := range 3 {
		req, _ := http.NewRequest("POST", url+"/", strings.NewReader(fmt.Sprint("n", i)))
		if got, want := do(t, c, req), fmt.Sprintf("200 OK n%d", i); got != want {
			t.Fatalf("answer %q, want %q", got, want)
		}
		<-closed
	}
	if n := accepted.Load(); n != 3 {
		t.Errorf("%d connections, want 3", n)
	}
}

// TestNotSentTwice: a request that reached the instance, whose
// connection then broke without an answer, is sent again only when
// running it twice is harmless (GET), never a POST.
func TestNotSentTwice(t *testing.T) {
	var seen atomic.Int64
	url, _ := rawServer(t, func(c net.Conn) {
		// The first request of a connection is answered, the second is
		// read and the connection broken, as a server whose handler
		// crashed does.
		br := bufio.NewReader(c)
		for i := 0; ; i++ {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.ReadAll(req.Body)
			if req.URL.Path == "/count" {
				seen.Add(1)
			}
			if i == 1 {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	for _, tc := range []struct {
		method string
		ok     bool  // answered, after going again on a new connection
		seen   int64 // times the server read it
	}{{"POST", false, 1}, {"GET", true, 2}} {
		t.Run(tc.method, func(t *testing.T) {
			c := &http.Client{Transport: newTransport(t, Options{})}
			do(t, c, get(t, url+"/warm")) // the connection is kept
			seen.Store(0)
			var body io.Reader
			if tc.method == "POST" {
				body = strings.NewReader("event")
			}
			req, _ := http.NewRequest(tc.method, url+"/count", body)
			res, err := c.Do(req)
			if err == nil {
				res.Body.Close()
			}
			if (err == nil) != tc.ok || seen.Load() != tc.seen {
				t.Errorf("error %v, the server read it %d times; want answered %v, read %d times", err, seen.Load(), tc.ok, tc.seen)
			}
		})
	}
}

// TestContextEndsTheExchange: a request whose context ends while the
// server is silent fails with the context's error, and its connection is
// not used again.
func TestContextEndsTheExchange(t *testing.T) {
	release := make(chan struct{})
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/wait" {
			select {
			case <-release:
			case <-r.Context().Done(): // the connection closed
			}
		}
		io.WriteString(w, "ok")
	})
	defer close(release)
	c := &http.Client{Transport: newTransport(t, Options{})}
	do(t, c, get(t, s.URL+"/"))
	ctx, cancel := context.WithCancel(context.Background())
	req := get(t, s.URL+"/wait").WithContext(ctx)
	errc := make(chan error, 1)
	go func() {
		res, err := c.Do(req)
		if err == nil {
			res.Body.Close()
		}
		errc <- err
	}()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	<-s.closed // the connection that carried it
	do(t, c, get(t, s.URL+"/"))
	if n := s.accepted.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

// TestBodyClosedEarly: an endless answer closed before its end closes
// its connection at once; the next request gets a new one.
func TestBodyClosedEarly(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/endless" {
			io.WriteString(w, "ok")
			return
		}
		for {
			if _, err := io.WriteString(w, "data: x\n\n"); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(time.Millisecond):
			}
		}
	})
	c := &http.Client{Transport: newTransport(t, Options{})}
	res, err := c.Do(get(t, s.URL+"/endless"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(res.Body, make([]byte, 20)); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	<-s.closed
	if got := do(t, c, get(t, s.URL+"/")); got != "200 OK ok" {
		t.Fatalf("answer %q", got)
	}
	if n := s.accepted.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

// TestOutOfStepConnectionIsNotKept: bytes after an answer that no
// request asked for make its connection unusable.
func TestOutOfStepConnectionIsNotKept(t *testing.T) {
	url, accepted := rawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nextra")
		}
	})
	c := &http.Client{Transport: newTransport(t, Options{})}
	for range 2 {
		if got := do(t, c, get(t, url+"/")); got != "200 OK ok" {
			t.Fatalf("answer %q", got)
		}
	}
	// Both answers left in one write, so the extra one was read with
	// the first: its connection was not kept.
	if n := accepted.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

// TestUpgradesAndStreamsGoToTheFallback: a protocol upgrade gets a
// writable body, and a request body of unknown length streams.
func TestUpgradesAndStreamsGoToTheFallback(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "echo" {
			c, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer c.Close()
			brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
			brw.Flush()
			io.Copy(c, brw)
			return
		}
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%d %s", r.ContentLength, b)
	})
	c := &http.Client{Transport: newTransport(t, Options{})}

	req := get(t, s.URL+"/")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "echo")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rw, ok := res.Body.(io.ReadWriteCloser)
	if res.StatusCode != http.StatusSwitchingProtocols || !ok {
		t.Fatalf("status %d, writable body %v", res.StatusCode, ok)
	}
	io.WriteString(rw, "ping")
	b := make([]byte, 4)
	if _, err := io.ReadFull(rw, b); err != nil || string(b) != "ping" {
		t.Fatalf("echo %q, %v", b, err)
	}
	rw.Close()

	pr, pw := io.Pipe()
	go func() {
		io.WriteString(pw, "streamed")
		pw.Close()
	}()
	req, _ = http.NewRequest("POST", s.URL+"/", pr)
	if got := do(t, c, req); got != "200 OK -1 streamed" {
		t.Fatalf("streamed body: %q", got)
	}
	big := strings.Repeat("x", MaxDirectBody+1)
	req, _ = http.NewRequest("POST", s.URL+"/", strings.NewReader(big))
	if got := do(t, c, req); got != fmt.Sprintf("200 OK %d %s", len(big), big) {
		t.Fatalf("large body: answer of %d bytes", len(got))
	}
}

// TestIdleConnectionsAreClosed: connections idle for IdleTimeout are
// closed without a request to their address.
func TestIdleConnectionsAreClosed(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	c := &http.Client{Transport: newTransport(t, Options{IdleTimeout: 20 * time.Millisecond})}
	do(t, c, get(t, s.URL+"/"))
	select {
	case <-s.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the idle connection is still open")
	}
}

// rawServer serves each connection it accepts with serve, in a goroutine
// of its own, and closes it after; it counts the connections. It returns
// its URL.
func rawServer(t *testing.T, serve func(c net.Conn)) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted := new(atomic.Int64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			go func() {
				defer c.Close()
				serve(c)
			}()
		}
	}()
	return "http://" + ln.Addr().String(), accepted
}

// TestHostileAnswers: a head that never ends and an endless run of
// informational answers fail the request with a clear error once the
// bound is reached.
func TestHostileAnswers(t *testing.T) {
	c := &http.Client{Transport: newTransport(t, Options{})}
	for _, tc := range []struct {
		name   string
		answer func(w io.Writer) error
		want   string
	}{
		{"endless head", func(w io.Writer) error {
			if _, err := io.WriteString(w, "HTTP/1.1 200 OK\r\nX-Long: "); err != nil {
				return err
			}
			chunk := []byte(strings.Repeat("a", 64<<10))
			for {
				if _, err := w.Write(chunk); err != nil {
					return err
				}
			}
		}, "larger than 10 MiB"},
		{"endless 1xx", func(w io.Writer) error {
			for {
				if _, err := io.WriteString(w, "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"); err != nil {
					return err
				}
			}
		}, "too many informational answers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, _ := rawServer(t, func(c net.Conn) {
				if _, err := http.ReadRequest(bufio.NewReader(c)); err == nil {
					tc.answer(c)
				}
			})
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			res, err := c.Do(get(t, url))
			if err == nil {
				res.Body.Close()
				t.Fatalf("answered %s, want an error", res.Status)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to say %q", err, tc.want)
			}
			runtime.ReadMemStats(&after)
			// The head's line is gathered by doubling: a few times the
			// bound in all, where the stream never ends.
			if grown := int64(after.TotalAlloc) - int64(before.TotalAlloc); grown > 16*MaxHeaderBytes {
				t.Errorf("reading the answer allocated %d MB", grown>>20)
			}
		})
	}
}
