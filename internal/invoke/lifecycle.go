package invoke

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/invocation"
	"github.com/scfd/scfd/internal/logs"
	"github.com/scfd/scfd/internal/pool"
	"github.com/scfd/scfd/internal/sandbox"
	"github.com/scfd/scfd/internal/scf"
)

var (
	errTimeout = errors.New("the function's timeout passed")
	errExited  = errors.New("the instance exited")
)

// Run runs one invocation through its whole lifecycle: borrow an instance
// (a cold start is reported in the log), attach to its output, send the
// call through x within the function's Timeout, classify what happened,
// release or destroy the instance, and finish: the log entry, metering
// and metrics. It returns the Result; RetCode CodeCanceled means the
// caller's ctx ended first.
func (iv *Invoker) Run(ctx context.Context, c invocation.Call, x invocation.Exchange) *invocation.Result {
	if c.Start.IsZero() {
		c.Start = iv.now()
	}
	r := &run{iv: iv, c: c, fn: c.Function, log: logs.NewBuilder(0)}
	r.log.Platform("START RequestId:" + c.RequestID)
	if l := iv.opts.Logs; l != nil {
		l.Begin(logs.Entry{
			RequestID: c.RequestID, Namespace: r.fn.Namespace, Function: r.fn.Name, Qualifier: r.fn.Version,
			StartTime: c.Start, RetryNum: c.RetryNum,
		})
	}
	lease, err := iv.opts.Instances.Acquire(ctx, r.fn)
	if err != nil {
		code, msg := invocation.CodeCanceled, "the client closed the request"
		if ctx.Err() == nil {
			code, msg = acquireFailure(err, r.fn.Image.Port())
			if errors.Is(err, errdefs.ErrUnavailable) {
				r.failStatus = http.StatusServiceUnavailable
			}
			if code == invocation.CodeInternal {
				iv.log.ErrorContext(ctx, "invoke: acquiring an instance", "namespace", r.fn.Namespace, "function", r.fn.Name, "request_id", c.RequestID, "err", err)
			}
		}
		return r.finish(ctx, x, code, msg, nil, 0, 0)
	}
	return r.call(ctx, lease, x)
}

// run is the state of one invocation.
type run struct {
	iv   *Invoker
	c    invocation.Call
	fn   *scf.Function
	log  *logs.Builder
	sent bool // the call reached an instance
	cold *invocation.ColdStart
	// status is the HTTP status of a web request: the function's, or the
	// one its failure is answered with (failStatus when set, else
	// invocation.WebStatus of the code).
	status, failStatus int
}

// shared reports whether the function's instances serve several
// invocations at once: then no one invocation owns the instance's peak
// memory, and a broken exchange does not doom the instance.
func (r *run) shared() bool { return r.fn.Concurrency.MaxConcurrency > 1 }

func (r *run) call(ctx context.Context, lease pool.Lease, x invocation.Exchange) *invocation.Result {
	in := lease.Instance()
	id := r.c.RequestID
	r.sent = true
	// The first request of a provisioned instance is not a cold start:
	// the instance started ahead of it (its Provisioned Report line is
	// the instance's), so it has no Init Report and counts as warm.
	if cs := lease.Cold(); cs != nil && !cs.Provisioned {
		r.cold = coldStart(cs)
		var b strings.Builder
		for _, p := range r.cold.Phases {
			b.WriteString(" " + p.Name + ":" + ms(p.Duration))
		}
		r.log.Platform("Init Report RequestId:" + id + " InitDuration:" + ms(cs.Total) + " Path:" + cs.Path() + b.String() + " Memory:" + strconv.FormatInt(r.fn.MemorySize, 10) + "MB")
	}
	detach := lease.Attach(func(l sandbox.LogLine) {
		r.log.Dropped(l.Dropped)
		if l.Text != "" || l.Dropped == 0 {
			r.log.Line(l.Text)
		}
	})
	if !r.shared() {
		if err := in.ResetPeak(); err != nil {
			r.iv.log.DebugContext(ctx, "invoke: reset peak memory", "instance", in.ID(), "err", err)
		}
	}
	timeout := time.Duration(r.fn.Timeout) * time.Second
	h := &invocation.PlatformHeaders{
		RequestID: id, Function: r.fn, Timeout: timeout, Account: r.iv.opts.Account, TriggerSrc: r.c.TriggerSrc,
	}
	if cr := r.iv.opts.Credentials; cr != nil {
		t := cr.Issue(r.fn.Namespace, timeout+invocation.CredentialMargin)
		h.Credentials = &t
	}
	// An instance that exits ends the call at once: a local process's
	// connections break by themselves, but a Pod's network may vanish
	// without a word.
	callCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer lease.OnExit(func() { cancel(errExited) })()
	callCtx, cancelTimeout := context.WithTimeoutCause(callCtx, timeout, errTimeout)
	defer cancelTimeout()

	begin := r.iv.now()
	ans := x.Do(callCtx, in.Addr(), h)
	elapsed := r.iv.now().Sub(begin)
	r.status = ans.Status
	code, msg, outcome := r.classify(ctx, callCtx, in, ans)
	if code == invocation.CodeTimeout {
		elapsed = timeout
	}
	var mem int64
	if !r.shared() {
		if st, err := in.Stats(); err == nil {
			mem = int64(st.MemoryPeakBytes)
		}
		if code == invocation.CodeMemory {
			mem = max(mem, r.fn.MemorySize<<20)
		}
	}
	detach() // hands over the lines printed before the answer
	lease.Release(outcome)
	if ans.Committed && code != invocation.CodeOK && code != invocation.CodeUserError {
		x = nil // the caller has part of an answer: nothing more to tell it
	}
	return r.finish(ctx, x, code, msg, ans.Body, elapsed, mem)
}

