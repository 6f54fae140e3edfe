// Package async is scfd's durable queue of asynchronous invocations
// (Invoke with InvocationType Event, timer triggers). Enqueue stores the
// event in the store's database (durably on commit) before it returns
// the request id, so an accepted event survives a crash of scfd.
//
// Several Queues (scfd replicas) may share one database. Workers claim due
// events, at most MaxPerNamespace of one namespace at once per Queue (half
// its workers by default, so that one tenant's long events cannot hold
// them all), and run them through the same Invoker as
// synchronous calls (Request.Async, Request.RetryNum), so pools, limits
// and logs are shared. What becomes of an attempt:
//
//   - RetCode 0: the event is FINISHED.
//   - A function error (430, 433, 434, 439, 407): retried RetryNum more
//     times (2 by default, per function through SetConfig), RetryInterval
//     apart; then the event is FAILED: a dead letter, kept with its last
//     error and retryable by hand (Retry). A function in async-run mode
//     (Result.NoRetry) is not retried: its event is FAILED at once.
//   - Any other code (432 over concurrency, 444, 445, 446, 500, ...) or an
//     error of the Invoker other than "not found": retried with
//     exponential backoff from RetryInterval up to MaxBackoff until the
//     event is older than its maximum age (MsgTTL, 6 h by default), then
//     FAILED.
//   - The function was deleted (errdefs.ErrNotFound): FAILED at once.
//
// Each attempt has its own RetryNum (0 for the first), so each has its own
// log entry. TerminateAsyncEvent aborts a waiting event, or cancels a
// running one (its instance is destroyed): the event is ABORTED.
//
// A claimed event is leased to its Queue (Options.Replica) until
// Options.Lease from the claim; the Queue renews the leases of its running
// attempts every third of a lease (see lease.go). One Queue runs an event
// at a time. An event whose Queue stopped renewing (its process died, or
// lost the database for a whole lease) is claimed again once its lease has
// expired: the interrupted attempt counts as an attempt (the next has the
// next RetryNum) but not as a failure. A Queue that lost a lease stops its
// attempt and records nothing: completions and failures are written only
// under the lease they were claimed with.
//
// Time comes from an injected Clock: backoff, maximum age and reaping are
// tested without sleeping. Finished and aborted events are kept for
// Retention (3 days, as SCF keeps event statuses), dead letters for
// DeadRetention (7 days).
//
// Tables (owner "async" in store.Migrate): async_events, one row per
// event, and async_configs, one row per function with a retry policy.
package async

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/invocation"
	"github.com/scfd/scfd/internal/scf"
)

// Defaults of Options and of a function's retry policy.
const (
	DefaultWorkers       = 32
	DefaultRetryNum      = 2
	DefaultMsgTTL        = 6 * time.Hour
	DefaultRetryInterval = time.Minute
	DefaultMaxBackoff    = 10 * time.Minute
	DefaultMaxQueued     = 100000
	DefaultRetention     = 72 * time.Hour
	DefaultDeadRetention = 7 * 24 * time.Hour
	DefaultLease         = 30 * time.Second
	// ReapInterval is how often ended events past their retention are
	// deleted.
	ReapInterval = time.Hour
)

// Limits of a function's retry policy.
const (
	MaxRetryNum = 10
	MinMsgTTL   = time.Minute
	MaxMsgTTL   = 24 * time.Hour
)

// Invoker runs one attempt; *invoke.Invoker has it.
type Invoker interface {
	Invoke(ctx context.Context, req invocation.Request) (*invocation.Result, error)
}

// Functions finds a function version; *store.Store has it.
type Functions interface {
	GetFunction(ctx context.Context, namespace, name, version string) (*scf.Function, error)
}

// Store is the database; *store.Store has it.
type Store interface {
	DB() *sql.DB
	Migrate(ctx context.Context, owner string, migrations []string) error
	// Dialect names the database: "sqlite" or "postgres".
	Dialect() string
}

