// Package gateway serves web functions (Type HTTP) over plain HTTP: a
// request to /{namespace}/{function}/{path}, or to
// /{namespace}/{function}@{qualifier}/{path} for a version or alias,
// reaches an instance of the function as /{path}, with its method, query
// string, headers and body. Bodies stream both ways (chunked uploads,
// server-sent events, full-duplex bodies) and Upgrade requests (WebSocket)
// pass through. Clients cannot set X-Scf-* headers (nor X_Scf_*, which CGI
// and WSGI servers read as the same variable): the gateway drops them and
// the instance gets the platform's own (invocation.PlatformHeaders); the
// client gets the request's id in X-Scf-Request-Id.
//
// The gateway finds the function (cached for FunctionCacheTTL) and hands
// each request to the invocation engine (Engine.Run, the lifecycle that
// event invocations share), with an Exchange that proxies it: one
// httputil.ReverseProxy with one Transport, so connections to instances
// are pooled, copying bodies with pooled buffers. The engine borrows the
// instance (up to MaxConcurrency requests share one), bounds the request
// by the function's Timeout from the moment an instance is lent until the
// answer ends (WebSocket sessions included), logs it (START, Init Report
// on a cold start, the function's output, END with the status, Report)
// and meters it (billed when it reached an instance). With a Forwarder
// (replicas sharing the work, see package cluster), a request of a
// function another replica owns goes to that replica first.
//
// Errors answer SCF's JSON body {"errorCode":-1,"errorMessage":...,
// "requestId":...,"statusCode":<SCF code>}:
//
//	400  the path names no function (not /{namespace}/{function}/...)
//	404  no such function or version, or an event function (invoke
//	     those with the Invoke API)
//	409  the function is not Active (being created, updated, failed)
//	429  over the function's or the account's concurrency (SCF 432)
//	502  the instance failed: it could not start (444, 445, 446), exited
//	     or ran out of memory while serving (439, 434), or the
//	     connection to it broke (500)
//	503  scfd is shutting down or too many requests wait for an instance
//	504  the function's Timeout passed (433)
//
// A request is logged with RetCode 0 when the function answered below 500,
// 430 when it answered 500 or more, else the SCF code above (499 when the
// client went away).
package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/invocation"
	"github.com/scfd/scfd/internal/scf"
	"github.com/scfd/scfd/internal/upstream"
)

// DefaultFunctionCacheTTL is how long a function's configuration is
// reused between requests before it is read from the store again.
const DefaultFunctionCacheTTL = time.Second

// Engine runs invocations; *invoke.Invoker has it.
type Engine interface {
	// Run runs one invocation of a resolved function through its
	// lifecycle, with x proxying the request.
	Run(ctx context.Context, c invocation.Call, x invocation.Exchange) *invocation.Result
	// Resolve maps an alias (or $DEFAULT) to the version that serves a
	// request.
	Resolve(ctx context.Context, namespace, function, qualifier string, routingKey map[string]string) (string, error)
}

// Functions finds a function version; *store.Store has it.
type Functions interface {
	GetFunction(ctx context.Context, namespace, name, version string) (*scf.Function, error)
}

// Forwarder serves the requests of functions another scfd replica owns
// through that replica; *cluster.Forwarder has it.
type Forwarder interface {
	// Forward serves r through the owner of namespace/function and
	// reports true, or reports false, having done nothing, when this
	// replica serves r.
	Forward(w http.ResponseWriter, r *http.Request, namespace, function string) bool
}

// Options configure a Gateway. Functions and Engine are required.
type Options struct {
	Functions Functions
	Engine    Engine
	// Forwarder, when set, sends each request of a function that
	// another replica owns to it, before anything else is done with
	// it. Nil: every request is served here.
	Forwarder Forwarder
	// Transport reaches the instances. Nil means an upstream.Transport
	// with its defaults.
	Transport http.RoundTripper
	// FunctionCacheTTL: see DefaultFunctionCacheTTL. Zero means the
	// default; negative disables the cache.
	FunctionCacheTTL time.Duration
	// Now is the clock of start times and the cache. Nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger // nil discards
}