// classify turns what came back into an SCF code, the failure's message
// and the fate of the instance.
func (r *run) classify(ctx, callCtx context.Context, in sandbox.Instance, ans invocation.Answer) (int, string, pool.Outcome) {
	// An instance serving others keeps doing so after one exchange broke
	// (a timeout, a caller gone); one of its own may still be busy with
	// it and is destroyed.
	broken := pool.Broken
	if r.shared() {
		broken = pool.Healthy
	}
	switch {
	case ans.Err == nil && r.c.Kind == invocation.Event && (ans.Status < 200 || ans.Status > 299):
		return invocation.CodeUserError, string(ans.Body), pool.Healthy
	case ans.Err == nil && r.c.Kind == invocation.Web && ans.Status >= 500:
		return invocation.CodeUserError, "the function answered HTTP " + strconv.Itoa(ans.Status), pool.Healthy
	case ans.Err == nil:
		return invocation.CodeOK, "", pool.Healthy
	case errors.Is(ans.Err, invocation.ErrTooLarge):
		return invocation.CodeResponseTooLarge, "The size of response exceeds the upper limit (6MB)", pool.Healthy
	case context.Cause(callCtx) == errTimeout:
		prefix := "Invoking"
		if r.c.Async {
			prefix = "Async invoking"
		}
		return invocation.CodeTimeout, fmt.Sprintf("%s task timed out after %d seconds", prefix, r.fn.Timeout), broken
	case ctx.Err() != nil:
		return invocation.CodeCanceled, "the client closed the request", broken
	}
	select {
	case <-in.Exited():
	case <-time.After(r.iv.opts.ExitGrace):
	}
	switch reason := in.ExitReason(); reason.Kind {
	case sandbox.ExitNone:
		return invocation.CodeInternal, "the connection to the function's server broke: " + ans.Err.Error(), broken
	case sandbox.ExitOOM:
		return invocation.CodeMemory, fmt.Sprintf("Memory limit exceeded: the function used more than its %d MB and was killed", r.fn.MemorySize), pool.Broken
	default:
		return invocation.CodeProcessExit, "User process exit when running: the function's server " + reason.String(), pool.Broken
	}
}

// acquireFailure maps an Acquire error of a function whose server
// listens on port to an SCF code and a message safe to show.
func acquireFailure(err error, port int) (int, string) {
	var exit *sandbox.ExitError
	msg := errdefs.Message(err, err.Error())
	switch {
	case errors.Is(err, errdefs.ErrResourceExhausted):
		return invocation.CodeConcurrency, msg
	case errors.Is(err, errdefs.ErrNotFound) && errdefs.Resource(err) == "Image":
		return invocation.CodeImage, "the function's image is not available: " + msg
	case errors.As(err, &exit):
		return invocation.CodeInitError, exit.Error()
	case msg == scf.StartupTimeoutText(port):
		return invocation.CodePortBinding, msg
	case errors.Is(err, errdefs.ErrUnavailable), errors.Is(err, errdefs.ErrFailedPrecondition), errors.Is(err, errdefs.ErrNotFound):
		// Shutting down, too many waiting calls, a function deleted
		// meanwhile: the message is safe to show.
		return invocation.CodeInternal, msg
	}
	return invocation.CodeInternal, "an internal error occurred while starting an instance"
}

