package async

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/scfd/scfd/internal/errdefs"
)

// Event is what the queue knows of one asynchronous invocation.
type Event struct {
	RequestID  string
	Namespace  string
	Function   string
	Qualifier  string
	InvokeType string // the trigger ("timer", ...), or "invoke" for the API
	// Status is RUNNING (waiting or running), FINISHED, FAILED (a dead
	// letter) or ABORTED.
	Status string
	// StatusCode is 200 when FINISHED, 499 when ABORTED, else the SCF
	// status code of the last failed attempt (0 before any ended).
	StatusCode int
	ErrMsg     string // the last failed attempt's error
	Attempts   int    // attempts started
	StartTime  time.Time
	EndTime    time.Time // zero while RUNNING
	NextRun    time.Time // when a waiting event is due; zero otherwise
}

// Query selects events for List. Zero fields do not filter.
type Query struct {
	Namespace   string
	Function    string
	Qualifier   string
	InvokeTypes []string
	Statuses    []string // wire statuses
	RequestID   string
	// StartFrom..StartTo and EndFrom..EndTo bound StartTime and EndTime
	// (inclusive).
	StartFrom, StartTo time.Time
	EndFrom, EndTo     time.Time
	// OrderBy is "StartTime" (default) or "EndTime"; Ascending orders
	// oldest first (default newest first).
	OrderBy   string
	Ascending bool
	Offset    int
	Limit     int // zero means 20
}

const eventColumns = `request_id, namespace, function, qualifier, invoke_type, state, ret_code, err_msg,
	attempts, start_time, end_time, next_run`

func scanEvent(row interface{ Scan(...any) error }) (Event, error) {
	var e Event
	var state string
	var start, end, next int64
	if err := row.Scan(&e.RequestID, &e.Namespace, &e.Function, &e.Qualifier, &e.InvokeType, &state,
		&e.StatusCode, &e.ErrMsg, &e.Attempts, &start, &end, &next); err != nil {
		return Event{}, err
	}
	e.StartTime = time.Unix(0, start)
	if end != 0 {
		e.EndTime = time.Unix(0, end)
	}
	switch state {
	case statePending, stateRunning:
		e.Status = StatusRunning
		if state == statePending {
			e.NextRun = time.Unix(0, next)
		}
	case stateFinished:
		e.Status, e.StatusCode = StatusFinished, 200
	case stateAborted:
		e.Status, e.StatusCode = StatusAborted, 499
	case stateFailed:
		e.Status = StatusFailed
	}
	return e, nil
}

// statesOf maps wire statuses to stored states.
func statesOf(statuses []string) ([]string, error) {
	var out []string
	for _, s := range statuses {
		switch s {
		case StatusRunning:
			out = append(out, statePending, stateRunning)
		case StatusFinished:
			out = append(out, stateFinished)
		case StatusFailed:
			out = append(out, stateFailed)
		case StatusAborted:
			out = append(out, stateAborted)
		default:
			return nil, errdefs.Invalid("Status", "Status %q is invalid: use RUNNING, FINISHED, FAILED or ABORTED", s)
		}
	}
	return out, nil
}

// Get returns one event.
func (q *Queue) Get(ctx context.Context, requestID string) (Event, error) {
	e, err := scanEvent(q.db.QueryRowContext(ctx, `SELECT `+eventColumns+` FROM async_events WHERE request_id = ?`, requestID))
	if errors.Is(err, sql.ErrNoRows) {
		return Event{}, errdefs.NotFound("AsyncEvent", "no asynchronous event has request id %s", requestID)
	}
	if err != nil {
		return Event{}, fmt.Errorf("async: reading event %s: %w", requestID, err)
	}
	return e, nil
}

