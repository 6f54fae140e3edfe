package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"time"

	"github.com/scfd/scfd/internal/invocation"
	"github.com/scfd/scfd/internal/scf"
)

type ctxKey struct{}

// errAborted is the Answer.Err of an answer that broke after its head
// reached the client.
var errAborted = errors.New("the answer broke off")

// exchange is the invocation.Exchange of one proxied request: the proxy's
// hooks reach it through the outbound request's context.
type exchange struct {
	g      *Gateway
	w      http.ResponseWriter
	r      *http.Request
	target target
	addr   string
	h      *invocation.PlatformHeaders

	status  int   // the function's answer, when one came
	err     error // set by the proxy's error handler
	handled bool  // the proxy's error handler ran
	aborted bool  // the proxy gave up in the middle of an answer
}

// Do proxies the request to the instance at addr.
func (x *exchange) Do(ctx context.Context, addr string, h *invocation.PlatformHeaders) invocation.Answer {
	x.addr, x.h = addr, h
	// Let the instance answer while the client still sends (a duplex
	// stream); servers that read the whole body first are unaffected.
	_ = http.NewResponseController(x.w).EnableFullDuplex()
	x.proxy(ctx)
	switch {
	case x.aborted:
		return invocation.Answer{Status: x.status, Err: errAborted, Committed: true}
	case x.handled:
		return invocation.Answer{Err: x.err}
	}
	return invocation.Answer{Status: x.status}
}

// proxy runs the reverse proxy, turning its abort of a broken answer into
// x.aborted (ServeHTTP panics again once the invocation is finished).
func (x *exchange) proxy(ctx context.Context) {
	defer func() {
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				panic(p)
			}
			x.aborted = true
		}
	}()
	x.g.proxy.ServeHTTP(x.w, x.r.WithContext(context.WithValue(ctx, ctxKey{}, x)))
}

// Failed answers a request that got no answer of the function.
func (x *exchange) Failed(_, status int, body string) { writeBody(x.w, status, body) }

// rewrite points the outbound request at the lent instance.
func rewrite(pr *httputil.ProxyRequest) {
	x := pr.In.Context().Value(ctxKey{}).(*exchange)
	u := pr.Out.URL
	u.Scheme = "http"
	u.Host = x.addr
	u.Path = x.target.path
	u.RawPath = x.target.rawPath
	pr.Out.Host = pr.In.Host
	// A map with room for the platform's and the forwarding headers,
	// without the client's X-Scf-* ones, so that adding them does not
	// grow it twice.
	h := make(http.Header, len(pr.Out.Header)+invocation.PlatformHeaderCount+3)
	for k, v := range pr.Out.Header {
		if !invocation.IsPlatformHeader(k) {
			h[k] = v
		}
	}
	pr.Out.Header = h
	pr.SetXForwarded()
	x.h.Set(h)
}

// modifyResponse notes the function's status and keeps the function from
// setting the gateway's own response header.
func modifyResponse(res *http.Response) error {
	x := res.Request.Context().Value(ctxKey{}).(*exchange)
	x.status = res.StatusCode
	delete(res.Header, "X-Scf-Request-Id")
	if res.StatusCode == http.StatusSwitchingProtocols {
		// A switched protocol (WebSocket) ends when the function's
		// Timeout passes (the call's context); for functions of
		// ProtocolType WS also when nothing passes either way for their
		// idle timeout.
		if conn, ok := res.Body.(io.ReadWriteCloser); ok && x.h.Function.Protocol.Type == scf.ProtocolWS {
			res.Body = newIdleConn(conn, x.h.Function.Protocol.IdleTimeout())
		}
	}
	return nil
}

// idleConn closes a connection that carried nothing either way for idle.
type idleConn struct {
	io.ReadWriteCloser
	idle  time.Duration
	timer *time.Timer
}

func newIdleConn(c io.ReadWriteCloser, idle time.Duration) *idleConn {
	ic := &idleConn{ReadWriteCloser: c, idle: idle}
	ic.timer = time.AfterFunc(idle, func() { c.Close() })
	return ic
}

func (c *idleConn) Read(b []byte) (int, error) {
	n, err := c.ReadWriteCloser.Read(b)
	if n > 0 {
		c.timer.Reset(c.idle)
	}
	return n, err
}

func (c *idleConn) Write(b []byte) (int, error) {
	n, err := c.ReadWriteCloser.Write(b)
	if n > 0 {
		c.timer.Reset(c.idle)
	}
	return n, err
}

func (c *idleConn) Close() error {
	c.timer.Stop()
	return c.ReadWriteCloser.Close()
}

// proxyError notes why no answer came from the instance; the invocation
// classifies it and answers through Failed.
func proxyError(_ http.ResponseWriter, r *http.Request, err error) {
	x := r.Context().Value(ctxKey{}).(*exchange)
	x.handled, x.err = true, err
}
