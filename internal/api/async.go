package api

import (
	"context"
	"time"

	"github.com/scfd/scfd/internal/async"
	"github.com/scfd/scfd/internal/errdefs"
)

// AsyncEvents is what the API needs of the asynchronous queue;
// *async.Queue has it.
type AsyncEvents interface {
	Get(ctx context.Context, requestID string) (async.Event, error)
	List(ctx context.Context, q async.Query) ([]async.Event, int, error)
	Terminate(ctx context.Context, namespace, function, requestID string) error
	Retry(ctx context.Context, requestID string) error
	Config(ctx context.Context, namespace, function string) (async.Policy, error)
	SetConfig(ctx context.Context, namespace, function string, p async.Policy) error
}

// TimeInterval bounds a time: Start and End in "2006-01-02 15:04:05".
type TimeInterval struct {
	Start string
	End   string
}

// ListAsyncEventsRequest is ListAsyncEvents' input. scfd lists the events
// of every function of the namespace when FunctionName is empty.
type ListAsyncEventsRequest struct {
	FunctionName      string
	Namespace         string
	Qualifier         string
	InvokeType        []string
	Status            []string // RUNNING, FINISHED, ABORTED, FAILED
	StartTimeInterval *TimeInterval
	EndTimeInterval   *TimeInterval
	Order             string // ASC or DESC (default)
	Orderby           string // StartTime (default) or EndTime
	Offset            int64
	Limit             int64 // default 20, at most 100
	InvokeRequestId   string
}

// AsyncEvent is one event of ListAsyncEvents. The fields after EndTime
// are scfd's additions.
type AsyncEvent struct {
	InvokeRequestId string
	InvokeType      string
	Qualifier       string
	Status          string
	StartTime       string
	EndTime         string
	FunctionName    string
	Namespace       string
	StatusCode      int64  // see AsyncEventStatus
	ErrMsg          string // the last failed attempt's error
	Attempts        int64
}

// ListAsyncEventsResponse is ListAsyncEvents' output.
type ListAsyncEventsResponse struct {
	TotalCount int64
	EventList  []AsyncEvent
}

// GetAsyncEventStatusRequest is GetAsyncEventStatus' input.
type GetAsyncEventStatusRequest struct {
	InvokeRequestId string
}

// AsyncEventStatus is GetAsyncEventStatus' Result. StatusCode is 200 when
// FINISHED, 499 when ABORTED, else the SCF status code of the last failed
// attempt (0 while the first attempt has not ended).
type AsyncEventStatus struct {
	Status          string
	StatusCode      int64
	InvokeRequestId string
}

// GetAsyncEventStatusResponse is GetAsyncEventStatus' output.
type GetAsyncEventStatusResponse struct {
	Result AsyncEventStatus
}

// TerminateAsyncEventRequest is TerminateAsyncEvent's input.
// GraceShutdown is accepted; scfd ends the attempt at once either way.
type TerminateAsyncEventRequest struct {
	FunctionName    string
	InvokeRequestId string
	Namespace       string
	GraceShutdown   bool
}

// RetryAsyncEventRequest is the input of RetryAsyncEvent, an scfd action
// that puts an ended event (a dead letter) back in the queue.
type RetryAsyncEventRequest struct {
	InvokeRequestId string
}

// RetryConfig is one retry setting. RetryInterval (seconds) is scfd's
// addition; zero means the server's default (60).
type RetryConfig struct {
	RetryNum      int64
	RetryInterval int64 `json:",omitempty"`
}

// AsyncTriggerConfig is a function's asynchronous retry policy. MsgTTL is
// the maximum age of an event in seconds (60 to 86400, default 21600).
type AsyncTriggerConfig struct {
	RetryConfig []RetryConfig
	MsgTTL      int64
}

// UpdateFunctionEventInvokeConfigRequest is its action's input.
type UpdateFunctionEventInvokeConfigRequest struct {
	AsyncTriggerConfig *AsyncTriggerConfig
	FunctionName       string
	Namespace          string
}

// GetFunctionEventInvokeConfigRequest is its action's input.
type GetFunctionEventInvokeConfigRequest struct {
	FunctionName string
	Namespace    string
	Qualifier    string
}

// GetFunctionEventInvokeConfigResponse is its action's output.
type GetFunctionEventInvokeConfigResponse struct {
	AsyncTriggerConfig AsyncTriggerConfig
}

