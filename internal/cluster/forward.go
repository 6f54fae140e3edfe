package cluster

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"time"

	"github.com/scfd/scfd/internal/invocation"
)

// ForwarderOptions configure a Forwarder. Owners, Self and Secret are
// required.
type ForwarderOptions struct {
	Owners Owners
	// Self is this replica's ID, the sender of what it forwards.
	Self string
	// Secret authenticates requests between replicas (see LoadSecret).
	Secret []byte
	// Transport reaches the other replicas. Nil means a keep-alive
	// transport without proxies or compression that gives up dialling
	// after DialTimeout.
	Transport http.RoundTripper
	// Now is the clock of signatures. Nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger // nil discards
}

// DialTimeout bounds the connection to another replica: one that does
// not answer within it is suspected.
const DialTimeout = 2 * time.Second

// Forwarder sends requests for functions another replica owns to it,
// and serves those the others send (Handler). It is safe for concurrent
// use.
type Forwarder struct {
	opts   ForwarderOptions
	log    *slog.Logger
	proxy  *httputil.ReverseProxy
	client *http.Client
}

// NewForwarder returns a Forwarder.
func NewForwarder(opts ForwarderOptions) (*Forwarder, error) {
	if opts.Owners == nil || opts.Self == "" || len(opts.Secret) < MinSecretBytes {
		return nil, errors.New("cluster: Owners, Self and a Secret are required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Transport == nil {
		opts.Transport = &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		}
	}
	f := &Forwarder{opts: opts, log: opts.Logger, client: &http.Client{Transport: opts.Transport}}
	f.proxy = &httputil.ReverseProxy{
		Rewrite:   f.rewrite,
		Transport: opts.Transport,
		// As the gateway's: answers of unknown length are flushed at
		// every write.
		FlushInterval: 0,
		BufferPool:    bufferPool{},
		ErrorHandler:  f.proxyError,
		ModifyResponse: func(resp *http.Response) error {
			if drained(resp) {
				delete(resp.Header, DrainingHeader)
				st := resp.Request.Context().Value(webKey{}).(*webState)
				if !st.last && !st.body {
					return errDraining // the next owner gets it
				}
			}
			return nil
		},
		ErrorLog: slog.NewLogLogger(opts.Logger.Handler(), slog.LevelDebug),
	}
	return f, nil
}

type forwardedKey struct{}

// Forwarded reports whether ctx is a request's that another replica
// forwarded here: it is served here, never forwarded again.
func Forwarded(ctx context.Context) bool {
	_, ok := ctx.Value(forwardedKey{}).(string)
	return ok
}

type webKey struct{}

// webState is one forwarded web request, reached by the proxy's hooks
// through the outbound request's context.
type webState struct {
	kind       string // KindWeb or KindAPI
	to         Member
	body       bool // the request has a body, which cannot be sent twice once read
	last       bool // no other replica is tried after this one
	dialFailed bool // the owner could not be reached or refused it: nothing ran
}

// Forward serves r, a gateway request of function namespace/function,
// through the function's owner and reports true; or reports false, and
// does nothing, when this replica serves it: it owns the function, or r
// was forwarded here, or the owner could not be reached (or refused a
// request without a body while draining) and this replica is the next
// one in line. The owner's answer is
// relayed as it streams, an Upgrade (WebSocket) included.
func (f *Forwarder) Forward(w http.ResponseWriter, r *http.Request, namespace, function string) bool {
	return f.forward(w, r, KindWeb, namespace, function)
}

// ForwardAPI is Forward for an API request that acts on the pool of the
// function's owner (its reserved and provisioned concurrency): the owner's
// API serves it, after checking its signature as any.
func (f *Forwarder) ForwardAPI(w http.ResponseWriter, r *http.Request, namespace, function string) bool {
	return f.forward(w, r, KindAPI, namespace, function)
}

func (f *Forwarder) forward(w http.ResponseWriter, r *http.Request, kind, namespace, function string) bool {
	if Forwarded(r.Context()) {
		return false
	}
	k := Key{Namespace: namespace, Function: function}
	owner, self := f.opts.Owners.Owner(k)
	if self || owner.ID == "" {
		return false
	}
	_ = http.NewResponseController(w).EnableFullDuplex()
	hasBody := r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
	st := &webState{kind: kind, to: owner, body: hasBody}
	for {
		f.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), webKey{}, st)))
		if !st.dialFailed {
			return true
		}
		f.opts.Owners.Suspect(st.to.ID)
		next, self := f.opts.Owners.Next(k, st.to.ID)
		if self || next.ID == "" {
			return false
		}
		*st = webState{kind: kind, to: next, body: hasBody, last: true}
	}
}

// rewrite points the outbound request at the owner's internal listener
// and signs it.
func (f *Forwarder) rewrite(pr *httputil.ProxyRequest) {
	st := pr.In.Context().Value(webKey{}).(*webState)
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = st.to.Addr
	pr.Out.Host = pr.In.Host
	if pr.Out.Body != nil {
		// The transport closes the body when it cannot connect; the
		// next owner still needs it.
		pr.Out.Body = noClose{pr.Out.Body}
	}
	h := pr.Out.Header
	h.Del(InvocationHeader)
	h.Set(KindHeader, st.kind)
	h.Set(RemoteHeader, pr.In.RemoteAddr)
	sign(pr.Out, f.opts.Secret, f.opts.Self, f.opts.Now())
}

// proxyError notes an owner that could not be reached (to try the next,
// once), or answers 502.
func (f *Forwarder) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	st := r.Context().Value(webKey{}).(*webState)
	if !st.last && (isDial(err) || errors.Is(err, errDraining)) {
		st.dialFailed = true
		return
	}
	if r.Context().Err() == nil {
		f.log.Warn("cluster: forwarding a request", "replica", st.to.ID, "err", err)
	}
	id := invocation.NewRequestID()
	h := w.Header()
	h["X-Scf-Request-Id"] = []string{id}
	h["Content-Type"] = []string{"application/json"}
	w.WriteHeader(http.StatusBadGateway)
	io.WriteString(w, invocation.PlatformError(id, invocation.CodeInternal, "the scfd replica that serves this function could not be reached")+"\n")
}

// isDial reports whether err is a failure to connect, before anything
// of the request was sent.
func isDial(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// noClose keeps the transport from closing a body another attempt reads.
type noClose struct{ io.Reader }

func (noClose) Close() error { return nil }

// bufferPool lends the proxy's 32 KB copy buffers.
type bufferPool struct{}

var buffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *buffers.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { buffers.Put(&b) }
