package registry

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/scfd/scfd/internal/images"
)

// Transport returns a RoundTripper that serves requests for this
// registry's hosts (see Hosts) in-process, over in-memory connections to
// the registry's handler; HTTPS requests to those hosts are served too,
// as plain HTTP in memory. Such a request pulls with the images.Access
// of its context (see images.WithAccess) and nothing else, whatever
// credentials it carries: the rights of the key that created or updated
// the function, or of the function's namespace; without an Access it
// reaches nothing. Every other request goes to base (nil means
// http.DefaultTransport).
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
	// Credentials the request carries (from a config.json that holds a
	// key for this registry, say) are dropped: an in-process pull has
	// the rights of its Access, never more.
	req.Header.Del("Authorization")
	a, _ := images.AccessFrom(req.Context())
	b, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	req.Header.Set(accessHeader, string(b))
	return t.r.memRT.RoundTrip(req)
}

// accessHeader carries a Transport request's images.Access to the
// in-memory server, which alone reads it (see serveMem).
const accessHeader = "X-Scfd-Pull-Access"

type inProcessKey struct{}

// serveMem serves the in-memory connections: the Access a Transport
// request carries goes from its header into the request's context, where
// the access controller finds it. Requests on the registry's listeners
// never reach this, so the header means nothing there.
func (r *Registry) serveMem(w http.ResponseWriter, req *http.Request) {
	if h := req.Header.Get(accessHeader); h != "" {
		req.Header.Del(accessHeader)
		var a images.Access
		if err := json.Unmarshal([]byte(h), &a); err != nil {
			writeError(w, http.StatusBadRequest, "DENIED", "malformed in-process access")
			return
		}
		req = req.WithContext(context.WithValue(req.Context(), inProcessKey{}, a))
	}
	r.ServeHTTP(w, req)
}

// inProcessAccess returns the Access of a Transport request.
func inProcessAccess(ctx context.Context) (images.Access, bool) {
	a, ok := ctx.Value(inProcessKey{}).(images.Access)
	return a, ok
}

// startMem serves the registry on in-memory connections for Transport.
func (r *Registry) startMem() {
	r.mem = &memListener{conns: make(chan net.Conn), done: make(chan struct{})}
	r.memSrv = &http.Server{Handler: http.HandlerFunc(r.serveMem), ReadHeaderTimeout: 10 * time.Second}
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
