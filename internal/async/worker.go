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

// claim marks up to n due events running. next is when the earliest
// waiting event left is due, zero when none waits or one is due already
// (a worker ending wakes the loop).
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
	// Each namespace runs at most MaxPerNamespace attempts at once: those
	// of namespaces at their bound wait, and others' go first.
	perNS := map[string]int{}
	counts, err := tx.QueryContext(ctx, `SELECT namespace, count(*) FROM async_events WHERE state = ? GROUP BY namespace`, stateRunning)
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
		FROM async_events WHERE state = ? AND next_run <= ? AND namespace NOT IN
			(SELECT namespace FROM async_events WHERE state = ? GROUP BY namespace HAVING count(*) >= ?)
		ORDER BY next_run LIMIT ?`,
		statePending, now.UnixNano(), stateRunning, q.opts.MaxPerNamespace, n)
	if err != nil {
		return nil, time.Time{}, err
	}
	skipped := false
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
		evs = append(evs, ev)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, time.Time{}, err
	}
	for _, ev := range evs {
		if _, err := tx.ExecContext(ctx, `UPDATE async_events SET state = ?, attempts = attempts + 1 WHERE request_id = ?`,
			stateRunning, ev.id); err != nil {
			return nil, time.Time{}, err
		}
	}
	var min sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT min(next_run) FROM async_events WHERE state = ?`, statePending).Scan(&min); err != nil {
		return nil, time.Time{}, err
	}
	if err := tx.Commit(); err != nil {
		return nil, time.Time{}, err
	}
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
	q.mu.Lock()
	q.running[ev.id] = cancel
	q.mu.Unlock()
	q.bg.Add(1)
	go func() {
		defer func() {
			q.mu.Lock()
			delete(q.running, ev.id)
			q.mu.Unlock()
			cancel(nil)
			<-q.slots
			q.poke()
			q.bg.Done()
		}()
		q.attempt(ctx, ev)
	}()
}

// attempt runs ev once and records what became of it.
func (q *Queue) attempt(ctx context.Context, ev claimed) {
	res, err := q.opts.Invoker.Invoke(ctx, invocation.Request{
		Namespace: ev.namespace, Function: ev.function, Qualifier: ev.qualifier, Event: ev.event,
		RetryNum: ev.retryNum, TriggerSrc: ev.triggerSrc, RequestID: ev.id, Async: true,
	})
	// Recording must not fail because the attempt was cancelled.
	rctx := context.WithoutCancel(ctx)
	switch context.Cause(ctx) {
	case errShutdown:
		q.setState(rctx, ev.id, stateRunning, statePending, q.clock.Now(), 0, "")
		return
	case errTerminated:
		// Terminate has marked it aborted already.
		return
	}
	out := q.outcome(rctx, ev, res, err)
	if err := q.record(rctx, ev.id, out); err != nil {
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

// record stores the outcome of an attempt, unless the event was
// terminated meanwhile.
func (q *Queue) record(ctx context.Context, id string, out outcome) error {
	now := q.clock.Now().UnixNano()
	var end int64
	if out.state != statePending {
		end = now
	}
	_, err := q.db.ExecContext(ctx, `UPDATE async_events SET state = ?, next_run = ?, end_time = ?, ret_code = ?, err_msg = ?,
		function_errors = ?, system_errors = ? WHERE request_id = ? AND state = ?`,
		out.state, out.nextRun.UnixNano(), end, out.retCode, out.errMsg, out.functionErrors, out.systemErrors, id, stateRunning)
	return err
}

// setState moves an event from one state to another.
func (q *Queue) setState(ctx context.Context, id, from, to string, nextRun time.Time, end int64, errMsg string) {
	_, err := q.db.ExecContext(ctx, `UPDATE async_events SET state = ?, next_run = ?, end_time = ?, err_msg = ? WHERE request_id = ? AND state = ?`,
		to, nextRun.UnixNano(), end, errMsg, id, from)
	if err != nil {
		q.log.Error("async: updating an event", "request_id", id, "err", err)
	}
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
