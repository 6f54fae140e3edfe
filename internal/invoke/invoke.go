// Package invoke runs one event on an instance of an event function and
// turns what happens into an SCF result: it finds the function, borrows an
// instance from the pool (Instances), POSTs the event to /event-invoke on
// the instance's port with SCF's X-Scf-* headers and fresh temporary
// credentials, bounds the call by the function's Timeout, measures the
// duration and the instance's peak memory, builds the invocation's log and
// hands it to the log store.
//
// Errors and results. Invoke returns an error only when no invocation took
// place for a reason the caller must fix or retry (the function does not
// exist or is not Active, the event is not JSON or too large, the caller
// gave up): those become API errors. Everything that happens to a started
// invocation is a Result, with RetCode 0 on success or one of SCF's status
// codes, InvokeResult equal to RetCode, and ErrMsg set:
//
//	200 → 0    the server answered 2xx; RetMsg is the body
//	430        the server answered another status; RetMsg and ErrMsg are
//	           the body (a user code exception); the instance is kept
//	407        the answer was larger than 6 MB; RetMsg is empty
//	432        over the concurrency quota (the pool's message)
//	433        the function's Timeout passed; the instance is destroyed
//	434        the instance was killed for exceeding its memory; destroyed
//	439        the process exited while running; destroyed
//	444        the image is not available locally
//	445        the server exited before it listened (ErrMsg carries its
//	           exit status and last output lines)
//	446        the server did not listen within the start-up check; ErrMsg
//	           is exactly scf.StartupTimeoutMessage
//	500        anything else (a broken connection to a live instance)
//
// For the platform failures (all but 430) ErrMsg and RetMsg are SCF's JSON
// body {"errorCode":-1,"errorMessage":"...","requestId":"...","statusCode":N}.
//
// Logs: the function's output lines written while it ran are part of the
// invocation's log. Lines travel through a pipe and the instance's log
// reader, so one printed just before the answer can arrive after it: when
// the answer came, detaching from the lease waits (10 ms at most) until
// the instance's reader has handed over everything printed so far (see
// pool.LogSyncMax; the local runtime supports it).
//
// Timing: Duration runs from the moment the event is sent to a ready
// instance until its answer is read; the function's Timeout counts from
// the same moment, so a cold start is bounded by the start-up check, not
// by Timeout. BillDuration is Duration rounded up to the next whole ms.
// MemUsage is the instance's peak memory during the invocation.
package invoke

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/scfd/scfd/internal/credentials"
	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/logs"
	"github.com/scfd/scfd/internal/pool"
	"github.com/scfd/scfd/internal/sandbox"
	"github.com/scfd/scfd/internal/scf"
)

// Limits of an invocation.
const (
	MaxSyncEventBytes  = 6 << 20   // an event of a synchronous invocation
	MaxAsyncEventBytes = 128 << 10 // an event of an asynchronous invocation
	MaxResponseBytes   = 6 << 20   // the function's answer
	// CredentialMargin is how long temporary credentials outlive the
	// invocation's Timeout.
	CredentialMargin = time.Minute
	// DefaultExitGrace is how long Invoke waits, after the connection to
	// an instance broke, to learn whether and why its process ended.
	DefaultExitGrace = 2 * time.Second
)

// SCF status codes of results (see the package documentation).
const (
	CodeOK               = 0
	CodeUserError        = 430
	CodeResponseTooLarge = 407
	CodeConcurrency      = 432
	CodeTimeout          = 433
	CodeMemory           = 434
	CodeProcessExit      = 439
	CodeImage            = 444
	CodeInitError        = 445
	CodePortBinding      = 446
	CodeInternal         = 500
)

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
// kept, before Invoke returns (metering and metrics). Record may block
// until what it keeps is durable.
type Recorder interface {
	Record(ctx context.Context, f Finished)
}

// Finished describes an invocation that ended.
type Finished struct {
	Function *scf.Function // the version that ran
	Result   *Result
	RetryNum int
	// Billed is true when the event reached an instance: SCF bills those
	// (successes, code errors, timeouts, OOMs), not calls refused before
	// (over concurrency, no image, a failed start).
	Billed bool
	// Cold describes the instance's start when this invocation started it.
	Cold *pool.ColdStart
}

