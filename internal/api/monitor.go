package api

import (
	"context"
	"sort"
	"time"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/monitor"
)

// MetricsSource serves the time series of functions; *monitor.Monitor
// has it.
type MetricsSource interface {
	Query(ctx context.Context, q monitor.Query) (*monitor.Series, error)
}

// GetFunctionMetricsRequest is GetFunctionMetrics' input, an action of
// scfd's own. Either Period, or StartTime and EndTime ("YYYY-MM-DD
// HH:MM:SS", UTC), choose the range; the step follows from the range
// (a minute for an hour, 15 minutes for a day, an hour for a week) unless
// Step (seconds, a whole number of minutes) is given.
type GetFunctionMetricsRequest struct {
	Namespace    string `json:",omitempty"` // default "default"
	FunctionName string
	Qualifier    string `json:",omitempty"` // one version; empty: all of them
	Period       string `json:",omitempty"` // hour (default), day or week: the range ending now
	StartTime    string `json:",omitempty"`
	EndTime      string `json:",omitempty"`
	Step         int64  `json:",omitempty"`
}

// GetFunctionMetricsResponse is GetFunctionMetrics' output: arrays of
// one value per step, Timestamps holding each step's start (Unix
// seconds). Durations are in ms; DurationP50, DurationP95, ColdStartAvg
// and ColdStartMax are null in steps without invocations or cold starts.
type GetFunctionMetricsResponse struct {
	Step                int64 // seconds
	Timestamps          []int64
	Invocations         []int64
	Errors              []int64
	DurationP50         []*float64
	DurationP95         []*float64
	ColdStarts          []int64
	ColdStartAvg        []*float64
	ColdStartMax        []*float64
	ConcurrentInstances []int64 // the peak within the step
	GBSeconds           []float64
}

// Periods are the ranges GetFunctionMetrics' Period names.
var Periods = map[string]time.Duration{"hour": time.Hour, "day": 24 * time.Hour, "week": 7 * 24 * time.Hour}

func (s *Server) getFunctionMetrics(ctx context.Context, call *Call, ns string, req *GetFunctionMetricsRequest) (any, error) {
	var err error
	q := monitor.Query{Namespace: ns, Function: req.FunctionName, Qualifier: req.Qualifier, Step: time.Duration(req.Step) * time.Second}
	if q.Start, err = utcTime("StartTime", req.StartTime); err != nil {
		return nil, err
	}
	if q.End, err = utcTime("EndTime", req.EndTime); err != nil {
		return nil, err
	}
	if q.Start.IsZero() != q.End.IsZero() {
		return nil, errdefs.New(errdefs.ErrMissingParameter, "StartTime", "StartTime and EndTime go together")
	}
	if q.Start.IsZero() {
		period := req.Period
		if period == "" {
			period = "hour"
		}
		span, ok := Periods[period]
		if !ok {
			return nil, errdefs.Invalid("Period", "Period %q is invalid: use hour, day or week", req.Period)
		}
		q.End = s.now()
		q.Start = q.End.Add(-span)
	}
	series, err := s.opts.Metrics.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	return metricsToWire(series), nil
}

func metricsToWire(s *monitor.Series) GetFunctionMetricsResponse {
	n := len(s.Points)
	out := GetFunctionMetricsResponse{
		Step: int64(s.Step / time.Second), Timestamps: make([]int64, n), Invocations: make([]int64, n), Errors: make([]int64, n),
		DurationP50: make([]*float64, n), DurationP95: make([]*float64, n), ColdStarts: make([]int64, n),
		ColdStartAvg: make([]*float64, n), ColdStartMax: make([]*float64, n), ConcurrentInstances: make([]int64, n), GBSeconds: make([]float64, n),
	}
	num := func(v float64) *float64 { return &v }
	for i, p := range s.Points {
		out.Timestamps[i] = s.Times[i].Unix()
		out.Invocations[i] = p.Invocations
		out.Errors[i] = p.Errors
		if p.Durations.Count() > 0 {
			out.DurationP50[i] = num(p.Durations.Quantile(0.5))
			out.DurationP95[i] = num(p.Durations.Quantile(0.95))
		}
		out.ColdStarts[i] = p.ColdStarts
		if p.ColdStarts > 0 {
			out.ColdStartAvg[i] = num(p.ColdStartMs / float64(p.ColdStarts))
			out.ColdStartMax[i] = num(p.ColdStartMaxMs)
		}
		out.ConcurrentInstances[i] = p.Instances
		out.GBSeconds[i] = p.GBSeconds
	}
	return out
}

// InstanceInfo is one live instance, as the pool reports it.
type InstanceInfo struct {
	Namespace, Function, Qualifier string
	ID                             string
	State                          string // starting, ready, busy, idle
	Requests                       int    // requests it serves now
	Served                         int64  // requests it served since it started
	Provisioned                    bool
	Started, LastUsed              time.Time
}

// InstanceLister lists the live instances; the daemon adapts the pool.
type InstanceLister interface {
	Instances() []InstanceInfo
}

// ListInstancesRequest is ListInstances' input, an action of scfd's own.
type ListInstancesRequest struct {
	Namespace    string `json:",omitempty"` // default "default"
	FunctionName string
	Qualifier    string `json:",omitempty"` // one version; empty: all of them
}

// Instance is one live instance of ListInstances.
type Instance struct {
	InstanceId   string
	Qualifier    string
	State        string
	Requests     int64 // requests it serves now
	Served       int64 // requests it served since it started (scfd's own)
	Provisioned  bool
	StartTime    string
	LastUsedTime string
}

// ListInstancesResponse is ListInstances' output, oldest first.
type ListInstancesResponse struct {
	Instances  []Instance
	TotalCount int64
}

func (s *Server) listInstances(ctx context.Context, call *Call, ns string, req *ListInstancesRequest) (any, error) {
	var found []InstanceInfo
	for _, in := range s.opts.Instances.Instances() {
		if in.Namespace == ns && in.Function == req.FunctionName && (req.Qualifier == "" || in.Qualifier == req.Qualifier) {
			found = append(found, in)
		}
	}
	sort.SliceStable(found, func(i, j int) bool { return found[i].Started.Before(found[j].Started) })
	out := ListInstancesResponse{Instances: make([]Instance, 0, len(found)), TotalCount: int64(len(found))}
	for _, in := range found {
		w := Instance{InstanceId: in.ID, Qualifier: in.Qualifier, State: in.State, Requests: int64(in.Requests), Served: in.Served, Provisioned: in.Provisioned,
			StartTime: in.Started.In(s.opts.Location).Format(time.DateTime)}
		if !in.LastUsed.IsZero() {
			w.LastUsedTime = in.LastUsed.In(s.opts.Location).Format(time.DateTime)
		}
		out.Instances = append(out.Instances, w)
	}
	return out, nil
}
