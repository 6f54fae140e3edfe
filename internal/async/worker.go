package async

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/invocation"
)

// claimed is an event a worker runs.
type claimed struct {
	id, namespace, function, qualifier, triggerSrc string
	event                                          []byte
	retryNum                                       int // attempts before this one
	functionErrors, systemErrors                   int
	accepted                                       time.Time
	until                                          time.Time // when its lease expires
}

// loop claims due events while workers are free and sleeps until the next
// one is due, an event is enqueued, or a worker ends.
func (q *Queue) loop() {
	defer q.bg.Done()
	for {
		var next time.Time
		if free := cap(q.slots) - len(q.slots); free > 0 {
			evs, nxt, err := q.claim(q.ctx, free)
			if err != nil {
				if q.ctx.Err() != nil {
					return
				}
				q.log.Error("async: claiming events", "err", err)
				nxt = q.clock.Now().Add(time.Second)
			}
			for _, ev := range evs {
				q.start(ev)
			}
			next = nxt
		}
		var t Timer
		if !next.IsZero() {
			t = q.clock.AfterFunc(next.Sub(q.clock.Now()), q.poke)
		}
		select {
		case <-q.wake:
		case <-q.ctx.Done():
		}
		if t != nil {
			t.Stop()
		}
		if q.ctx.Err() != nil {
			return
		}
	}
}

