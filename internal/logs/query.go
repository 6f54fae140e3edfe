package logs

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/sandbox"
)

// RetCodeFilter is GetFunctionLogs' Filter.RetCode.
type RetCodeFilter string

// The filters. Each names the status codes it matches.
const (
	All                   RetCodeFilter = ""
	Succeeded             RetCodeFilter = "is0"                   // RetCode 0
	Failed                RetCodeFilter = "not0"                  // any other RetCode
	TimeLimitExceeded     RetCodeFilter = "TimeLimitExceeded"     // 433
	ResourceLimitExceeded RetCodeFilter = "ResourceLimitExceeded" // 406, 407, 432, 434
	UserCodeException     RetCodeFilter = "UserCodeException"     // 405, 430, 439, 443, 445, 446
)

var filterCodes = map[RetCodeFilter][]int{
	TimeLimitExceeded:     {433},
	ResourceLimitExceeded: {406, 407, 432, 434},
	UserCodeException:     {405, 430, 439, 443, 445, 446},
}

// Query limits.
const (
	DefaultLimit = 10
	MaxWindow    = 24 * time.Hour // the widest StartTime..EndTime
	MaxOffset    = 10000          // Offset+Limit may not pass it
)

// Query selects entries. The zero value selects the last 24 hours of
// every function, newest first, 10 at a time.
type Query struct {
	Namespace string   // empty: every namespace
	Function  string   // empty: every function
	Versions  []string // the versions that ran; empty: every version
	RequestID string   // empty: every request; when set, no default time window applies
	RetCode   RetCodeFilter
	// Start and End bound StartTime (both inclusive). When both are zero
	// and RequestID is empty, the window is the last MaxWindow; when one
	// is zero it is MaxWindow from the other. They may be at most
	// MaxWindow apart.
	Start, End time.Time
	Offset     int
	Limit      int    // 0 means DefaultLimit
	OrderBy    string // function_name, duration, mem_usage or start_time (default)
	Order      string // desc (default) or asc
}

var orderColumns = map[string]string{
	"":              "start_time",
	"start_time":    "start_time",
	"function_name": "function",
	"duration":      "duration",
	"mem_usage":     "mem_usage",
}

