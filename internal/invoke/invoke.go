// Package invoke is the engine of invocations: one lifecycle (Run) that
// event invocations (a body in, a body out) and web requests (a proxied
// exchange, streaming, WebSocket) both go through. It borrows an instance
// from the pool (Instances), reports a cold start in the log, attaches to
// the instance's output, hands the call to an Exchange (the event POST of
// this package, or the gateway's proxy) with SCF's X-Scf-* headers and
// fresh temporary credentials within the function's Timeout, classifies
// what happened into SCF's status codes, releases or destroys the
// instance, and finishes: the log entry (logs.Store) and the Recorder
// (metering, metrics, the console's series). The vocabulary (Request,
// Result, Finished, codes, headers) is package invocation's.
//
// Errors and results. Invoke returns an error only when no invocation took
// place for a reason the caller must fix or retry (the function does not
// exist or is not Active, the event is not JSON or too large, the caller
// gave up): those become API errors. Everything that happens to a started
// invocation is a Result, with RetCode 0 on success or one of SCF's status
// codes, InvokeResult equal to RetCode, and ErrMsg set:
//
//	200 → 0    the server answered 2xx (web: below 500); an event's
//	           RetMsg is the body
//	430        an event's server answered another status (RetMsg and
//	           ErrMsg are the body, a user code exception); a web
//	           function answered 500 or more; the instance is kept
//	407        the answer was larger than 6 MB; RetMsg is empty
//	432        over the concurrency quota (the pool's message)
//	433        the function's Timeout passed; the instance is destroyed
//	434        the instance was killed for exceeding its memory; destroyed
//	439        the process exited while running; destroyed
//	444        the image is not available locally
//	445        the server exited before it listened (ErrMsg carries its
//	           exit status and last output lines)
//	446        the server did not listen within the start-up check; ErrMsg
//	           is exactly scf.StartupTimeoutText of the function's port
//	499        the caller went away (logged, not billed)
//	500        anything else (a broken connection to a live instance)
//
// For the platform failures (all but 430) ErrMsg and RetMsg are SCF's JSON
// body {"errorCode":-1,"errorMessage":"...","requestId":"...","statusCode":N}.
// An instance that serves several invocations at once (MaxConcurrency > 1)
// is destroyed only when it exited; its peak memory is no one
// invocation's and is not reported.
//
// Logs: the function's output lines written while it ran are part of the
// invocation's log. Lines travel through a pipe and the instance's log
// reader, so one printed just before the answer can arrive after it: when
// the answer came, detaching from the lease waits (10 ms at most) until
// the instance's reader has handed over everything printed so far (see
// pool.LogSyncMax; the local runtime supports it).
//
// Timing: Duration runs from the moment the call is sent to a ready
// instance until its answer ends; the function's Timeout counts from
// the same moment, so a cold start is bounded by the start-up check, not
// by Timeout. BillDuration is Duration rounded up to the next whole ms.
// MemUsage is the instance's peak memory during the invocation.
package invoke

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"time"

	"github.com/scfd/scfd/internal/credentials"
	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/invocation"
	"github.com/scfd/scfd/internal/logs"
	"github.com/scfd/scfd/internal/pool"
	"github.com/scfd/scfd/internal/sandbox"
	"github.com/scfd/scfd/internal/scf"
	"github.com/scfd/scfd/internal/upstream"
)

// DefaultExitGrace is how long an invocation waits, after the connection
// to an instance broke, to learn whether and why its process ended.
const DefaultExitGrace = 2 * time.Second

// Instances lends instances of a function; *pool.Pool has it.
type Instances interface {
	Acquire(ctx context.Context, fn *scf.Function) (pool.Lease, error)
}

// Functions finds a function version; *store.Store has it.
type Functions interface {
	GetFunction(ctx context.Context, namespace, name, version string) (*scf.Function, error)
}

// Credentials issues the temporary keys handed to a function;
// *credentials.Issuer has it.
type Credentials interface {
	Issue(namespace string, ttl time.Duration) credentials.Temporary
}

// Aliases finds a function's aliases; *store.Store has it.
type Aliases interface {
	GetAlias(ctx context.Context, namespace, function, name string) (*scf.Alias, error)
}

// Recorder is told of every invocation that ended, after its log is
// queued (metering, metrics, the console's series). It must not wait for
// the disk: it runs before a web request's connection serves the next.
type Recorder interface {
	Record(ctx context.Context, f invocation.Finished)
}

// LogStore keeps invocation logs; *logs.Store has it.
type LogStore interface {
	// Begin marks an invocation as running until its entry is Put.
	Begin(e logs.Entry)
	Put(ctx context.Context, e logs.Entry) error
}

// Options configure an Invoker. Functions and Instances are required.
type Options struct {
	Functions Functions
	Instances Instances
	Aliases   Aliases // nil: only versions and $DEFAULT (as $LATEST) resolve
	// Rand draws the roll of weighted alias routing, uniform in [0, 1).
	// Nil means math/rand/v2's Float64.
	Rand        func() float64
	Logs        LogStore    // nil: logs are not kept
	Recorder    Recorder    // nil: nothing is metered
	Credentials Credentials // nil: no X-Scf-Secret-* headers are sent
	// Account fills X-Scf-Region, X-Scf-Appid and X-Scf-Uin.
	Account sandbox.Account
	// Transport reaches the instances for events. Nil means an
	// upstream.Transport with its defaults.
	Transport http.RoundTripper
	// ExitGrace: see DefaultExitGrace. Zero means the default.
	ExitGrace time.Duration
	// Now is the clock of StartTime and durations. Nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger // nil discards
}