// Gateway is the http.Handler of web functions. It is safe for
// concurrent use.
type Gateway struct {
	opts  Options
	now   func() time.Time
	log   *slog.Logger
	proxy *httputil.ReverseProxy
	cache fnCache
}

// New returns a Gateway.
func New(opts Options) *Gateway {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.FunctionCacheTTL == 0 {
		opts.FunctionCacheTTL = DefaultFunctionCacheTTL
	}
	if opts.Transport == nil {
		opts.Transport = upstream.New(upstream.Options{})
	}
	g := &Gateway{opts: opts, now: opts.Now, log: opts.Logger}
	g.cache = fnCache{ttl: opts.FunctionCacheTTL, now: opts.Now, m: map[fnKey]fnEntry{}}
	g.proxy = &httputil.ReverseProxy{
		Rewrite:   rewrite,
		Transport: opts.Transport,
		// Zero: answers of unknown length (chunked, server-sent events)
		// are flushed at every write, answers of known length when done.
		FlushInterval:  0,
		BufferPool:     bufferPool{},
		ErrorHandler:   proxyError,
		ModifyResponse: modifyResponse,
		ErrorLog:       slog.NewLogLogger(opts.Logger.Handler(), slog.LevelDebug),
	}
	return g
}

// dropUnderscoredPlatformHeaders removes the headers whose names read as a
// platform header once underscores are taken for dashes, as CGI and WSGI
// servers take them (X_Scf_Request_Id is their HTTP_X_SCF_REQUEST_ID).
// The X-Scf-* spelling goes with the platform's headers, later.
func dropUnderscoredPlatformHeaders(h http.Header) {
	const prefix = "x_scf_"
	for k := range h {
		if len(k) < len(prefix) || !strings.Contains(k[:len(prefix)], "_") {
			continue
		}
		if strings.EqualFold(strings.ReplaceAll(k[:len(prefix)], "-", "_"), prefix) {
			delete(h, k)
		}
	}
}

// target is a parsed gateway path.
type target struct {
	namespace, function, qualifier string
	path, rawPath                  string // what the instance sees
}

// parsePath splits /{namespace}/{function}[@{qualifier}]/{path}.
func parsePath(u *url.URL) (target, bool) {
	p := strings.TrimPrefix(u.EscapedPath(), "/")
	ns, p, ok := strings.Cut(p, "/")
	if !ok || ns == "" {
		return target{}, false
	}
	fn, rest, _ := strings.Cut(p, "/")
	if fn == "" {
		return target{}, false
	}
	var t target
	var err error
	if t.namespace, err = url.PathUnescape(ns); err != nil {
		return target{}, false
	}
	if fn, err = url.PathUnescape(fn); err != nil {
		return target{}, false
	}
	t.function, t.qualifier, _ = strings.Cut(fn, "@")
	if t.function == "" {
		return target{}, false
	}
	t.rawPath = "/" + rest
	if t.path, err = url.PathUnescape(t.rawPath); err != nil {
		return target{}, false
	}
	if t.rawPath == t.path {
		t.rawPath = ""
	}
	return t, true
}

