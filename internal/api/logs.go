package api

import (
	"context"
	"time"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/logs"
)

// LogQuery reads invocation logs; *logs.Store has it.
type LogQuery interface {
	Query(ctx context.Context, q logs.Query) ([]logs.Entry, int, error)
	// Running returns the invocation of a request id that began and has
	// no entry yet.
	Running(requestID string) (logs.Entry, bool)
}

// LogFilter is GetFunctionLogs' Filter.
type LogFilter struct {
	RetCode string // is0, not0, TimeLimitExceeded, ResourceLimitExceeded, UserCodeException
}

// LogSearchContext is a disused field, echoed empty.
type LogSearchContext struct {
	Offset  string
	Limit   int64
	Keyword string
	Type    string
}

// GetFunctionLogsRequest is GetFunctionLogs' input.
type GetFunctionLogsRequest struct {
	FunctionName      string
	Offset            int64
	Limit             int64
	Order             string // desc (default) or asc
	OrderBy           string // function_name, duration, mem_usage, start_time (default)
	Filter            *LogFilter
	Namespace         string
	Qualifier         string
	FunctionRequestId string
	StartTime         string // "2006-01-02 15:04:05"
	EndTime           string
}

// FunctionLog is one invocation's log.
type FunctionLog struct {
	FunctionName   string
	RetMsg         string
	RequestId      string
	StartTime      string
	RetCode        int64
	InvokeFinished int64
	Duration       float64
	BillDuration   int64
	MemUsage       int64
	Log            string
	Level          string
	Source         string
	RetryNum       int64
	// HTTPMethod, HTTPPath and HTTPStatus (scfd's own) describe a web
	// function's request; empty for events.
	HTTPMethod string `json:",omitempty"`
	HTTPPath   string `json:",omitempty"`
	HTTPStatus int64  `json:",omitempty"`
}

// GetFunctionLogsResponse is GetFunctionLogs' output.
type GetFunctionLogsResponse struct {
	TotalCount    int64
	Data          []FunctionLog
	SearchContext *LogSearchContext
}

func (s *Server) getFunctionLogs(ctx context.Context, call *Call, ns string, req *GetFunctionLogsRequest) (any, error) {
	query := logs.Query{
		Namespace: ns, Function: req.FunctionName, RequestID: req.FunctionRequestId,
		Offset: int(req.Offset), Limit: int(req.Limit), OrderBy: req.OrderBy, Order: req.Order,
	}
	if req.Filter != nil {
		query.RetCode = logs.RetCodeFilter(req.Filter.RetCode)
	}
	var err error
	if query.Start, err = s.parseTime("StartTime", req.StartTime); err != nil {
		return nil, err
	}
	if query.End, err = s.parseTime("EndTime", req.EndTime); err != nil {
		return nil, err
	}
	if req.Qualifier != "" {
		// A version, or an alias: the logs of the versions it routes to.
		if query.Versions, err = s.versionsOf(ctx, ns, req.FunctionName, req.Qualifier); err != nil {
			return nil, err
		}
	}
	entries, total, err := s.opts.Logs.Query(ctx, query)
	if err != nil {
		return nil, err
	}
	out := GetFunctionLogsResponse{TotalCount: int64(total), Data: []FunctionLog{}}
	for _, e := range entries {
		out.Data = append(out.Data, FunctionLog{
			FunctionName: e.Function, RetMsg: e.RetMsg, RequestId: e.RequestID,
			StartTime: e.StartTime.In(s.opts.Location).Format(time.DateTime),
			RetCode:   int64(e.RetCode), InvokeFinished: int64(e.InvokeFinished), Duration: e.Duration,
			BillDuration: e.BillDuration, MemUsage: e.MemUsage, Log: e.Log, RetryNum: int64(e.RetryNum),
			HTTPMethod: e.HTTPMethod, HTTPPath: e.HTTPPath, HTTPStatus: int64(e.HTTPStatus),
		})
	}
	return out, nil
}

// parseTime reads a "2006-01-02 15:04:05" time in the server's zone; ""
// is the zero time. A malformed one is InvalidParameterValue.DateTime.
func (s *Server) parseTime(field, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.ParseInLocation(time.DateTime, v, s.opts.Location)
	if err != nil {
		return time.Time{}, errdefs.Invalid("DateTime", "%s %q is invalid: use the form 2017-05-16 20:00:00", field, v)
	}
	return t, nil
}