// LogStore keeps invocation logs; *logs.Store has it.
type LogStore interface {
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
	// Transport reaches the instances. Nil means a transport that keeps
	// connections alive, without proxies or compression.
	Transport http.RoundTripper
	// ExitGrace: see DefaultExitGrace. Zero means the default.
	ExitGrace time.Duration
	// Now is the clock of StartTime and durations. Nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger // nil discards
}

// Request is one invocation.
type Request struct {
	Namespace string // empty means scf.DefaultNamespace
	Function  string // required
	// Qualifier is the version or alias to run; empty means scf.Latest.
	// An alias (or $DEFAULT) is resolved by Invoke, see Resolve.
	Qualifier string
	// RoutingKey is matched against an alias's routing rules, such as
	// {"User": "Bob"} for the key invoke.headers.User.
	RoutingKey map[string]string
	// Event is the JSON event; empty means {}.
	Event []byte
	// LogTail asks for the last 4 KB of the log in Result.Log.
	LogTail bool
	// RetryNum is the attempt number of an asynchronous event (0 first).
	RetryNum int
	// TriggerSrc is sent as X-Scf-Trigger-Src when set ("timer", ...).
	TriggerSrc string
	// RequestID is the invocation's id; empty means a new one.
	RequestID string
	// Async marks an invocation of the asynchronous queue: the event may
	// be at most MaxAsyncEventBytes and a timeout reads "Async invoking
	// task timed out".
	Async bool
}

// Result is what became of an invocation: SCF's Result, plus RetCode.
type Result struct {
	RequestID    string // FunctionRequestId and X-Scf-Request-Id
	Version      string // the version that ran
	RetCode      int    // 0 or an SCF status code
	InvokeResult int    // equal to RetCode
	RetMsg       string
	ErrMsg       string
	StartTime    time.Time
	Duration     float64 // ms
	BillDuration int64   // ms
	MemUsage     int64   // bytes
	Log          string  // the log's tail when Request.LogTail
	Cold         bool    // the invocation started its instance
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
		opts.Transport = &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		}
	}
	return &Invoker{
		opts:   opts,
		client: &http.Client{Transport: opts.Transport},
		now:    opts.Now,
		log:    opts.Logger,
	}
}

// ResolveQualifier normalises a request's qualifier: empty means
// $LATEST. Aliases, $DEFAULT included, are resolved later by Invoke.
func ResolveQualifier(q string) string {
	if q == "" {
		return scf.Latest
	}
	return q
}

// Resolve maps a qualifier to the version that runs: a version names
// itself; an alias picks its main version or, by its routing, an
// additional one (weights are random per call; rules match routingKey).
// $DEFAULT without such an alias means $LATEST. An unknown alias is
// ErrNotFound about "Alias".
func (iv *Invoker) Resolve(ctx context.Context, namespace, function, qualifier string, routingKey map[string]string) (string, error) {
	qualifier = ResolveQualifier(qualifier)
	if scf.IsVersion(qualifier) {
		return qualifier, nil
	}
	if iv.opts.Aliases == nil {
		if qualifier == scf.DefaultAlias {
			return scf.Latest, nil
		}
		return "", errdefs.NotFound("Alias", "alias %q of function %q not found", qualifier, function)
	}
	a, err := iv.opts.Aliases.GetAlias(ctx, namespace, function, qualifier)
	if err != nil {
		if qualifier == scf.DefaultAlias && errdefs.Resource(err) == "Alias" {
			return scf.Latest, nil
		}
		return "", err
	}
	return a.Route(iv.opts.Rand(), routingKey), nil
}

// NewRequestID returns a new invocation id (a random UUID).
func NewRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// CheckEvent applies the limits of an event before anything runs: at most
// MaxSyncEventBytes (MaxAsyncEventBytes when async), and JSON.
func CheckEvent(event []byte, async bool) error {
	max := MaxSyncEventBytes
	if async {
		max = MaxAsyncEventBytes
	}
	if len(event) > max {
		return errdefs.New(errdefs.ErrInvalidArgument, "RequestTooLarge",
			"the event is %d bytes; at most %d are allowed for %s invocations (SCF status 406)", len(event), max, syncWord(async))
	}
	if len(event) > 0 && !json.Valid(event) {
		return errdefs.Invalid("ClientContext", "the event is not valid JSON")
	}
	return nil
}