// finish completes the invocation: tells the caller of a platform
// failure (x, unless nil), writes the platform's closing lines, keeps the
// log entry and tells the Recorder. msg non-empty marks a failure; body is
// an event's answer.
func (r *run) finish(ctx context.Context, x invocation.Exchange, code int, msg string, body []byte, elapsed time.Duration, mem int64) *invocation.Result {
	id := r.c.RequestID
	res := &invocation.Result{
		RequestID: id, Version: r.fn.Version, RetCode: code, InvokeResult: code, StartTime: r.c.Start,
		MemUsage: mem, Cold: r.cold != nil, NoRetry: r.fn.AsyncRun,
	}
	res.Duration = float64(elapsed.Microseconds()) / 1000
	res.BillDuration = int64(math.Ceil(res.Duration))
	switch code {
	case invocation.CodeOK:
		if r.c.Kind == invocation.Event {
			res.RetMsg = string(body)
		}
	case invocation.CodeUserError:
		res.ErrMsg = msg
		if r.c.Kind == invocation.Event {
			res.RetMsg = string(body)
		}
	default:
		res.ErrMsg = invocation.PlatformError(id, code, msg)
		res.RetMsg = res.ErrMsg
		if x != nil { // nothing of an answer reached the caller
			r.status = cmp.Or(r.failStatus, invocation.WebStatus(code))
			if code != invocation.CodeCanceled {
				x.Failed(code, r.status, res.ErrMsg)
			}
		}
	}
	if msg != "" {
		r.log.Platform("ERROR RequestId:" + id + " Result:" + msg)
	}
	switch r.c.Kind {
	case invocation.Event:
		quoted, _ := json.Marshal(res.RetMsg)
		r.log.Platform("Response RequestId:" + id + " RetMsg:" + string(quoted))
		r.log.Platform("END RequestId:" + id)
	case invocation.Web:
		r.log.Platform("END RequestId:" + id + " StatusCode:" + strconv.Itoa(r.status))
	}
	r.log.Platform("Report RequestId:" + id + " Duration:" + strconv.FormatFloat(res.Duration, 'f', -1, 64) +
		"ms Memory:" + strconv.FormatInt(r.fn.MemorySize, 10) + "MB MemUsage:" + strconv.FormatFloat(float64(mem)/(1<<20), 'f', -1, 64) + "MB")
	text := r.log.String()
	if r.c.LogTail {
		res.Log = logs.Tail(text, logs.TailBytes)
	}
	if l := r.iv.opts.Logs; l != nil {
		err := l.Put(context.WithoutCancel(ctx), logs.Entry{
			RequestID: id, Namespace: r.fn.Namespace, Function: r.fn.Name, Qualifier: r.fn.Version,
			StartTime: r.c.Start, RetCode: code, RetMsg: res.RetMsg, Duration: res.Duration,
			BillDuration: res.BillDuration, MemUsage: mem, Log: text, InvokeFinished: 1,
			RetryNum: r.c.RetryNum, Truncated: r.log.Truncated(),
			HTTPMethod: r.c.Method, HTTPPath: r.c.Path, HTTPStatus: webStatus(r.c.Kind, r.status),
		})
		if err != nil {
			r.iv.log.Error("invoke: keeping the log", "request_id", id, "err", err)
		}
	}
	if rec := r.iv.opts.Recorder; rec != nil {
		rec.Record(context.WithoutCancel(ctx), invocation.Finished{
			Function: r.fn, Result: res, RetryNum: r.c.RetryNum, Async: r.c.Async,
			Billed: r.sent && code != invocation.CodeCanceled, Cold: r.cold,
		})
	}
	return res
}

// coldStart names the phases of a pool's cold start as the Init Report
// line shows them.
func coldStart(cs *pool.ColdStart) *invocation.ColdStart {
	return &invocation.ColdStart{Total: cs.Total, Phases: []invocation.Phase{
		{Name: "ImageCheck", Duration: cs.ImageCheck},
		{Name: "RootFS", Duration: cs.Phases.RootFS},
		{Name: "Network", Duration: cs.Phases.Network},
		{Name: "RuntimeCreate", Duration: cs.Phases.RuntimeCreate},
		{Name: "RuntimeStart", Duration: cs.Phases.RuntimeStart},
		{Name: "Ready", Duration: cs.Phases.Ready},
	}}
}

// ms formats a duration in whole-and-fractional milliseconds.
func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', -1, 64) + "ms"
}

// webStatus is the status a web request's caller got, 0 for an event.
func webStatus(k invocation.Kind, status int) int {
	if k != invocation.Web {
		return 0
	}
	return status
}