// Clock is the queue's source of time.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has passed.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a scheduled call of Clock.AfterFunc.
type Timer interface{ Stop() bool }

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// AfterFunc is time.AfterFunc.
func (SystemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Options configure a Queue. Store, Functions and Invoker are required.
type Options struct {
	Store     Store
	Functions Functions
	Invoker   Invoker
	// Aliases lets Enqueue check an alias qualifier (the invocation
	// resolves it, per attempt). Nil: only versions and $DEFAULT.
	Aliases invocation.Aliases
	// Workers bounds the attempts running at once. Zero means
	// DefaultWorkers.
	Workers int
	// MaxPerNamespace bounds the attempts of one namespace running at
	// once, so that one tenant's long events (up to 24 h for async-run
	// functions) cannot hold every worker. Zero means half of Workers,
	// rounded up.
	MaxPerNamespace int
	// RetryInterval is the wait before retrying a function error, and the
	// first backoff step of other errors. Zero means DefaultRetryInterval.
	// A function's own policy (SetConfig) overrides it.
	RetryInterval time.Duration
	// MaxBackoff caps the exponential backoff of system errors. Zero
	// means DefaultMaxBackoff.
	MaxBackoff time.Duration
	// MaxQueued bounds the events waiting or running; Enqueue fails with
	// errdefs.ErrResourceExhausted beyond. Zero means DefaultMaxQueued.
	MaxQueued int
	// Retention and DeadRetention: see the package documentation. Zero
	// means DefaultRetention and DefaultDeadRetention.
	Retention     time.Duration
	DeadRetention time.Duration
	// Replica names this Queue among those sharing the database: it owns
	// the leases of the events its workers run, and must be unique among
	// the Queues running at once. At Open, a Queue takes back at once the
	// events leased to its Replica (those of an earlier process of the
	// same name, killed). Empty means a random name, new for each Open.
	Replica string
	// Lease is how long a claimed event stays this Queue's without a
	// renewal; the Queue renews the leases of its running attempts every
	// Lease/3, and looks for due events queued by other Queues as often.
	// An event whose Queue died runs again at most Lease (plus Lease/3)
	// after its last renewal. Zero means DefaultLease.
	Lease time.Duration
	// Clock: nil means SystemClock.
	Clock  Clock
	Logger *slog.Logger // nil discards
}

// The states of an event as stored. Waiting and running events are both
// RUNNING on the wire.
const (
	statePending  = "pending"
	stateRunning  = "running"
	stateFinished = "finished"
	stateFailed   = "failed"
	stateAborted  = "aborted"
)

// Wire statuses of events (ListAsyncEvents, GetAsyncEventStatus).
const (
	StatusRunning  = "RUNNING"
	StatusFinished = "FINISHED"
	StatusAborted  = "ABORTED"
	StatusFailed   = "FAILED"
)

var migrations = []string{
	`CREATE TABLE async_events (
		request_id      TEXT    PRIMARY KEY,
		namespace       TEXT    NOT NULL,
		function        TEXT    NOT NULL,
		qualifier       TEXT    NOT NULL,
		invoke_type     TEXT    NOT NULL,
		trigger_src     TEXT    NOT NULL,
		event           BLOB    NOT NULL,
		state           TEXT    NOT NULL,
		attempts        INTEGER NOT NULL DEFAULT 0,
		function_errors INTEGER NOT NULL DEFAULT 0,
		system_errors   INTEGER NOT NULL DEFAULT 0,
		accept_time     INTEGER NOT NULL,
		next_run        INTEGER NOT NULL,
		start_time      INTEGER NOT NULL DEFAULT 0,
		end_time        INTEGER NOT NULL DEFAULT 0,
		ret_code        INTEGER NOT NULL DEFAULT 0,
		err_msg         TEXT    NOT NULL DEFAULT ''
	);
	CREATE INDEX async_events_due ON async_events (state, next_run);
	CREATE INDEX async_events_function ON async_events (namespace, function, start_time);
	CREATE TABLE async_configs (
		namespace      TEXT    NOT NULL,
		function       TEXT    NOT NULL,
		retry_num      INTEGER NOT NULL,
		msg_ttl        INTEGER NOT NULL,
		retry_interval INTEGER NOT NULL,
		PRIMARY KEY (namespace, function)
	);`,
	// 2: the lease of a running event: the Queue (Options.Replica) that
	// runs it and until when (Unix nanoseconds). Events running before
	// this migration have an expired lease: they are claimed again.
	`ALTER TABLE async_events ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
	ALTER TABLE async_events ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;`,
}

// Queue is the asynchronous queue. It is safe for concurrent use.
type Queue struct {
	opts    Options
	db      *sql.DB
	dialect dialect
	clock   Clock
	log     *slog.Logger

	wake    chan struct{}
	slots   chan struct{} // one token per running attempt
	swept   bool          // the first claim has committed; the loop alone uses it
	ctx     context.Context
	cancel  context.CancelFunc
	bg      sync.WaitGroup
	reaper  Timer
	beat    Timer // the next lease renewal
	closeMu sync.Mutex
	closed  bool

	mu      sync.Mutex
	running map[string]*run // by request id
}

var (
	errShutdown   = errors.New("scfd is shutting down")
	errTerminated = errors.New("terminated by TerminateAsyncEvent")
	errLeaseLost  = errors.New("the event's lease was lost")
)

// Open creates the tables if needed and starts the workers, which run
// due events, and those whose lease has expired, with the workers of the
// other Queues on the database. Close stops them.
func Open(ctx context.Context, opts Options) (*Queue, error) {
	if opts.Store == nil || opts.Functions == nil || opts.Invoker == nil {
		return nil, errors.New("async: Store, Functions and Invoker are required")
	}
	if err := opts.Store.Migrate(ctx, "async", migrations); err != nil {
		return nil, err
	}
	if opts.Workers <= 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.MaxPerNamespace <= 0 {
		opts.MaxPerNamespace = (opts.Workers + 1) / 2
	}
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = DefaultRetryInterval
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	if opts.MaxQueued <= 0 {
		opts.MaxQueued = DefaultMaxQueued
	}
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.DeadRetention <= 0 {
		opts.DeadRetention = DefaultDeadRetention
	}
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	if opts.Replica == "" {
		opts.Replica = invocation.NewRequestID()
	}
	if opts.Clock == nil {
		opts.Clock = SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	q := &Queue{
		opts:    opts,
		db:      opts.Store.DB(),
		dialect: dialectOf(opts.Store.Dialect()),
		clock:   opts.Clock,
		log:     opts.Logger,
		wake:    make(chan struct{}, 1),
		slots:   make(chan struct{}, opts.Workers),
		running: map[string]*run{},
	}
	q.ctx, q.cancel = context.WithCancel(context.Background())
	q.bg.Add(1)
	go q.loop()
	q.reap()
	q.heartbeat()
	return q, nil
}

// Close stops the workers. Running attempts are cancelled and their
// events go back to the queue, to run again at once on another Queue or
// at the next Open.
func (q *Queue) Close() error {
	if !q.stopTimers() {
		return nil
	}
	q.mu.Lock()
	for _, r := range q.running {
		r.cancel(errShutdown)
	}
	q.mu.Unlock()
	q.cancel()
	q.bg.Wait()
	return nil
}

// Enqueue stores an asynchronous invocation and returns its request id
// (req.RequestID when set, else a new one) once it is on disk. The
// function must exist and be an event function.
func (q *Queue) Enqueue(ctx context.Context, req invocation.Request) (string, error) {
	if req.Namespace == "" {
		req.Namespace = scf.DefaultNamespace
	}
	req.Qualifier = invocation.ResolveQualifier(req.Qualifier)
	if err := invocation.CheckEvent(req.Event, true); err != nil {
		return "", err
	}
	if len(req.Event) == 0 {
		req.Event = []byte("{}")
	}
	fn, err := invocation.Qualifiers{Functions: q.opts.Functions, Aliases: q.opts.Aliases}.Function(ctx, req.Namespace, req.Function, req.Qualifier, nil)
	if err != nil {
		return "", err
	}
	if fn.Type == scf.TypeHTTP {
		return "", errdefs.Invalid("FunctionType",
			"function %s/%s is an HTTP function: it cannot be invoked asynchronously", fn.Namespace, fn.Name)
	}
	if req.RequestID == "" {
		req.RequestID = invocation.NewRequestID()
	}
	invokeType := req.TriggerSrc
	if invokeType == "" {
		invokeType = "invoke"
	}
	var queued int
	if err := q.db.QueryRowContext(ctx, `SELECT count(*) FROM async_events WHERE state IN (?, ?)`, statePending, stateRunning).Scan(&queued); err != nil {
		return "", fmt.Errorf("async: counting queued events: %w", err)
	}
	if queued >= q.opts.MaxQueued {
		return "", errdefs.New(errdefs.ErrResourceExhausted, "AsyncQueue",
			"the asynchronous queue holds %d events, its limit: try again later", queued)
	}
	now := q.clock.Now().UnixNano()
	// ON CONFLICT DO NOTHING rather than an error to tell apart: the
	// same on SQLite and PostgreSQL (timers rely on it to fire once).
	res, err := q.db.ExecContext(ctx, `INSERT INTO async_events
		(request_id, namespace, function, qualifier, invoke_type, trigger_src, event, state, accept_time, next_run, start_time)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (request_id) DO NOTHING`,
		req.RequestID, req.Namespace, req.Function, req.Qualifier, invokeType, req.TriggerSrc, req.Event,
		statePending, now, now, now)
	if err != nil {
		return "", errdefs.NoSpace(fmt.Errorf("async: storing the event: %w", err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return "", fmt.Errorf("async: storing the event: %w", err)
	} else if n == 0 {
		return "", errdefs.New(errdefs.ErrAlreadyExists, "InvokeRequestId", "an event with request id %s exists", req.RequestID)
	}
	q.poke()
	return req.RequestID, nil
}

// stopTimers stops the reaper and the lease renewal, and reports whether
// q was still open.
func (q *Queue) stopTimers() bool {
	q.closeMu.Lock()
	defer q.closeMu.Unlock()
	if q.closed {
		return false
	}
	q.closed = true
	for _, t := range []Timer{q.reaper, q.beat} {
		if t != nil {
			t.Stop()
		}
	}
	return true
}

// poke wakes the dispatcher.
func (q *Queue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}