func syncWord(async bool) string {
	if async {
		return "asynchronous"
	}
	return "synchronous"
}

// Invoke runs req. See the package documentation for what is an error and
// what is a Result.
func (iv *Invoker) Invoke(ctx context.Context, req Request) (*Result, error) {
	if req.Namespace == "" {
		req.Namespace = scf.DefaultNamespace
	}
	if err := CheckEvent(req.Event, req.Async); err != nil {
		return nil, err
	}
	version, err := iv.Resolve(ctx, req.Namespace, req.Function, req.Qualifier, req.RoutingKey)
	if err != nil {
		return nil, err
	}
	req.Qualifier = version
	if len(req.Event) == 0 {
		req.Event = []byte("{}")
	}
	fn, err := iv.opts.Functions.GetFunction(ctx, req.Namespace, req.Function, req.Qualifier)
	if err != nil {
		return nil, err
	}
	if fn.Status != scf.StatusActive {
		return nil, errdefs.New(errdefs.ErrFailedPrecondition, "FunctionStatusError",
			"function %s/%s is %s, not Active: it cannot be invoked", fn.Namespace, fn.Name, fn.Status)
	}
	if fn.Type == scf.TypeHTTP {
		return nil, errdefs.New(errdefs.ErrUnsupported, "FunctionType",
			"function %s/%s is an HTTP function: call it through the gateway", fn.Namespace, fn.Name)
	}
	if req.RequestID == "" {
		req.RequestID = NewRequestID()
	}
	run := &invocation{iv: iv, req: req, fn: fn, log: logs.NewBuilder(0), start: iv.now()}
	res, err := run.run(ctx)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// invocation is the state of one Invoke.
type invocation struct {
	iv    *Invoker
	req   Request
	fn    *scf.Function
	log   *logs.Builder
	start time.Time
	sent  bool            // the event reached an instance
	cold  *pool.ColdStart // the start of the instance, when this call made it
}

func (r *invocation) run(ctx context.Context) (*Result, error) {
	id := r.req.RequestID
	r.log.Platform("START RequestId:%s", id)
	lease, err := r.iv.opts.Instances.Acquire(ctx, r.fn)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		code, msg := acquireFailure(err)
		if code == CodeInternal {
			r.iv.log.ErrorContext(ctx, "invoke: acquiring an instance", "namespace", r.fn.Namespace, "function", r.fn.Name, "request_id", id, "err", err)
		}
		return r.finish(ctx, &Result{RetCode: code}, msg, 0, 0), nil
	}
	res, outcome := r.call(ctx, lease)
	lease.Release(outcome)
	if res == nil {
		return nil, ctx.Err()
	}
	return res, nil
}

// acquireFailure maps an Acquire error to a status code and message.
func acquireFailure(err error) (int, string) {
	var exit *sandbox.ExitError
	switch {
	case errors.Is(err, errdefs.ErrResourceExhausted):
		return CodeConcurrency, errdefs.Message(err, err.Error())
	case errors.Is(err, errdefs.ErrNotFound) && errdefs.Resource(err) == "Image":
		return CodeImage, "the function's image is not available: " + errdefs.Message(err, err.Error())
	case errors.As(err, &exit):
		return CodeInitError, exit.Error()
	case errors.Is(err, errdefs.ErrUnavailable) && errdefs.Message(err, err.Error()) == scf.StartupTimeoutMessage,
		err.Error() == scf.StartupTimeoutMessage:
		return CodePortBinding, scf.StartupTimeoutMessage
	case errors.Is(err, errdefs.ErrUnavailable), errors.Is(err, errdefs.ErrFailedPrecondition), errors.Is(err, errdefs.ErrNotFound):
		// Shutting down, too many waiting calls, a function deleted
		// meanwhile: the message is safe to show.
		return CodeInternal, errdefs.Message(err, err.Error())
	}
	return CodeInternal, "an internal error occurred while starting an instance"
}

