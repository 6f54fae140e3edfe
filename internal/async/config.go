package async

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/scf"
)

// Policy is a function's retry policy: SCF's AsyncTriggerConfig, plus
// the interval between retries.
type Policy struct {
	// RetryNum is how many times a function error is retried (0 to
	// MaxRetryNum).
	RetryNum int
	// MsgTTL is the maximum age of an event (MinMsgTTL to MaxMsgTTL):
	// system errors are retried until it passes.
	MsgTTL time.Duration
	// RetryInterval is the wait before a retry (the first step of the
	// backoff of system errors); zero when set means the queue's default.
	RetryInterval time.Duration
}

// DefaultPolicy is the policy of functions that have not set one.
func (q *Queue) DefaultPolicy() Policy {
	return Policy{RetryNum: DefaultRetryNum, MsgTTL: DefaultMsgTTL, RetryInterval: q.opts.RetryInterval}
}

// Config returns the retry policy of namespace/function.
func (q *Queue) Config(ctx context.Context, namespace, function string) (Policy, error) {
	var p Policy
	var ttl, interval int64
	err := q.db.QueryRowContext(ctx, `SELECT retry_num, msg_ttl, retry_interval FROM async_configs WHERE namespace = ? AND function = ?`,
		namespace, function).Scan(&p.RetryNum, &ttl, &interval)
	if errors.Is(err, sql.ErrNoRows) {
		return q.DefaultPolicy(), nil
	}
	if err != nil {
		return Policy{}, fmt.Errorf("async: reading the policy of %s/%s: %w", namespace, function, err)
	}
	p.MsgTTL = time.Duration(ttl)
	p.RetryInterval = time.Duration(interval)
	if p.RetryInterval <= 0 {
		p.RetryInterval = q.opts.RetryInterval
	}
	return p, nil
}

// ValidatePolicy checks the bounds of p.
func ValidatePolicy(p Policy) error {
	if p.RetryNum < 0 || p.RetryNum > MaxRetryNum {
		return errdefs.New(errdefs.ErrResourceExhausted, "RetryNum", "RetryNum %d is invalid: use 0 to %d", p.RetryNum, MaxRetryNum)
	}
	if p.MsgTTL < MinMsgTTL || p.MsgTTL > MaxMsgTTL {
		return errdefs.New(errdefs.ErrResourceExhausted, "MsgTTL", "MsgTTL %d is invalid: use %d to %d seconds",
			int64(p.MsgTTL/time.Second), int64(MinMsgTTL/time.Second), int64(MaxMsgTTL/time.Second))
	}
	if p.RetryInterval < 0 || p.RetryInterval > MaxMsgTTL {
		return errdefs.Invalid("AsyncTriggerConfig", "RetryInterval %s is invalid", p.RetryInterval)
	}
	return nil
}

// SetConfig sets the retry policy of namespace/function. The function
// must exist. The policy applies to the next attempts of queued events.
func (q *Queue) SetConfig(ctx context.Context, namespace, function string, p Policy) error {
	if err := ValidatePolicy(p); err != nil {
		return err
	}
	if _, err := q.opts.Functions.GetFunction(ctx, namespace, function, scf.Latest); err != nil {
		return err
	}
	_, err := q.db.ExecContext(ctx, `INSERT INTO async_configs (namespace, function, retry_num, msg_ttl, retry_interval)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (namespace, function) DO UPDATE SET
		retry_num = excluded.retry_num, msg_ttl = excluded.msg_ttl, retry_interval = excluded.retry_interval`,
		namespace, function, p.RetryNum, int64(p.MsgTTL), int64(p.RetryInterval))
	if err != nil {
		return fmt.Errorf("async: setting the policy of %s/%s: %w", namespace, function, err)
	}
	return nil
}

// Forget deletes a deleted function's retry policy, so that a new function
// of the same name starts from the defaults. Its events stay: those not yet
// run end as dead letters, its function being gone.
func (q *Queue) Forget(ctx context.Context, namespace, function string) error {
	if _, err := q.db.ExecContext(ctx, `DELETE FROM async_configs WHERE namespace = ? AND function = ?`, namespace, function); err != nil {
		return fmt.Errorf("async: forgetting the policy of %s/%s: %w", namespace, function, err)
	}
	return nil
}
