package async

import (
	"context"
	"database/sql"
	"time"
)

// Leases. A claim sets an event's lease_owner to the claiming Queue's
// Replica and lease_until to the claim time plus Lease, and counts the
// attempt (attempts + 1): the pair (lease_owner, attempts) names the claim.
// Every write that ends or gives back an attempt names its claim in its
// WHERE clause, so a Queue that lost a lease (the event was terminated, or
// claimed again after the lease expired) changes nothing. Every Lease/3
// the Queue renews the leases of its running attempts, one statement each;
// an attempt whose lease is no longer its own is cancelled. Claims look
// for expired leases first (sweep) and put those events back in the queue.

// run is one attempt in flight on this Queue.
type run struct {
	id      string
	attempt int // the attempts count of its claim
	cancel  context.CancelCauseFunc
	until   time.Time // when its lease expires, as last renewed
}

// dialect is the SQL that differs between the databases a Store may run
// on.
type dialect struct {
	// lockClaimed ends the query that picks the events to claim. SQLite:
	// nothing, as the claim runs in a write transaction (the store begins
	// every transaction IMMEDIATE) and SQLite has one writer, so no other
	// Queue claims the rows it read. PostgreSQL: FOR UPDATE SKIP LOCKED,
	// so that Queues claiming at once take different events instead of
	// waiting for each other's rows (the claim's UPDATE checks the state
	// again, so that waiting would be safe, only slower).
	lockClaimed string
}

var (
	sqliteDialect   = dialect{}
	postgresDialect = dialect{lockClaimed: " FOR UPDATE SKIP LOCKED"}
)

// dialectOf is the dialect of the database the store names.
func dialectOf(name string) dialect {
	if name == "postgres" {
		return postgresDialect
	}
	return sqliteDialect
}

// heartbeat renews the leases of the running attempts and wakes the
// dispatcher, so that it claims events other Queues queued or left
// behind; then it arms itself again, Lease/3 later.
func (q *Queue) heartbeat() {
	q.renew(q.ctx)
	q.poke()
	q.closeMu.Lock()
	defer q.closeMu.Unlock()
	if !q.closed {
		q.beat = q.clock.AfterFunc(q.opts.Lease/3, q.heartbeat)
	}
}

// renew extends the lease of each running attempt. An attempt whose
// event is no longer running under its claim (terminated, possibly from
// another replica, or claimed by another Queue after its lease expired) is
// cancelled; so is every attempt whose lease expired while the database
// could not be reached.
func (q *Queue) renew(ctx context.Context) {
	q.mu.Lock()
	runs := make([]*run, 0, len(q.running))
	for _, r := range q.running {
		runs = append(runs, r)
	}
	q.mu.Unlock()
	if len(runs) == 0 {
		return
	}
	now := q.clock.Now()
	until := now.Add(q.opts.Lease)
	lost, err := q.renewRuns(ctx, runs, until)
	if err != nil {
		if ctx.Err() == nil {
			q.log.Error("async: renewing leases", "err", err)
		}
		for _, r := range runs {
			if !r.until.After(now) {
				lost = append(lost, r)
			}
		}
	}
	for _, r := range lost {
		r.cancel(errLeaseLost)
	}
}

// renewRuns sets the leases of runs to until, in one transaction, and
// returns those that are no longer leased to them.
func (q *Queue) renewRuns(ctx context.Context, runs []*run, until time.Time) (lost []*run, err error) {
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	var renewed []*run
	for _, r := range runs {
		res, err := tx.ExecContext(ctx, `UPDATE async_events SET lease_until = $1
			WHERE request_id = $2 AND state = $3 AND lease_owner = $4 AND attempts = $5`,
			until.UnixNano(), r.id, stateRunning, q.opts.Replica, r.attempt)
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			lost = append(lost, r)
		} else {
			renewed = append(renewed, r)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	q.mu.Lock()
	for _, r := range renewed {
		r.until = until
	}
	q.mu.Unlock()
	return lost, nil
}

// sweep, in a claim's transaction, puts back in the queue the running
// events whose lease has expired and, when own is set (the first claim
// after Open), those leased to this Queue's Replica, left by an earlier
// process of the same name. Only the first claim takes those back before
// their lease expires, so that two processes given one name by mistake
// do not keep taking each other's events. The interrupted attempts stay
// counted.
func (q *Queue) sweep(ctx context.Context, tx *sql.Tx, now time.Time, own bool) error {
	owner := ""
	if own {
		owner = q.opts.Replica
	}
	rows, err := tx.QueryContext(ctx, `SELECT request_id, lease_owner, lease_until FROM async_events
		WHERE state = $1 AND (lease_until <= $2 OR lease_owner = $3)`, stateRunning, now.UnixNano(), owner)
	if err != nil {
		return err
	}
	var stale []string
	for rows.Next() {
		var id, owner string
		var until int64
		if err := rows.Scan(&id, &owner, &until); err != nil {
			rows.Close()
			return err
		}
		if owner == q.opts.Replica && q.inFlight(id) {
			continue // ours, running here: renewed by the heartbeat
		}
		stale = append(stale, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range stale {
		if _, err := tx.ExecContext(ctx, `UPDATE async_events SET state = $1, next_run = $2, lease_owner = '', lease_until = 0
			WHERE request_id = $3 AND state = $4`, statePending, now.UnixNano(), id, stateRunning); err != nil {
			return err
		}
	}
	if len(stale) > 0 {
		q.log.Info("async: requeued events whose replica stopped running them", "events", len(stale))
	}
	return nil
}

// inFlight tells whether an attempt of event id runs on this Queue.
func (q *Queue) inFlight(id string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.running[id] != nil
}

// release gives back the event of an attempt stopped by a shutdown: it is
// due at once, for any Queue. Nothing changes unless the event is still
// leased to r.
func (q *Queue) release(ctx context.Context, r *run) {
	_, err := q.db.ExecContext(ctx, `UPDATE async_events SET state = $1, next_run = $2, lease_owner = '', lease_until = 0
		WHERE request_id = $3 AND state = $4 AND lease_owner = $5 AND attempts = $6`,
		statePending, q.clock.Now().UnixNano(), r.id, stateRunning, q.opts.Replica, r.attempt)
	if err != nil {
		q.log.Error("async: giving back an event", "request_id", r.id, "err", err)
	}
}