// ServeHTTP serves one request of a web function.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := g.now()
	t, ok := parsePath(r.URL)
	if ok && g.opts.Forwarder != nil && g.opts.Forwarder.Forward(w, r, t.namespace, t.function) {
		return
	}
	id := invocation.NewRequestID()
	w.Header()["X-Scf-Request-Id"] = []string{id}
	dropUnderscoredPlatformHeaders(r.Header)
	if !ok {
		writeError(w, id, http.StatusBadRequest, invocation.CodeInternal, "the path must be /{namespace}/{function}/{path}")
		return
	}
	if t.qualifier == "" {
		t.qualifier = scf.Latest
	}
	version := t.qualifier
	if !scf.IsVersion(version) {
		v, err := g.opts.Engine.Resolve(r.Context(), t.namespace, t.function, t.qualifier, routingKey(r.Header))
		switch {
		case errors.Is(err, errdefs.ErrNotFound):
			writeError(w, id, http.StatusNotFound, 404, fmt.Sprintf("function %s/%s@%s not found", t.namespace, t.function, t.qualifier))
			return
		case err != nil:
			g.log.ErrorContext(r.Context(), "gateway: resolving an alias", "namespace", t.namespace, "function", t.function, "err", err)
			writeError(w, id, http.StatusInternalServerError, invocation.CodeInternal, "an internal error occurred")
			return
		}
		version = v
	}
	fn, err := g.cache.get(r.Context(), g.opts.Functions, t.namespace, t.function, version)
	switch {
	case errors.Is(err, errdefs.ErrNotFound), errors.Is(err, errdefs.ErrInvalidArgument):
		writeError(w, id, http.StatusNotFound, 404, fmt.Sprintf("function %s/%s@%s not found", t.namespace, t.function, t.qualifier))
		return
	case err != nil:
		g.log.ErrorContext(r.Context(), "gateway: reading a function", "namespace", t.namespace, "function", t.function, "err", err)
		writeError(w, id, http.StatusInternalServerError, invocation.CodeInternal, "an internal error occurred")
		return
	case fn.Type != scf.TypeHTTP:
		writeError(w, id, http.StatusNotFound, 404, fmt.Sprintf("function %s/%s is an event function: invoke it with the Invoke API", fn.Namespace, fn.Name))
		return
	case fn.Status != scf.StatusActive:
		writeError(w, id, http.StatusConflict, 409, fmt.Sprintf("function %s/%s is %s, not Active", fn.Namespace, fn.Name, fn.Status))
		return
	}
	x := &exchange{g: g, w: w, r: r, target: t}
	g.opts.Engine.Run(r.Context(), invocation.Call{Kind: invocation.Web, Function: fn, RequestID: id, Start: start, Method: r.Method, Path: t.path}, x)
	if x.aborted {
		panic(http.ErrAbortHandler) // the client sees the answer break off
	}
}

// writeError answers an error with SCF's JSON body.
func writeError(w http.ResponseWriter, id string, status, code int, msg string) {
	writeBody(w, status, invocation.PlatformError(id, code, msg))
}

// writeBody answers status with a JSON error body.
func writeBody(w http.ResponseWriter, status int, body string) {
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h.Del("Content-Length")
	w.WriteHeader(status)
	io.WriteString(w, body+"\n")
}

// bufferPool lends the proxy's 32 KB copy buffers.
type bufferPool struct{}

var buffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *buffers.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { buffers.Put(&b) }

// fnKey names a function version in the cache.
type fnKey struct{ ns, name, version string }

type fnEntry struct {
	fn      *scf.Function
	err     error
	expires time.Time
}

// fnCache keeps functions (and their absence) for ttl.
type fnCache struct {
	ttl time.Duration
	now func() time.Time
	mu  sync.RWMutex
	m   map[fnKey]fnEntry
}

func (c *fnCache) get(ctx context.Context, fs Functions, ns, name, version string) (*scf.Function, error) {
	if c.ttl < 0 {
		return fs.GetFunction(ctx, ns, name, version)
	}
	k := fnKey{ns, name, version}
	now := c.now()
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	if ok && now.Before(e.expires) {
		return e.fn, e.err
	}
	fn, err := fs.GetFunction(ctx, ns, name, version)
	if err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return nil, err // not cached
	}
	c.mu.Lock()
	if len(c.m) > 10000 {
		clear(c.m)
	}
	c.m[k] = fnEntry{fn: fn, err: err, expires: now.Add(c.ttl)}
	c.mu.Unlock()
	return fn, err
}

// routingKey offers a request's headers to an alias's routing rules: a
// rule on invoke.headers.User matches the header User.
func routingKey(h http.Header) map[string]string {
	rk := make(map[string]string, len(h))
	for k, vs := range h {
		if len(vs) > 0 {
			rk[k] = vs[0]
		}
	}
	return rk
}
