package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httputil"
	"strconv"
	"time"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/invoke"
	"github.com/scfd/scfd/internal/logs"
	"github.com/scfd/scfd/internal/pool"
	"github.com/scfd/scfd/internal/sandbox"
	"github.com/scfd/scfd/internal/scf"
)

// codeCanceled is the code logged when the client went away (SCF's 499
// RequestCanceled).
const codeCanceled = 499

var errTimeout = errors.New("the function's timeout passed")

type ctxKey struct{}

// request is the state of one proxied request, reached from the proxy's
// hooks through the outbound request's context.
type request struct {
	g       *Gateway
	fn      *scf.Function
	id      string
	start   time.Time
	log     *logs.Builder
	target  target
	in      sandbox.Instance
	ctx     context.Context // bounded by the function's Timeout
	client  context.Context // the client's request
	headers invoke.PlatformHeaders

	cold    *pool.ColdStart
	sent    bool   // the request reached an instance
	status  int    // the function's answer, when one came
	code    int    // set by proxyError
	errMsg  string // set by proxyError
	handled bool   // proxyError ran
}

// shared reports whether the instance serves several requests at once.
func (q *request) shared() bool { return q.fn.Concurrency.MaxConcurrency > 1 }

func (q *request) serve(w http.ResponseWriter, r *http.Request) {
	q.client = r.Context()
	q.log.Platform("START RequestId:%s", q.id)
	lease, err := q.g.opts.Instances.Acquire(r.Context(), q.fn)
	if err != nil {
		if r.Context().Err() != nil {
			q.finish(codeCanceled, "the client closed the request", 0, 0)
			return
		}
		status, code, msg := acquireFailure(err)
		if code == invoke.CodeInternal {
			q.g.log.ErrorContext(r.Context(), "gateway: acquiring an instance", "namespace", q.fn.Namespace, "function", q.fn.Name, "request_id", q.id, "err", err)
		}
		writeError(w, q.id, status, code, msg)
		q.finish(code, msg, 0, 0)
		return
	}
	if cold := lease.Cold(); cold != nil {
		q.cold = cold
		q.log.Platform("Init Report RequestId:%s InitDuration:%s ImageCheck:%s RootFS:%s Network:%s RuntimeCreate:%s RuntimeStart:%s Ready:%s Memory:%dMB",
			q.id, ms(cold.Total), ms(cold.ImageCheck), ms(cold.Phases.RootFS), ms(cold.Phases.Network),
			ms(cold.Phases.RuntimeCreate), ms(cold.Phases.RuntimeStart), ms(cold.Phases.Ready), q.fn.MemorySize)
	}
	q.in = lease.Instance()
	q.sent = true
	detach := lease.Attach(func(l sandbox.LogLine) {
		q.log.Dropped(l.Dropped)
		if l.Text != "" || l.Dropped == 0 {
			q.log.Line(l.Text)
		}
	})
	if !q.shared() {
		_ = q.in.ResetPeak()
	}
	timeout := time.Duration(q.fn.Timeout) * time.Second
	ctx, cancel := context.WithTimeoutCause(r.Context(), timeout, errTimeout)
	defer cancel()
	q.ctx = ctx
	q.headers = invoke.PlatformHeaders{RequestID: q.id, Function: q.fn, Timeout: timeout, Account: q.g.opts.Account}
	if c := q.g.opts.Credentials; c != nil {
		t := c.Issue(q.fn.Namespace, timeout+invoke.CredentialMargin)
		q.headers.Credentials = &t
	}
	begin := q.g.now()
	defer func() {
		p := recover()
		elapsed := q.g.now().Sub(begin)
		code, msg, outcome := q.result(p != nil)
		if code == invoke.CodeTimeout {
			elapsed = timeout
		}
		// The peak of an instance serving several requests at once is no
		// one request's: it is measured only for instances of their own.
		var mem int64
		if !q.shared() {
			if st, err := q.in.Stats(); err == nil {
				mem = int64(st.MemoryPeakBytes)
			}
		}
		detach()
		lease.Release(outcome)
		q.finish(code, msg, elapsed, mem)
		if p != nil {
			panic(p)
		}
	}()
	// Let the instance answer while the client still sends (a duplex
	// stream); servers that read the whole body first are unaffected.
	_ = http.NewResponseController(w).EnableFullDuplex()
	q.g.proxy.ServeHTTP(w, r.WithContext(context.WithValue(ctx, ctxKey{}, q)))
}

// acquireFailure maps an Acquire error to an HTTP status, an SCF code and
// a message safe to show.
func acquireFailure(err error) (int, int, string) {
	var exit *sandbox.ExitError
	switch {
	case errors.Is(err, errdefs.ErrResourceExhausted):
		return http.StatusTooManyRequests, invoke.CodeConcurrency, errdefs.Message(err, err.Error())
	case errors.Is(err, errdefs.ErrNotFound) && errdefs.Resource(err) == "Image":
		return http.StatusBadGateway, invoke.CodeImage, "the function's image is not available: " + errdefs.Message(err, err.Error())
	case errors.As(err, &exit):
		return http.StatusBadGateway, invoke.CodeInitError, exit.Error()
	case errdefs.Message(err, err.Error()) == scf.StartupTimeoutMessage:
		return http.StatusBadGateway, invoke.CodePortBinding, scf.StartupTimeoutMessage
	case errors.Is(err, errdefs.ErrUnavailable):
		return http.StatusServiceUnavailable, invoke.CodeInternal, errdefs.Message(err, err.Error())
	case errors.Is(err, errdefs.ErrFailedPrecondition), errors.Is(err, errdefs.ErrNotFound):
		return http.StatusBadGateway, invoke.CodeInternal, errdefs.Message(err, err.Error())
	}
	return http.StatusBadGateway, invoke.CodeInternal, "an internal error occurred while starting an instance"
}