// claim puts back the events whose lease expired (sweep) and leases up to
// n due events to this Queue. next is when the earliest waiting event left
// is due, zero when none waits or one is due already (a worker ending
// wakes the loop).
func (q *Queue) claim(ctx context.Context, n int) (evs []claimed, next time.Time, err error) {
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	now := q.clock.Now()
	if err := q.sweep(ctx, tx, now, !q.swept); err != nil {
		return nil, time.Time{}, err
	}
	// Each namespace runs at most MaxPerNamespace attempts at once on this
	// Queue: those of namespaces at their bound wait, and others' go
	// first.
	perNS := map[string]int{}
	counts, err := tx.QueryContext(ctx, `SELECT namespace, count(*) FROM async_events WHERE state = $1 AND lease_owner = $2 GROUP BY namespace`,
		stateRunning, q.opts.Replica)
	if err != nil {
		return nil, time.Time{}, err
	}
	for counts.Next() {
		var ns string
		var c int
		if err := counts.Scan(&ns, &c); err != nil {
			counts.Close()
			return nil, time.Time{}, err
		}
		perNS[ns] = c
	}
	counts.Close()
	rows, err := tx.QueryContext(ctx, `SELECT request_id, namespace, function, qualifier, trigger_src, event,
		attempts, function_errors, system_errors, accept_time
		FROM async_events WHERE state = $1 AND next_run <= $2 AND namespace NOT IN
			(SELECT namespace FROM async_events WHERE state = $3 AND lease_owner = $4 GROUP BY namespace HAVING count(*) >= $5)
		ORDER BY next_run LIMIT $6`+q.dialect.lockClaimed,
		statePending, now.UnixNano(), stateRunning, q.opts.Replica, q.opts.MaxPerNamespace, n)
	if err != nil {
		return nil, time.Time{}, err
	}
	skipped := false
	var picked []claimed
	for rows.Next() {
		var ev claimed
		var accepted int64
		if err := rows.Scan(&ev.id, &ev.namespace, &ev.function, &ev.qualifier, &ev.triggerSrc, &ev.event,
			&ev.retryNum, &ev.functionErrors, &ev.systemErrors, &accepted); err != nil {
			rows.Close()
			return nil, time.Time{}, err
		}
		ev.accepted = time.Unix(0, accepted)
		if perNS[ev.namespace] >= q.opts.MaxPerNamespace {
			skipped = true
			continue
		}
		perNS[ev.namespace]++
		picked = append(picked, ev)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, time.Time{}, err
	}
	until := now.Add(q.opts.Lease)
	for _, ev := range picked {
		res, err := tx.ExecContext(ctx, `UPDATE async_events SET state = $1, attempts = attempts + 1, lease_owner = $2, lease_until = $3
			WHERE request_id = $4 AND state = $5`,
			stateRunning, q.opts.Replica, until.UnixNano(), ev.id, statePending)
		if err != nil {
			return nil, time.Time{}, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			continue // claimed by another Queue meanwhile
		}
		ev.until = until
		evs = append(evs, ev)
	}
	var min sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT min(next_run) FROM async_events WHERE state = $1`, statePending).Scan(&min); err != nil {
		return nil, time.Time{}, err
	}
	if err := tx.Commit(); err != nil {
		return nil, time.Time{}, err
	}
	q.swept = true
	switch {
	case skipped:
		// Events of other namespaces may wait behind those skipped: look
		// again at once, without the namespaces now at their bound.
		next = now
	case min.Valid && min.Int64 > now.UnixNano():
		next = time.Unix(0, min.Int64)
	}
	return evs, next, nil
}

// start runs one claimed event in its own goroutine.
func (q *Queue) start(ev claimed) {
	q.slots <- struct{}{}
	ctx, cancel := context.WithCancelCause(context.Background())
	r := &run{id: ev.id, attempt: ev.retryNum + 1, cancel: cancel, until: ev.until}
	q.mu.Lock()
	q.running[ev.id] = r
	q.mu.Unlock()
	q.bg.Add(1)
	go func() {
		defer func() {
			q.mu.Lock()
			if q.running[ev.id] == r {
				delete(q.running, ev.id)
			}
			q.mu.Unlock()
			cancel(nil)
			<-q.slots
			q.poke()
			q.bg.Done()
		}()
		q.attempt(ctx, r, ev)
	}()
}

// attempt runs ev once and records what became of it, under its lease r.
func (q *Queue) attempt(ctx context.Context, r *run, ev claimed) {
	res, err := q.opts.Invoker.Invoke(ctx, invocation.Request{
		Namespace: ev.namespace, Function: ev.function, Qualifier: ev.qualifier, Event: ev.event,
		RetryNum: ev.retryNum, TriggerSrc: ev.triggerSrc, RequestID: ev.id, Async: true,
	})
	// Recording must not fail because the attempt was cancelled.
	rctx := context.WithoutCancel(ctx)
	switch context.Cause(ctx) {
	case errShutdown:
		q.release(rctx, r)
		return
	case errTerminated, errLeaseLost:
		// Terminate has marked it aborted already, or the event is no
		// longer this attempt's.
		return
	}
	out := q.outcome(rctx, ev, res, err)
	switch err := q.record(rctx, r, out); {
	case errors.Is(err, errStale):
		q.log.Info("async: an attempt's outcome was not recorded", "request_id", ev.id, "retry_num", ev.retryNum, "err", err)
	case err != nil:
		q.log.Error("async: recording an attempt", "request_id", ev.id, "err", err)
	}
}

// outcome is what an attempt decided.
type outcome struct {
	state          string
	nextRun        time.Time // when state is pending
	retCode        int
	errMsg         string
	functionErrors int
	systemErrors   int
}

// isFunctionError reports whether code is the function's own failure,
// retried RetryNum times; other codes are retried until the maximum age.
func isFunctionError(code int) bool {
	switch code {
	case invocation.CodeUserError, invocation.CodeTimeout, invocation.CodeMemory, invocation.CodeProcessExit, invocation.CodeResponseTooLarge:
		return true
	}
	return false
}

func (q *Queue) outcome(ctx context.Context, ev claimed, res *invocation.Result, err error) outcome {
	now := q.clock.Now()
	out := outcome{functionErrors: ev.functionErrors, systemErrors: ev.systemErrors}
	switch {
	case err == nil && res.RetCode == invocation.CodeOK:
		out.state = stateFinished
		return out
	case err == nil:
		out.retCode, out.errMsg = res.RetCode, res.ErrMsg
	case errors.Is(err, errdefs.ErrNotFound), errors.Is(err, errdefs.ErrInvalidArgument), errors.Is(err, errdefs.ErrUnsupported):
		// The function was deleted, or can never run this event.
		out.state, out.retCode, out.errMsg = stateFailed, invocation.CodeInternal, errdefs.Message(err, err.Error())
		return out
	default:
		out.retCode, out.errMsg = invocation.CodeInternal, errdefs.Message(err, err.Error())
		if !errors.Is(err, errdefs.ErrFailedPrecondition) && !errors.Is(err, errdefs.ErrUnavailable) {
			q.log.Error("async: running an attempt", "request_id", ev.id, "err", err)
		}
	}
	pol, perr := q.Config(ctx, ev.namespace, ev.function)
	if perr != nil {
		q.log.Error("async: reading the retry policy", "request_id", ev.id, "err", perr)
		pol = q.DefaultPolicy()
	}
	if isFunctionError(out.retCode) {
		out.functionErrors++
		if out.functionErrors > pol.RetryNum || (res != nil && res.NoRetry) {
			out.state = stateFailed
			return out
		}
		out.state, out.nextRun = statePending, now.Add(pol.RetryInterval)
		return out
	}
	out.systemErrors++
	delay := pol.RetryInterval
	for i := 1; i < out.systemErrors && delay < q.opts.MaxBackoff; i++ {
		delay *= 2
	}
	delay = min(delay, q.opts.MaxBackoff)
	if now.Add(delay).After(ev.accepted.Add(pol.MsgTTL)) {
		out.state = stateFailed
		out.errMsg = fmt.Sprintf("the event reached its maximum age of %s; last error: %s", pol.MsgTTL, out.errMsg)
		return out
	}
	out.state, out.nextRun = statePending, now.Add(delay)
	return out
}

// errStale is what record returns when the event is no longer leased to
// the attempt: it was terminated, or claimed by another Queue after the
// lease expired. Nothing was written.
var errStale = errors.New("the event is no longer leased to this attempt")

// record stores the outcome of an attempt under its lease r.
func (q *Queue) record(ctx context.Context, r *run, out outcome) error {
	now := q.clock.Now().UnixNano()
	var end int64
	if out.state != statePending {
		end = now
	}
	res, err := q.db.ExecContext(ctx, `UPDATE async_events SET state = $1, next_run = $2, end_time = $3, ret_code = $4, err_msg = $5,
		function_errors = $6, system_errors = $7, lease_owner = '', lease_until = 0
		WHERE request_id = $8 AND state = $9 AND lease_owner = $10 AND attempts = $11`,
		out.state, out.nextRun.UnixNano(), end, out.retCode, out.errMsg, out.functionErrors, out.systemErrors,
		r.id, stateRunning, q.opts.Replica, r.attempt)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errStale
	}
	return nil
}

// reap deletes ended events past their retention, now and every
// ReapInterval.
func (q *Queue) reap() {
	now := q.clock.Now()
	_, err := q.db.ExecContext(q.ctx, `DELETE FROM async_events WHERE (state IN (?, ?) AND end_time < ?) OR (state = ? AND end_time < ?)`,
		stateFinished, stateAborted, now.Add(-q.opts.Retention).UnixNano(), stateFailed, now.Add(-q.opts.DeadRetention).UnixNano())
	if err != nil && q.ctx.Err() == nil {
		q.log.Error("async: deleting old events", "err", err)
	}
	q.closeMu.Lock()
	defer q.closeMu.Unlock()
	if !q.closed {
		q.reaper = q.clock.AfterFunc(ReapInterval, q.reap)
	}
}