// Invoker runs invocations. It is safe for concurrent use.
type Invoker struct {
	opts   Options
	client *http.Client
	now    func() time.Time
	log    *slog.Logger
}

// New returns an Invoker.
func New(opts Options) *Invoker {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Rand == nil {
		opts.Rand = mrand.Float64
	}
	if opts.ExitGrace <= 0 {
		opts.ExitGrace = DefaultExitGrace
	}
	if opts.Transport == nil {
		opts.Transport = upstream.New(upstream.Options{})
	}
	return &Invoker{
		opts:   opts,
		client: &http.Client{Transport: opts.Transport},
		now:    opts.Now,
		log:    opts.Logger,
	}
}

// Resolve maps a qualifier to the version that runs: a version names
// itself; an alias picks its main version or, by its routing, an
// additional one (weights are random per call; rules match routingKey).
// $DEFAULT without such an alias means $LATEST. An unknown alias is
// ErrNotFound about "Qualifier". See invocation.Qualifiers.
func (iv *Invoker) Resolve(ctx context.Context, namespace, function, qualifier string, routingKey map[string]string) (string, error) {
	v, _, err := iv.qualifiers().Resolve(ctx, namespace, function, qualifier, iv.route(routingKey))
	return v, err
}

func (iv *Invoker) qualifiers() invocation.Qualifiers {
	q := invocation.Qualifiers{Functions: iv.opts.Functions}
	if iv.opts.Aliases != nil {
		q.Aliases = iv.opts.Aliases
	}
	return q
}

// route picks an alias's version for one call with routingKey.
func (iv *Invoker) route(routingKey map[string]string) func(*scf.Alias) string {
	return func(a *scf.Alias) string { return a.Route(iv.opts.Rand(), routingKey) }
}

// Invoke runs the event invocation req. See the package documentation for
// what is an error and what is a Result.
func (iv *Invoker) Invoke(ctx context.Context, req invocation.Request) (*invocation.Result, error) {
	start := iv.now()
	if req.Namespace == "" {
		req.Namespace = scf.DefaultNamespace
	}
	if err := invocation.CheckEvent(req.Event, req.Async); err != nil {
		return nil, err
	}
	fn, err := iv.qualifiers().Function(ctx, req.Namespace, req.Function, req.Qualifier, iv.route(req.RoutingKey))
	if err != nil {
		return nil, err
	}
	if len(req.Event) == 0 {
		req.Event = []byte("{}")
	}
	if fn.Status != scf.StatusActive {
		return nil, errdefs.New(errdefs.ErrFailedPrecondition, "FunctionStatusError",
			"function %s/%s is %s, not Active: it cannot be invoked", fn.Namespace, fn.Name, fn.Status)
	}
	if fn.Type == scf.TypeHTTP {
		return nil, errdefs.Invalid("FunctionType",
			"function %s/%s is an HTTP function: call it through the gateway", fn.Namespace, fn.Name)
	}
	if fn.AsyncRun && !req.Async {
		return nil, invocation.ErrAsyncRun
	}
	if req.RequestID == "" {
		req.RequestID = invocation.NewRequestID()
	}
	res := iv.Run(ctx, invocation.Call{
		Kind: invocation.Event, Function: fn, RequestID: req.RequestID, Start: start,
		RetryNum: req.RetryNum, Async: req.Async, TriggerSrc: req.TriggerSrc, LogTail: req.LogTail,
	}, eventExchange{iv: iv, event: req.Event})
	if res.RetCode == invocation.CodeCanceled {
		return nil, ctx.Err()
	}
	return res, nil
}

// eventExchange POSTs an event to /event-invoke and reads the answer.
type eventExchange struct {
	iv    *Invoker
	event []byte
}

func (x eventExchange) Do(ctx context.Context, addr string, h *invocation.PlatformHeaders) invocation.Answer {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/event-invoke", bytes.NewReader(x.event))
	if err != nil {
		return invocation.Answer{Err: err}
	}
	hreq.Header["Content-Type"] = []string{"application/json"}
	h.Set(hreq.Header)
	resp, err := x.iv.client.Do(hreq)
	if err != nil {
		return invocation.Answer{Err: err}
	}
	defer resp.Body.Close()
	if resp.ContentLength > invocation.MaxResponseBytes {
		return invocation.Answer{Status: resp.StatusCode, Err: invocation.ErrTooLarge}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, invocation.MaxResponseBytes+1))
	if err != nil {
		return invocation.Answer{Status: resp.StatusCode, Err: err}
	}
	if len(body) > invocation.MaxResponseBytes {
		return invocation.Answer{Status: resp.StatusCode, Err: invocation.ErrTooLarge}
	}
	return invocation.Answer{Status: resp.StatusCode, Body: body}
}

// Failed has nothing to do: an event's caller reads the Result.
func (eventExchange) Failed(int, int, string) {}