// rewrite points the outbound request at the lent instance.
func rewrite(pr *httputil.ProxyRequest) {
	q := pr.In.Context().Value(ctxKey{}).(*request)
	u := pr.Out.URL
	u.Scheme = "http"
	u.Host = q.in.Addr()
	u.Path = q.target.path
	u.RawPath = q.target.rawPath
	pr.Out.Host = pr.In.Host
	pr.SetXForwarded()
	invoke.DropPlatformHeaders(pr.Out.Header)
	q.headers.Set(pr.Out.Header)
}

// modifyResponse notes the function's status and keeps the function from
// setting the gateway's own response header.
func modifyResponse(res *http.Response) error {
	q := res.Request.Context().Value(ctxKey{}).(*request)
	q.status = res.StatusCode
	delete(res.Header, "X-Scf-Request-Id")
	return nil
}

// proxyError answers when no response came from the instance.
func (g *Gateway) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	q := r.Context().Value(ctxKey{}).(*request)
	q.handled = true
	q.code, q.errMsg = q.failure(err)
	switch q.code {
	case codeCanceled:
		return // nobody to answer
	case invoke.CodeTimeout:
		writeError(w, q.id, http.StatusGatewayTimeout, q.code, q.errMsg)
	default:
		writeError(w, q.id, http.StatusBadGateway, q.code, q.errMsg)
	}
}

// failure classifies a broken exchange with the instance.
func (q *request) failure(err error) (int, string) {
	switch {
	case context.Cause(q.ctx) == errTimeout:
		return invoke.CodeTimeout, fmt.Sprintf("Invoking task timed out after %d seconds", q.fn.Timeout)
	case q.client.Err() != nil:
		return codeCanceled, "the client closed the request"
	}
	select {
	case <-q.in.Exited():
	case <-time.After(q.g.opts.ExitGrace):
	}
	switch reason := q.in.ExitReason(); reason.Kind {
	case sandbox.ExitNone:
		if err == nil {
			return invoke.CodeInternal, "the connection to the function's server broke"
		}
		return invoke.CodeInternal, "the connection to the function's server broke: " + err.Error()
	case sandbox.ExitOOM:
		return invoke.CodeMemory, fmt.Sprintf("Memory limit exceeded: the function used more than its %d MB and was killed", q.fn.MemorySize)
	default:
		return invoke.CodeProcessExit, "User process exit when running: the function's server " + reason.String()
	}
}

// result decides the logged code and the fate of the instance once the
// proxy is done; aborted is true when the proxy gave up in the middle of
// an answer.
func (q *request) result(aborted bool) (int, string, pool.Outcome) {
	code, msg := q.code, q.errMsg
	switch {
	case q.handled:
	case aborted:
		code, msg = q.failure(nil)
	case q.status >= 500:
		return invoke.CodeUserError, "the function answered HTTP " + strconv.Itoa(q.status), pool.Healthy
	default:
		return invoke.CodeOK, "", pool.Healthy
	}
	switch code {
	case codeCanceled:
		return code, msg, pool.Healthy
	case invoke.CodeMemory, invoke.CodeProcessExit:
		return code, msg, pool.Broken
	}
	// A timeout or a broken connection: an instance of its own is
	// destroyed, as for events; a shared one keeps serving the others.
	if q.shared() {
		return code, msg, pool.Healthy
	}
	return code, msg, pool.Broken
}

// finish writes the closing lines and keeps the log entry.
func (q *request) finish(code int, errMsg string, elapsed time.Duration, mem int64) {
	duration := float64(elapsed.Microseconds()) / 1000
	if errMsg != "" {
		q.log.Platform("ERROR RequestId:%s Result:%s", q.id, errMsg)
	}
	q.log.Platform("END RequestId:%s StatusCode:%d", q.id, q.status)
	q.log.Platform("Report RequestId:%s Duration:%sms Memory:%dMB MemUsage:%sMB",
		q.id, strconv.FormatFloat(duration, 'f', -1, 64), q.fn.MemorySize, strconv.FormatFloat(float64(mem)/(1<<20), 'f', -1, 64))
	retMsg := ""
	if errMsg != "" {
		b, _ := json.Marshal(errMsg)
		retMsg = string(b)
	}
	res := &invoke.Result{
		RequestID: q.id, Version: q.fn.Version, RetCode: code, InvokeResult: code, RetMsg: retMsg, ErrMsg: errMsg,
		StartTime: q.start, Duration: duration, BillDuration: int64(math.Ceil(duration)), MemUsage: mem, Cold: q.cold != nil,
	}
	if q.g.opts.Logs != nil {
		err := q.g.opts.Logs.Put(context.Background(), logs.Entry{
			RequestID: q.id, Namespace: q.fn.Namespace, Function: q.fn.Name, Qualifier: q.fn.Version,
			StartTime: q.start, RetCode: code, RetMsg: retMsg, Duration: duration,
			BillDuration: res.BillDuration, MemUsage: mem, Log: q.log.String(), InvokeFinished: 1,
			Truncated: q.log.Truncated(),
		})
		if err != nil {
			q.g.log.Error("gateway: keeping the log", "request_id", q.id, "err", err)
		}
	}
	if q.g.opts.Recorder != nil {
		q.g.opts.Recorder.Record(context.Background(), invoke.Finished{
			Function: q.fn, Result: res, Billed: q.sent && code != codeCanceled, Cold: q.cold,
		})
	}
}

// ms formats a duration in whole-and-fractional milliseconds.
func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', -1, 64) + "ms"
}