func (s *Server) listAsyncEvents(ctx context.Context, call *Call, ns string, req *ListAsyncEventsRequest) (any, error) {
	lq := async.Query{
		Namespace: ns, Function: req.FunctionName, Qualifier: req.Qualifier, InvokeTypes: req.InvokeType,
		Statuses: req.Status, RequestID: req.InvokeRequestId, OrderBy: req.Orderby,
		Offset: int(req.Offset), Limit: int(req.Limit),
	}
	switch req.Order {
	case "", "DESC", "desc":
	case "ASC", "asc":
		lq.Ascending = true
	default:
		return nil, errdefs.Invalid("Order", "Order %q is invalid: use ASC or DESC", req.Order)
	}
	if req.Limit < 0 || req.Limit > 100 || req.Offset < 0 {
		return nil, errdefs.Invalid("Limit", "Limit must be 0 to 100 and Offset not negative")
	}
	var err error
	if lq.StartFrom, lq.StartTo, err = s.interval("StartTimeInterval", req.StartTimeInterval); err != nil {
		return nil, err
	}
	if lq.EndFrom, lq.EndTo, err = s.interval("EndTimeInterval", req.EndTimeInterval); err != nil {
		return nil, err
	}
	evs, total, err := s.opts.Async.List(ctx, lq)
	if err != nil {
		return nil, err
	}
	out := ListAsyncEventsResponse{TotalCount: int64(total), EventList: []AsyncEvent{}}
	for _, e := range evs {
		out.EventList = append(out.EventList, AsyncEvent{
			InvokeRequestId: e.RequestID, InvokeType: e.InvokeType, Qualifier: e.Qualifier, Status: e.Status,
			StartTime: s.formatTime(e.StartTime), EndTime: s.formatTime(e.EndTime),
			FunctionName: e.Function, Namespace: e.Namespace, StatusCode: int64(e.StatusCode),
			ErrMsg: e.ErrMsg, Attempts: int64(e.Attempts),
		})
	}
	return out, nil
}

func (s *Server) getAsyncEventStatus(ctx context.Context, call *Call, req *GetAsyncEventStatusRequest) (any, error) {
	e, err := eventOf(ctx, call, s.opts.Async, req.InvokeRequestId)
	if err != nil {
		return nil, err
	}
	return GetAsyncEventStatusResponse{Result: AsyncEventStatus{
		Status: e.Status, StatusCode: int64(e.StatusCode), InvokeRequestId: e.RequestID,
	}}, nil
}

func (s *Server) terminateAsyncEvent(ctx context.Context, call *Call, ns string, req *TerminateAsyncEventRequest) (any, error) {
	if req.InvokeRequestId == "" {
		return nil, errdefs.New(errdefs.ErrMissingParameter, "InvokeRequestId", "InvokeRequestId is required")
	}
	return struct{}{}, s.opts.Async.Terminate(ctx, ns, req.FunctionName, req.InvokeRequestId)
}

func (s *Server) retryAsyncEvent(ctx context.Context, call *Call, req *RetryAsyncEventRequest) (any, error) {
	if _, err := eventOf(ctx, call, s.opts.Async, req.InvokeRequestId); err != nil {
		return nil, err
	}
	return struct{}{}, s.opts.Async.Retry(ctx, req.InvokeRequestId)
}

func (s *Server) updateEventInvokeConfig(ctx context.Context, call *Call, ns string, req *UpdateFunctionEventInvokeConfigRequest) (any, error) {
	if req.AsyncTriggerConfig == nil {
		return nil, errdefs.New(errdefs.ErrMissingParameter, "AsyncTriggerConfig", "AsyncTriggerConfig is required")
	}
	// Fields left out keep their current value.
	p, err := s.opts.Async.Config(ctx, ns, req.FunctionName)
	if err != nil {
		return nil, err
	}
	c := req.AsyncTriggerConfig
	if len(c.RetryConfig) > 1 {
		return nil, errdefs.Invalid("AsyncTriggerConfig", "RetryConfig takes one element")
	}
	if len(c.RetryConfig) == 1 {
		p.RetryNum = int(c.RetryConfig[0].RetryNum)
		if c.RetryConfig[0].RetryInterval != 0 {
			p.RetryInterval = time.Duration(c.RetryConfig[0].RetryInterval) * time.Second
		}
	}
	if c.MsgTTL != 0 {
		p.MsgTTL = time.Duration(c.MsgTTL) * time.Second
	}
	return struct{}{}, s.opts.Async.SetConfig(ctx, ns, req.FunctionName, p)
}

func (s *Server) getEventInvokeConfig(ctx context.Context, call *Call, ns string, req *GetFunctionEventInvokeConfigRequest) (any, error) {
	if err := s.exists(ctx, ns, req.FunctionName); err != nil {
		return nil, err
	}
	p, err := s.opts.Async.Config(ctx, ns, req.FunctionName)
	if err != nil {
		return nil, err
	}
	return GetFunctionEventInvokeConfigResponse{AsyncTriggerConfig: AsyncTriggerConfig{
		RetryConfig: []RetryConfig{{RetryNum: int64(p.RetryNum), RetryInterval: int64(p.RetryInterval / time.Second)}},
		MsgTTL:      int64(p.MsgTTL / time.Second),
	}}, nil
}

// eventOf finds an event the caller may see.
func eventOf(ctx context.Context, call *Call, q AsyncEvents, id string) (async.Event, error) {
	if id == "" {
		return async.Event{}, errdefs.New(errdefs.ErrMissingParameter, "InvokeRequestId", "InvokeRequestId is required")
	}
	e, err := q.Get(ctx, id)
	if err != nil {
		return async.Event{}, err
	}
	if !call.Scope.Allows(e.Namespace) {
		// Do not tell other namespaces' events apart from missing ones.
		return async.Event{}, errdefs.NotFound("AsyncEvent", "no asynchronous event has request id %s", id)
	}
	return e, nil
}

// interval reads a TimeInterval; missing ends are zero times.
func (s *Server) interval(field string, ti *TimeInterval) (from, to time.Time, err error) {
	if ti == nil {
		return time.Time{}, time.Time{}, nil
	}
	if from, err = s.parseTime(field+".Start", ti.Start); err != nil {
		return
	}
	to, err = s.parseTime(field+".End", ti.End)
	return
}
