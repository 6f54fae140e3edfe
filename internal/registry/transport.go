package registry

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// Transport returns a RoundTripper that serves requests for this
// registry's hosts (see Hosts) in-process, over in-memory connections to
// the registry's handler, authenticated with the administrator's key
// unless the request carries its own credentials; HTTPS requests to those
// hosts are served too, as plain HTTP in memory. Every other request goes
// to base (nil means http.DefaultTransport).
func (r *Registry) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{r: r, base: base}
}

type transport struct {
	r    *Registry
	base http.RoundTripper
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil || !t.r.isHost(req.URL.Host) {
		return t.base.RoundTrip(req)
	}
	req = req.Clone(req.Context())
	req.URL.Scheme = "http"
	if req.Header.Get("Authorization") == "" {
		req.SetBasicAuth(t.r.o.Admin.SecretID, t.r.o.Admin.SecretKey)
	}
	return t.r.memRT.RoundTrip(req)
}

// startMem serves the registry on in-memory connections for Transport.
func (r *Registry) startMem() {
	r.mem = &memListener{conns: make(chan net.Conn), done: make(chan struct{})}
	r.memSrv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	r.memRT = &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return r.mem.dial(ctx)
		},
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   false,
	}
	go r.memSrv.Serve(r.mem)
}

// memListener is a net.Listener of in-memory connections (net.Pipe).
type memListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *memListener) dial(ctx context.Context) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
	case <-ctx.Done():
		client.Close()
		server.Close()
		return nil, ctx.Err()
	}
	client.Close()
	server.Close()
	return nil, net.ErrClosed
}

func (l *memListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *memListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *memListener) Addr() net.Addr { return memAddr{} }

type memAddr struct{}

func (memAddr) Network() string { return "memory" }
func (memAddr) String() string  { return "scfd-registry" }
