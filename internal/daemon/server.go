package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scfd/scfd/internal/console"
)

// RetryAfter is what scfd asks clients to wait (Retry-After) when it
// turns a request away while draining: about how long a restart takes.
const RetryAfter = time.Second

// Linger is how long, once the requests in flight have finished, the
// drain still answers requests on open connections (503, closing them)
// before it closes the idle ones: a client whose kept-alive connection
// closes under a request it is sending cannot know whether the request
// ran, one answered 503 can retry safely.
const Linger = time.Second

// apiServerName names the listener of the SCF API and the console.
const apiServerName = "SCF API"

// server is one of scfd's listeners.
type server struct {
	name, addr string
	handler    http.Handler
	// refuse answers the requests that arrive while scfd drains; nil: the
	// server is not drained (the debug listener), it just closes.
	refuse http.Handler
	// plain keeps the listener plain HTTP when scfd speaks HTTPS (the
	// debug listener, on loopback).
	plain  bool
	ln     net.Listener // set by listen, or before it (the registry's)
	srv    *http.Server
	closed atomic.Bool // the listener was closed on purpose
}

// listen opens every server's listener, announces it, and registers the
// drain of the servers: on the way out they stop accepting, let the
// requests in flight finish within c.ShutdownGrace, and close.
func (d *daemon) listen(ctx context.Context) error {
	d.servers = append(d.servers, d.reg.servers()...)
	if d.c.DebugAddr != "" {
		d.servers = append(d.servers, &server{name: "debug", addr: d.c.DebugAddr, handler: debugHandler(d.met.Handler()), plain: true})
	}
	d.drain = newDrain()
	for _, s := range d.servers {
		h, state := s.handler, func(net.Conn, http.ConnState) {}
		if s.refuse != nil {
			h, state = d.drain.handler(s.handler, s.refuse), d.drain.connState
		}
		if s.ln == nil {
			ln, err := net.Listen("tcp", s.addr)
			if err != nil {
				closeListeners(d.servers)
				return fmt.Errorf("%s: %w", s.name, err)
			}
			s.ln = ln
		}
		if d.tls != nil && !s.plain {
			s.ln = tls.NewListener(s.ln, d.tls)
		}
		s.srv = &http.Server{Handler: h, ConnState: state, ReadHeaderTimeout: 10 * time.Second,
			ErrorLog: log.New(serverErrors{d.log.With("server", s.name)}, "", 0)}
	}
	for _, s := range d.servers {
		fmt.Fprintf(d.announce, "scfd: %s listening on %s\n", s.name, s.ln.Addr())
		d.log.Info("listening", "server", s.name, "addr", s.ln.Addr().String())
		if s.name == apiServerName {
			fmt.Fprintf(d.announce, "scfd: console at %s%s\n", gatewayURL(s.ln.Addr().String(), d.tls != nil), console.Prefix)
		}
	}
	d.onClose(d.shutdown)
	return nil
}

// serve serves every listener until ctx ends or one fails.
func (d *daemon) serve(ctx context.Context) error {
	errc := make(chan error, len(d.servers))
	for _, s := range d.servers {
		go func() { errc <- s.serve() }()
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return err
	}
}

// shutdown drains the servers: no new connections, requests in flight
// finish within c.ShutdownGrace while new requests on open connections
// are answered 503 with Retry-After and the connection closed; open
// connections get Linger more for that; then every connection closes.
func (d *daemon) shutdown() error {
	d.log.Info("shutting down: draining", "grace", d.c.ShutdownGrace)
	for _, s := range d.servers {
		s.closed.Store(true)
		s.ln.Close()
	}
	grace, cancel := context.WithTimeout(context.Background(), d.c.ShutdownGrace)
	defer cancel()
	if err := d.drain.wait(grace); err != nil {
		d.log.Warn("requests still in flight after the grace period are cut", "requests", d.drain.active.Load())
	} else {
		linger, cancel := context.WithTimeout(grace, Linger)
		defer cancel()
		d.drain.waitConns(linger)
	}
	// What is left is idle or being refused: give those a moment.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range d.servers {
		wg.Go(func() {
			if err := s.srv.Shutdown(ctx); err != nil {
				s.srv.Close()
			}
		})
	}
	wg.Wait()
	return nil
}

func (s *server) serve() error {
	err := s.srv.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) || s.closed.Load() {
		return nil
	}
	return fmt.Errorf("%s: %w", s.name, err)
}

func closeListeners(servers []*server) {
	for _, s := range servers {
		if s.ln != nil {
			s.ln.Close()
		}
	}
}

// debugHandler serves net/http/pprof under /debug/pprof/ and metrics at
// /metrics, without credentials: the debug listener is the operator's,
// on loopback.
func debugHandler(metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// drain counts the requests in flight and the open connections on
// scfd's listeners and, once started, turns new requests away.
type drain struct {
	draining atomic.Bool
	active   atomic.Int64  // requests in flight
	conns    atomic.Int64  // open connections
	idle     chan struct{} // a token when active or conns may have dropped to 0 while draining
}

func newDrain() *drain { return &drain{idle: make(chan struct{}, 1)} }

// handler serves next until the drain starts, refuse after.
func (d *drain) handler(next, refuse http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.active.Add(1)
		defer d.leave()
		if d.draining.Load() {
			refuse.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (d *drain) leave() {
	if d.active.Add(-1) == 0 && d.draining.Load() {
		d.poke()
	}
}

// connState is the servers' http.Server.ConnState: it counts open
// connections.
func (d *drain) connState(_ net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		d.conns.Add(1)
	case http.StateClosed, http.StateHijacked:
		if d.conns.Add(-1) == 0 && d.draining.Load() {
			d.poke()
		}
	}
}

func (d *drain) poke() {
	select {
	case d.idle <- struct{}{}:
	default:
	}
}

// wait starts the drain and waits until no request is in flight, or ctx
// ends.
func (d *drain) wait(ctx context.Context) error {
	d.draining.Store(true)
	return d.until(ctx, &d.active)
}

// waitConns waits, once the drain started, until no connection is open,
// or ctx ends.
func (d *drain) waitConns(ctx context.Context) error {
	return d.until(ctx, &d.conns)
}

func (d *drain) until(ctx context.Context, n *atomic.Int64) error {
	for n.Load() > 0 {
		select {
		case <-d.idle:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// serverErrors is the servers' error log, in scfd's log: net/http's lines
// about a client whose TLS handshake failed (one that does not trust the
// certificate, a port scanner) at debug level, as they say nothing of
// scfd; other lines (a handler's panic) as warnings.
type serverErrors struct{ log *slog.Logger }

func (e serverErrors) Write(p []byte) (int, error) {
	msg := strings.TrimSuffix(string(p), "\n")
	level := slog.LevelWarn
	if strings.HasPrefix(msg, "http: TLS handshake error") {
		level = slog.LevelDebug
	}
	e.log.Log(context.Background(), level, msg)
	return len(p), nil
}

// readiness answers GET /healthz/ready, for a load balancer's or
// Kubernetes' readiness probe: 200 while the server takes requests and
// every check of d.ready passes, 503 with the reason otherwise (a draining
// server answers 503 too, then stops accepting connections).
func (d *daemon) readiness(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	for _, check := range d.ready {
		if err := check(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "not ready: %v\n", err)
			return
		}
	}
	io.WriteString(w, "ready\n")
}