// Query returns the entries matching q, in order, and how many match in
// all. It sees every entry Put before it was called.
func (s *Store) Query(ctx context.Context, q Query) ([]Entry, int, error) {
	col, ok := orderColumns[q.OrderBy]
	if !ok {
		return nil, 0, errdefs.Invalid("OrderBy", "OrderBy %q is invalid: use function_name, duration, mem_usage or start_time", q.OrderBy)
	}
	order := strings.ToLower(q.Order)
	switch order {
	case "":
		order = "desc"
	case "asc", "desc":
	default:
		return nil, 0, errdefs.Invalid("Order", "Order %q is invalid: use desc or asc", q.Order)
	}
	if q.Limit == 0 {
		q.Limit = DefaultLimit
	}
	if q.Offset < 0 {
		return nil, 0, errdefs.Invalid("Offset", "Offset %d is invalid: it must not be negative", q.Offset)
	}
	if q.Limit < 0 {
		return nil, 0, errdefs.Invalid("Limit", "Limit %d is invalid: it must not be negative", q.Limit)
	}
	if q.Offset+q.Limit > MaxOffset {
		return nil, 0, errdefs.New(errdefs.ErrResourceExhausted, "Offset", "Offset+Limit is %d: it may be at most %d", q.Offset+q.Limit, MaxOffset)
	}
	var where []string
	var args []any
	add := func(cond string, a ...any) {
		where = append(where, cond)
		args = append(args, a...)
	}
	for _, f := range []struct{ col, v string }{
		{"namespace", q.Namespace}, {"function", q.Function}, {"request_id", q.RequestID},
	} {
		if f.v != "" {
			add(f.col+" = ?", f.v)
		}
	}
	if len(q.Versions) > 0 {
		cond := "qualifier IN (" + strings.TrimSuffix(strings.Repeat("?,", len(q.Versions)), ",") + ")"
		for _, v := range q.Versions {
			args = append(args, v)
		}
		where = append(where, cond)
	}
	switch q.RetCode {
	case All:
	case Succeeded:
		add("ret_code = 0")
	case Failed:
		add("ret_code != 0")
	default:
		codes, ok := filterCodes[q.RetCode]
		if !ok {
			return nil, 0, errdefs.Invalid("RetCode", "Filter.RetCode %q is invalid: use is0, not0, TimeLimitExceeded, ResourceLimitExceeded or UserCodeException", q.RetCode)
		}
		marks := strings.TrimSuffix(strings.Repeat("?,", len(codes)), ",")
		cond := "ret_code IN (" + marks + ")"
		for _, c := range codes {
			args = append(args, c)
		}
		where = append(where, cond)
	}
	start, end := q.Start, q.End
	switch {
	case start.IsZero() && end.IsZero():
		if q.RequestID == "" {
			end = s.now()
			start = end.Add(-MaxWindow)
		}
	case start.IsZero():
		start = end.Add(-MaxWindow)
	case end.IsZero():
		end = start.Add(MaxWindow)
	}
	if !start.IsZero() {
		if end.Before(start) {
			return nil, 0, errdefs.Invalid("StartTimeOrEndTime", "EndTime is before StartTime")
		}
		if end.Sub(start) > MaxWindow {
			return nil, 0, errdefs.Invalid("StartTimeOrEndTime", "StartTime and EndTime may be at most one day apart")
		}
		add("start_time BETWEEN ? AND ?", start.UnixNano(), end.UnixNano())
	}
	if err := s.Sync(ctx); err != nil {
		return nil, 0, err
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM invocation_logs`+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("logs: count: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT request_id, retry_num, namespace, function, qualifier, start_time,
		ret_code, ret_msg, duration, bill_duration, mem_usage, log, invoke_finished, truncated,
		http_method, http_path, http_status
		FROM invocation_logs`+cond+` ORDER BY `+col+` `+order+`, start_time `+order+`, request_id LIMIT ? OFFSET ?`,
		append(args, q.Limit, q.Offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("logs: query: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		var e Entry
		var startNs int64
		if err := rows.Scan(&e.RequestID, &e.RetryNum, &e.Namespace, &e.Function, &e.Qualifier, &startNs,
			&e.RetCode, &e.RetMsg, &e.Duration, &e.BillDuration, &e.MemUsage, &e.Log, &e.InvokeFinished, &e.Truncated,
			&e.HTTPMethod, &e.HTTPPath, &e.HTTPStatus); err != nil {
			return nil, 0, fmt.Errorf("logs: query: %w", err)
		}
		e.StartTime = time.Unix(0, startNs)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("logs: query: %w", err)
	}
	return out, total, nil
}

// InstanceQuery selects instance lines of one function.
type InstanceQuery struct {
	Namespace string
	Function  string
	Since     time.Time // lines at or after it; zero means the last MaxWindow
	Limit     int       // 0 means 1000
}

// InstanceLines returns the lines instances of a function printed outside
// invocations, oldest first.
func (s *Store) InstanceLines(ctx context.Context, q InstanceQuery) ([]InstanceLine, error) {
	if q.Limit <= 0 {
		q.Limit = 1000
	}
	if q.Since.IsZero() {
		q.Since = s.now().Add(-MaxWindow)
	}
	if err := s.Sync(ctx); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT namespace, function, qualifier, instance, time, stream, text
		FROM instance_logs WHERE namespace = ? AND function = ? AND time >= ? ORDER BY time, id LIMIT ?`,
		q.Namespace, q.Function, q.Since.UnixNano(), q.Limit)
	if err != nil {
		return nil, fmt.Errorf("logs: instance lines: %w", err)
	}
	defer rows.Close()
	var out []InstanceLine
	for rows.Next() {
		var l InstanceLine
		var ns int64
		var stream string
		if err := rows.Scan(&l.Namespace, &l.Function, &l.Qualifier, &l.Instance, &ns, &stream, &l.Text); err != nil {
			return nil, fmt.Errorf("logs: instance lines: %w", err)
		}
		l.Time, l.Stream = time.Unix(0, ns), sandbox.Stream(stream)
		out = append(out, l)
	}
	return out, rows.Err()
}
