package invocation

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/scf"
)

// Kind tells an event invocation from a web request, where SCF's rules
// differ: what counts as the function's error and how the log closes.
type Kind int

// The kinds of invocation.
const (
	// Event: a body in, a body out; a non-2xx answer is the function's
	// error (430) and its body the RetMsg; the log has a Response line.
	Event Kind = iota
	// Web: a proxied HTTP exchange; an answer of 500 or more is the
	// function's error (430); the END line carries the status.
	Web
)

// Call is one invocation of a resolved, Active function version.
type Call struct {
	Kind      Kind
	Function  *scf.Function // required
	RequestID string        // required
	// Start is when the invocation arrived (StartTime); zero means now.
	Start time.Time
	// RetryNum, Async and TriggerSrc: see Request.
	RetryNum   int
	Async      bool
	TriggerSrc string
	// LogTail asks for the log's tail in Result.Log.
	LogTail bool
	// Method and Path are a web request's method and path below the
	// function, kept in its log entry; empty for events.
	Method, Path string
}

// Answer is what came back from an instance.
type Answer struct {
	// Status is the function's HTTP status; 0 when no answer came.
	Status int
	// Body is an event's answer (at most MaxResponseBytes).
	Body []byte
	// Err is why the exchange broke: nil, ErrTooLarge, or what the
	// connection to the instance reported.
	Err error
	// Committed is true when part of the answer already reached the
	// caller (a web answer broken mid-body): Failed is not called then.
	Committed bool
}

// ErrTooLarge is the Answer.Err of an answer larger than
// MaxResponseBytes.
var ErrTooLarge = errors.New("the answer is larger than 6 MB")

// ErrAsyncRun is what a synchronous invocation of a function in
// async-run mode (AsyncRunEnable) returns: the caller queues it instead,
// as SCF answers every invocation of such a function with its request id.
var ErrAsyncRun = errdefs.New(errdefs.ErrFailedPrecondition, "AsyncRunEnable",
	"the function runs in async-run mode (AsyncRunEnable): it is invoked asynchronously only")

// Exchange is the part of an invocation that differs between an event
// and a web request: what is sent to the lent instance and how its answer
// reaches the caller.
type Exchange interface {
	// Do sends the invocation to the instance at addr with the platform's
	// headers h. ctx ends when the function's Timeout passes, the
	// instance exits or the caller goes away.
	Do(ctx context.Context, addr string, h *PlatformHeaders) Answer
	// Failed tells the caller that the invocation failed without an
	// answer of the function (no instance, a failed start, a timeout, a
	// broken connection): code is its SCF status code, status the HTTP
	// status a web caller gets (see WebStatus) and body SCF's JSON error
	// body (PlatformError).
	Failed(code, status int, body string)
}

// WebStatus is the HTTP status the gateway answers for a web request that
// failed with SCF code code.
func WebStatus(code int) int {
	switch code {
	case CodeOK:
		return http.StatusOK
	case CodeConcurrency:
		return http.StatusTooManyRequests
	case CodeTimeout:
		return http.StatusGatewayTimeout
	case CodeCanceled:
		return CodeCanceled
	}
	return http.StatusBadGateway
}
