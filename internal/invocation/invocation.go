// Package invocation is SCF's vocabulary of one invocation, shared by the
// engine that runs invocations (package invoke) and by those that ask for
// them (api, gateway, async, trigger) or count them (the daemon's
// recorder): the Request of an event invocation and its Result, the SCF
// status codes of results, Finished (what metering and metrics are told
// of every invocation, event or web request), the X-Scf-* headers an
// instance receives, request ids and the limits of events.
//
// It holds types and small pure functions only; nothing here runs an
// invocation.
package invocation

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/scf"
)

// Limits of an invocation.
const (
	MaxSyncEventBytes  = 6 << 20   // an event of a synchronous invocation
	MaxAsyncEventBytes = 128 << 10 // an event of an asynchronous invocation
	MaxResponseBytes   = 6 << 20   // an event function's answer
	// CredentialMargin is how long temporary credentials outlive the
	// invocation's Timeout.
	CredentialMargin = time.Minute
)

// SCF status codes of results: RetCode and InvokeResult of a Result, the
// statusCode of the platform's error bodies.
const (
	CodeOK               = 0
	CodeUserError        = 430 // the function answered an error (event: non-2xx; web: 5xx)
	CodeResponseTooLarge = 407 // the answer passed MaxResponseBytes
	CodeConcurrency      = 432 // over the function's or the account's concurrency
	CodeTimeout          = 433 // the function's Timeout passed
	CodeMemory           = 434 // the instance was killed for its memory
	CodeProcessExit      = 439 // the process exited while running
	CodeImage            = 444 // the image is not available locally
	CodeInitError        = 445 // the server exited before it listened
	CodePortBinding      = 446 // the server did not listen within the start-up check
	CodeCanceled         = 499 // the caller went away (SCF's RequestCanceled)
	CodeInternal         = 500 // anything else, such as a broken connection
)

// Request is one event invocation.
type Request struct {
	Namespace string // empty means scf.DefaultNamespace
	Function  string // required
	// Qualifier is the version or alias to run; empty means scf.Latest.
	// An alias (or $DEFAULT) is resolved by the engine.
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
	// be at most MaxAsyncEventBytes, a timeout reads "Async invoking task
	// timed out", and the attempt may run again after a restart.
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
	// NoRetry is true when the function runs in async-run mode
	// (AsyncRunEnable): the queue does not retry its own failures.
	NoRetry bool
}

// Finished describes an invocation that ended, event or web request.
type Finished struct {
	Function *scf.Function // the version that ran
	Result   *Result
	RetryNum int
	// Async is true for an attempt of the asynchronous queue, which may
	// be told again after a restart (see meter.Invocation.Replayable).
	Async bool
	// Billed is true when the invocation reached an instance: SCF bills
	// those (successes, code errors, timeouts, OOMs), not calls refused
	// before (over concurrency, no image, a failed start) nor those whose
	// caller went away.
	Billed bool
	// Cold describes the instance's start when this invocation started
	// it; nil for a warm instance.
	Cold *ColdStart
}

// ColdStart is the start of the instance an invocation started.
type ColdStart struct {
	Total time.Duration
	// Phases are the steps of the start in order, named as the Init
	// Report line names them (ImageCheck, RootFS, Network, ...).
	Phases []Phase
}

// Phase is one step of a cold start.
type Phase struct {
	Name     string
	Duration time.Duration
}

// NewRequestID returns a new invocation id: a UUID of version 7, whose
// leading bits are the time, so that ids of successive invocations sort
// (and index) in the order they were made.
func NewRequestID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

// ResolveQualifier normalises a request's qualifier: empty means
// $LATEST. Aliases, $DEFAULT included, are resolved by the engine.
func ResolveQualifier(q string) string {
	if q == "" {
		return scf.Latest
	}
	return q
}

// CheckEvent applies the limits of an event before anything runs: at most
// MaxSyncEventBytes (MaxAsyncEventBytes when async), and JSON.
func CheckEvent(event []byte, async bool) error {
	max, kind := MaxSyncEventBytes, "synchronous"
	if async {
		max, kind = MaxAsyncEventBytes, "asynchronous"
	}
	if len(event) > max {
		return errdefs.New(errdefs.ErrInvalidArgument, "RequestTooLarge",
			"the event is %d bytes; at most %d are allowed for %s invocations (SCF status 406)", len(event), max, kind)
	}
	if len(event) > 0 && !json.Valid(event) {
		return errdefs.Invalid("ClientContext", "the event is not valid JSON")
	}
	return nil
}

// PlatformError is SCF's JSON body of a platform failure, the ErrMsg of
// such a Result and the body of the gateway's error answers.
func PlatformError(requestID string, code int, msg string) string {
	b, _ := json.Marshal(struct {
		ErrorCode    int    `json:"errorCode"`
		ErrorMessage string `json:"errorMessage"`
		RequestID    string `json:"requestId"`
		StatusCode   int    `json:"statusCode"`
	}{-1, msg, requestID, code})
	return string(b)
}
