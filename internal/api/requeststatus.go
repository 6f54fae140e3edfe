package api

import (
	"context"
	"errors"
	"time"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/logs"
	"github.com/scfd/scfd/internal/scf"
)

// requestStatusWindow is how far back GetRequestStatus looks when the
// request names no StartTime, as SCF documents.
const requestStatusWindow = 15 * time.Minute

// The RetCode values of GetRequestStatus.
const (
	requestSucceeded = 0
	requestRunning   = 1
	requestFailed    = -1
)

// GetRequestStatusRequest is GetRequestStatus' input.
type GetRequestStatusRequest struct {
	FunctionName      string
	FunctionRequestId string
	Namespace         string `json:",omitempty"`
	StartTime         string `json:",omitempty"` // default: EndTime minus 15 minutes
	EndTime           string `json:",omitempty"` // default now; required with StartTime
}

// RequestStatus is the state of one request.
type RequestStatus struct {
	FunctionName string
	RetMsg       string
	RequestId    string
	StartTime    string
	RetCode      int64   // 0 succeeded, 1 running, -1 failed
	Duration     float64 // ms
	MemUsage     float64 // MB
	RetryNum     int64
}

// GetRequestStatusResponse is GetRequestStatus' output: one request, or
// none when the request is unknown in the time range.
type GetRequestStatusResponse struct {
	TotalCount int64
	Data       []RequestStatus
}

func (r GetRequestStatusRequest) names() (string, string) { return r.Namespace, r.FunctionName }

// getRequestStatus answers GetRequestStatus for a synchronous invocation,
// an asynchronous event or a web request: running while an attempt runs
// or an async event waits for its next one, else the result of its last
// attempt.
func (s *Server) getRequestStatus(ctx context.Context, call *Call, ns string, req *GetRequestStatusRequest) (any, error) {
	if req.FunctionRequestId == "" {
		return nil, errdefs.New(errdefs.ErrMissingParameter, "FunctionRequestId", "FunctionRequestId is required")
	}
	start, end, err := s.requestStatusWindow(req.StartTime, req.EndTime)
	if err != nil {
		return nil, err
	}
	if _, err := s.opts.Store.GetFunction(ctx, ns, req.FunctionName, scf.Latest); err != nil {
		return nil, err
	}
	ours := func(namespace, function string) bool { return namespace == ns && function == req.FunctionName }
	inRange := func(t time.Time) bool { return !t.Before(start) && !t.After(end) }

	var st *RequestStatus
	// Running first: an invocation it no longer reports is in the logs
	// the Query below reads.
	if e, ok := s.opts.Logs.Running(req.FunctionRequestId); ok && ours(e.Namespace, e.Function) && inRange(e.StartTime) {
		st = &RequestStatus{StartTime: s.formatTime(e.StartTime), RetCode: requestRunning, RetryNum: int64(e.RetryNum)}
	} else {
		entries, _, err := s.opts.Logs.Query(ctx, logs.Query{
			Namespace: ns, Function: req.FunctionName, RequestID: req.FunctionRequestId,
			Start: start, End: end, Limit: 100,
		})
		if err != nil {
			return nil, err
		}
		if len(entries) > 0 {
			last := entries[0]
			for _, e := range entries {
				if e.RetryNum > last.RetryNum {
					last = e
				}
			}
			code := int64(requestSucceeded)
			if last.RetCode != 0 {
				code = requestFailed
			}
			st = &RequestStatus{
				RetMsg: last.RetMsg, StartTime: s.formatTime(last.StartTime), RetCode: code,
				Duration: last.Duration, MemUsage: float64(last.MemUsage) / (1 << 20), RetryNum: int64(last.RetryNum),
			}
		}
	}
	// An async event between attempts, or not yet started, is running.
	if q := s.opts.Async; q != nil {
		if ev, err := q.Get(ctx, req.FunctionRequestId); err == nil && ours(ev.Namespace, ev.Function) && ev.Status == "RUNNING" {
			if st == nil && inRange(ev.StartTime) {
				st = &RequestStatus{StartTime: s.formatTime(ev.StartTime)}
			}
			if st != nil {
				st.RetCode = requestRunning
			}
		} else if err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			return nil, err
		}
	}
	resp := GetRequestStatusResponse{Data: []RequestStatus{}}
	if st != nil {
		st.FunctionName, st.RequestId = req.FunctionName, req.FunctionRequestId
		resp.Data = append(resp.Data, *st)
		resp.TotalCount = 1
	}
	return resp, nil
}

// requestStatusWindow reads GetRequestStatus' time range: EndTime
// defaults to now, StartTime to 15 minutes before EndTime, and a
// StartTime needs an EndTime after it.
func (s *Server) requestStatusWindow(startTime, endTime string) (start, end time.Time, err error) {
	if start, err = s.parseTime("StartTime", startTime); err != nil {
		return start, end, err
	}
	if end, err = s.parseTime("EndTime", endTime); err != nil {
		return start, end, err
	}
	switch {
	case !start.IsZero() && end.IsZero():
		return start, end, errdefs.Invalid("StartTimeOrEndTime", "EndTime is required with StartTime")
	case end.IsZero():
		end = s.now()
	}
	if start.IsZero() {
		start = end.Add(-requestStatusWindow)
	}
	if !end.After(start) {
		return start, end, errdefs.Invalid("StartTimeOrEndTime", "EndTime must be later than StartTime")
	}
	return start, end, nil
}