// List returns the events q selects, and how many there are in all.
func (q *Queue) List(ctx context.Context, lq Query) ([]Event, int, error) {
	var where []string
	var args []any
	eq := func(col, v string) {
		if v != "" {
			where = append(where, col+" = ?")
			args = append(args, v)
		}
	}
	in := func(col string, vs []string) {
		if len(vs) > 0 {
			where = append(where, col+" IN (?"+strings.Repeat(", ?", len(vs)-1)+")")
			for _, v := range vs {
				args = append(args, v)
			}
		}
	}
	between := func(col string, from, to time.Time) {
		if !from.IsZero() {
			where = append(where, col+" >= ?")
			args = append(args, from.UnixNano())
		}
		if !to.IsZero() {
			where = append(where, col+" <= ?")
			args = append(args, to.UnixNano())
		}
	}
	eq("namespace", lq.Namespace)
	eq("function", lq.Function)
	eq("qualifier", lq.Qualifier)
	eq("request_id", lq.RequestID)
	in("invoke_type", lq.InvokeTypes)
	states, err := statesOf(lq.Statuses)
	if err != nil {
		return nil, 0, err
	}
	in("state", states)
	between("start_time", lq.StartFrom, lq.StartTo)
	if !lq.EndFrom.IsZero() || !lq.EndTo.IsZero() {
		where = append(where, "end_time != 0")
	}
	between("end_time", lq.EndFrom, lq.EndTo)
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := q.db.QueryRowContext(ctx, `SELECT count(*) FROM async_events`+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("async: counting events: %w", err)
	}
	order := "start_time"
	switch lq.OrderBy {
	case "", "StartTime":
	case "EndTime":
		order = "end_time"
	default:
		return nil, 0, errdefs.Invalid("OrderBy", "Orderby %q is invalid: use StartTime or EndTime", lq.OrderBy)
	}
	dir := " DESC"
	if lq.Ascending {
		dir = " ASC"
	}
	limit := lq.Limit
	if limit <= 0 {
		limit = 20
	}
	rows, err := q.db.QueryContext(ctx, `SELECT `+eventColumns+` FROM async_events`+cond+
		` ORDER BY `+order+dir+`, request_id`+dir+` LIMIT ? OFFSET ?`, append(args, limit, max(lq.Offset, 0))...)
	if err != nil {
		return nil, 0, fmt.Errorf("async: listing events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("async: listing events: %w", err)
		}
		out = append(out, e)
	}
	return out, total, rows.Err()
}

// Terminate aborts an event of namespace/function: a waiting one does not
// run again, a running one is cancelled (its instance is destroyed).
// GraceShutdown is not distinguished: scfd cannot signal the function's
// process through the pool, so both end the attempt at once. The event is
// ABORTED when Terminate returns, whichever Queue runs it; an attempt
// running on another Queue is cancelled by that Queue when it next renews
// its lease (within Lease/3), and its outcome is not recorded.
func (q *Queue) Terminate(ctx context.Context, namespace, function, requestID string) error {
	e, err := q.Get(ctx, requestID)
	if err != nil {
		return err
	}
	if e.Namespace != namespace || e.Function != function {
		return errdefs.NotFound("AsyncEvent", "function %s/%s has no asynchronous event %s", namespace, function, requestID)
	}
	now := q.clock.Now().UnixNano()
	res, err := q.db.ExecContext(ctx, `UPDATE async_events SET state = ?, end_time = ?, ret_code = 499,
		err_msg = 'terminated by TerminateAsyncEvent' WHERE request_id = ? AND state IN (?, ?)`,
		stateAborted, now, requestID, statePending, stateRunning)
	if err != nil {
		return fmt.Errorf("async: terminating %s: %w", requestID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errdefs.New(errdefs.ErrFailedPrecondition, "AsyncEventStatus", "asynchronous event %s has ended already", requestID)
	}
	q.mu.Lock()
	if r := q.running[requestID]; r != nil {
		r.cancel(errTerminated)
	}
	q.mu.Unlock()
	return nil
}

// Retry puts an ended event back in the queue (a dead letter, an aborted
// event, or even a finished one): it runs again at once, with a fresh
// retry budget and maximum age. Its attempts keep counting up, so each
// has its own RetryNum.
func (q *Queue) Retry(ctx context.Context, requestID string) error {
	if _, err := q.Get(ctx, requestID); err != nil {
		return err
	}
	now := q.clock.Now().UnixNano()
	res, err := q.db.ExecContext(ctx, `UPDATE async_events SET state = ?, next_run = ?, accept_time = ?, end_time = 0,
		function_errors = 0, system_errors = 0 WHERE request_id = ? AND state IN (?, ?, ?)`,
		statePending, now, now, requestID, stateFailed, stateAborted, stateFinished)
	if err != nil {
		return fmt.Errorf("async: retrying %s: %w", requestID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errdefs.New(errdefs.ErrFailedPrecondition, "AsyncEventStatus", "asynchronous event %s is still running", requestID)
	}
	q.poke()
	return nil
}

// Depth counts the events accepted and not yet finished: waiting, backing
// off or running.
func (q *Queue) Depth(ctx context.Context) (int, error) {
	var n int
	err := q.db.QueryRowContext(ctx, `SELECT count(*) FROM async_events WHERE state IN (?, ?)`, statePending, stateRunning).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("async: counting queued events: %w", err)
	}
	return n, nil
}