// call sends the event to the lent instance. A nil result means the
// caller's ctx ended first.
func (r *invocation) call(ctx context.Context, lease pool.Lease) (*Result, pool.Outcome) {
	in := lease.Instance()
	id := r.req.RequestID
	res := &Result{}
	r.sent = true
	if cold := lease.Cold(); cold != nil {
		res.Cold = true
		r.cold = cold
		r.log.Platform("Init Report RequestId:%s InitDuration:%s ImageCheck:%s RootFS:%s Network:%s RuntimeCreate:%s RuntimeStart:%s Ready:%s Memory:%dMB",
			id, ms(cold.Total), ms(cold.ImageCheck), ms(cold.Phases.RootFS), ms(cold.Phases.Network),
			ms(cold.Phases.RuntimeCreate), ms(cold.Phases.RuntimeStart), ms(cold.Phases.Ready), r.fn.MemorySize)
	}
	detach := lease.Attach(func(l sandbox.LogLine) {
		r.log.Dropped(l.Dropped)
		if l.Text != "" || l.Dropped == 0 {
			r.log.Line(l.Text)
		}
	})
	detached := false
	defer func() {
		if !detached {
			detach()
		}
	}()
	if err := in.ResetPeak(); err != nil {
		r.iv.log.DebugContext(ctx, "invoke: reset peak memory", "instance", in.ID(), "err", err)
	}

	timeout := time.Duration(r.fn.Timeout) * time.Second
	hreq, err := r.request(ctx, in.Addr(), timeout)
	if err != nil {
		return r.finish(ctx, &Result{RetCode: CodeInternal}, "an internal error occurred", 0, 0), pool.Healthy
	}
	errTimeout := errors.New("timeout")
	errExited := errors.New("instance exited")
	callCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	callCtx, cancelTimeout := context.WithTimeoutCause(callCtx, timeout, errTimeout)
	defer cancelTimeout()
	go func() {
		select {
		case <-in.Exited():
			cancel(errExited)
		case <-callCtx.Done():
		}
	}()

	begin := r.iv.now()
	body, status, err := r.do(hreq.WithContext(callCtx))
	elapsed := r.iv.now().Sub(begin)
	mem := r.peak(in)
	detach() // hands over the lines printed before the answer
	detached = true

	res.RetCode = CodeOK
	outcome := pool.Healthy
	var errMsg string
	switch {
	case err == nil && status >= 200 && status < 300:
		res.RetMsg = string(body)
	case err == nil:
		res.RetCode = CodeUserError
		res.RetMsg = string(body)
		errMsg = string(body)
	case errors.Is(err, errTooLarge):
		res.RetCode = CodeResponseTooLarge
		errMsg = "The size of response exceeds the upper limit (6MB)"
	case context.Cause(callCtx) == errTimeout:
		res.RetCode, outcome = CodeTimeout, pool.Broken
		prefix := "Invoking"
		if r.req.Async {
			prefix = "Async invoking"
		}
		errMsg = fmt.Sprintf("%s task timed out after %d seconds", prefix, r.fn.Timeout)
		elapsed = timeout
	case ctx.Err() != nil:
		// The caller gave up; the instance may be busy still.
		return nil, pool.Broken
	default:
		outcome = pool.Broken
		select {
		case <-in.Exited():
		case <-time.After(r.iv.opts.ExitGrace):
		}
		reason := in.ExitReason()
		switch reason.Kind {
		case sandbox.ExitOOM:
			res.RetCode = CodeMemory
			errMsg = fmt.Sprintf("Memory limit exceeded: the function used more than its %d MB and was killed", r.fn.MemorySize)
			mem = max(mem, r.fn.MemorySize<<20)
		case sandbox.ExitNone:
			res.RetCode = CodeInternal
			errMsg = "the connection to the function's server broke: " + err.Error()
		default:
			res.RetCode = CodeProcessExit
			errMsg = "User process exit when running: the function's server " + reason.String()
		}
	}
	if errMsg != "" && res.RetCode != CodeUserError {
		res.RetMsg = ""
	}
	return r.finish(ctx, res, errMsg, elapsed, mem), outcome
}

// request builds the POST /event-invoke request.
func (r *invocation) request(ctx context.Context, addr string, timeout time.Duration) (*http.Request, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/event-invoke", nil)
	if err != nil {
		return nil, err
	}
	hreq.Body = io.NopCloser(bytes.NewReader(r.req.Event))
	hreq.ContentLength = int64(len(r.req.Event))
	ev := r.req.Event
	hreq.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(ev)), nil }
	hreq.Header["Content-Type"] = []string{"application/json"}
	ph := PlatformHeaders{RequestID: r.req.RequestID, Function: r.fn, Timeout: timeout, Account: r.iv.opts.Account, TriggerSrc: r.req.TriggerSrc}
	if c := r.iv.opts.Credentials; c != nil {
		t := c.Issue(r.fn.Namespace, timeout+CredentialMargin)
		ph.Credentials = &t
	}
	ph.Set(hreq.Header)
	return hreq, nil
}

var errTooLarge = errors.New("the answer is larger than 6 MB")

// do sends the request and reads at most MaxResponseBytes of the answer.
func (r *invocation) do(hreq *http.Request) ([]byte, int, error) {
	resp, err := r.iv.client.Do(hreq)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.ContentLength > MaxResponseBytes {
		return nil, resp.StatusCode, errTooLarge
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes+1))
	if err != nil {
		return nil, resp.StatusCode, err
	}
	if len(body) > MaxResponseBytes {
		return nil, resp.StatusCode, errTooLarge
	}
	return body, resp.StatusCode, nil
}

func (r *invocation) peak(in sandbox.Instance) int64 {
	st, err := in.Stats()
	if err != nil {
		return 0
	}
	return int64(st.MemoryPeakBytes)
}

// finish completes res: the platform's closing lines, the log entry, the
// tail. errMsg non-empty marks a failure.
func (r *invocation) finish(ctx context.Context, res *Result, errMsg string, elapsed time.Duration, mem int64) *Result {
	id := r.req.RequestID
	res.RequestID = id
	res.Version = r.fn.Version
	res.StartTime = r.start
	res.InvokeResult = res.RetCode
	res.MemUsage = mem
	res.Duration = float64(elapsed.Microseconds()) / 1000
	res.BillDuration = int64(math.Ceil(res.Duration))
	if res.RetCode != CodeOK {
		if res.RetCode == CodeUserError {
			res.ErrMsg = errMsg
		} else {
			res.ErrMsg = platformError(id, res.RetCode, errMsg)
			res.RetMsg = res.ErrMsg
		}
		r.log.Platform("ERROR RequestId:%s Result:%s", id, errMsg)
	}
	quoted, _ := json.Marshal(res.RetMsg)
	r.log.Platform("Response RequestId:%s RetMsg:%s", id, quoted)
	r.log.Platform("END RequestId:%s", id)
	r.log.Platform("Report RequestId:%s Duration:%sms Memory:%dMB MemUsage:%sMB",
		id, strconv.FormatFloat(res.Duration, 'f', -1, 64), r.fn.MemorySize, strconv.FormatFloat(float64(res.MemUsage)/(1<<20), 'f', -1, 64))
	text := r.log.String()
	if r.req.LogTail {
		res.Log = logs.Tail(text, logs.TailBytes)
	}
	if r.iv.opts.Logs != nil {
		err := r.iv.opts.Logs.Put(context.WithoutCancel(ctx), logs.Entry{
			RequestID: id, Namespace: r.fn.Namespace, Function: r.fn.Name, Qualifier: r.fn.Version,
			StartTime: r.start, RetCode: res.RetCode, RetMsg: res.RetMsg, Duration: res.Duration,
			BillDuration: res.BillDuration, MemUsage: res.MemUsage, Log: text, InvokeFinished: 1,
			RetryNum: r.req.RetryNum, Truncated: r.log.Truncated(),
		})
		if err != nil {
			r.iv.log.Error("invoke: keeping the log", "request_id", id, "err", err)
		}
	}
	if r.iv.opts.Recorder != nil {
		r.iv.opts.Recorder.Record(context.WithoutCancel(ctx), Finished{
			Function: r.fn, Result: res, RetryNum: r.req.RetryNum, Billed: r.sent, Cold: r.cold,
		})
	}
	return res
}

// platformError is SCF's JSON body of a platform failure.
func platformError(id string, code int, msg string) string {
	b, _ := json.Marshal(struct {
		ErrorCode    int    `json:"errorCode"`
		ErrorMessage string `json:"errorMessage"`
		RequestID    string `json:"requestId"`
		StatusCode   int    `json:"statusCode"`
	}{-1, msg, id, code})
	return string(b)
}

// ms formats a duration in whole-and-fractional milliseconds.
func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', -1, 64) + "ms"
}
