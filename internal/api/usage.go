package api

import (
	"context"
	"time"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/meter"
	"github.com/scfd/scfd/internal/scf"
)

// UsageSource reports metered usage; *meter.Meter has it.
type UsageSource interface {
	Usage(ctx context.Context, q meter.Query, p meter.Prices) ([]meter.Usage, meter.Usage, error)
}

// GetUsageRequest is GetUsage's input, an action of scfd's own. Times
// are "YYYY-MM-DD HH:MM:SS" in UTC; every field is optional.
type GetUsageRequest struct {
	Namespace    string `json:",omitempty"`
	FunctionName string `json:",omitempty"`
	StartTime    string `json:",omitempty"`
	EndTime      string `json:",omitempty"`
}

// FunctionUsage is the usage and cost of one function, or the total.
type FunctionUsage struct {
	Namespace                string `json:",omitempty"`
	FunctionName             string `json:",omitempty"`
	Invocations              int64
	Errors                   int64
	GBSeconds                float64
	ProvisionedIdleGBSeconds float64
	OutboundBytes            int64
	Cost                     float64 // US dollars
}

// GetUsageResponse is GetUsage's output. Total's Cost has the monthly
// free tier deducted (when on); the functions' costs do not.
type GetUsageResponse struct {
	Functions []FunctionUsage
	Total     FunctionUsage
}

// getUsage answers GetUsage, pricing usage with Options.Prices.
func (s *Server) getUsage(ctx context.Context, call *Call, req *GetUsageRequest) (any, error) {
	q := meter.Query{Namespace: req.Namespace, Function: req.FunctionName}
	if q.Namespace != "" {
		if err := scf.ValidateNamespaceName(q.Namespace); err != nil {
			return nil, err
		}
	}
	if q.Namespace == "" && !call.Scope.Admin {
		if len(call.Scope.Namespaces) != 1 {
			return nil, errdefs.New(errdefs.ErrMissingParameter, "Namespace", "Namespace is required for this key")
		}
		q.Namespace = call.Scope.Namespaces[0]
	}
	if q.Namespace != "" {
		if err := call.Authorize(q.Namespace); err != nil {
			return nil, err
		}
	}
	var err error
	if q.Start, err = utcTime("StartTime", req.StartTime); err != nil {
		return nil, err
	}
	if q.End, err = utcTime("EndTime", req.EndTime); err != nil {
		return nil, err
	}
	if !q.Start.IsZero() && !q.End.IsZero() && !q.End.After(q.Start) {
		return nil, errdefs.Invalid("EndTime", "EndTime must be after StartTime")
	}
	fns, total, err := s.opts.Usage.Usage(ctx, q, s.opts.Prices)
	if err != nil {
		return nil, err
	}
	resp := GetUsageResponse{Functions: make([]FunctionUsage, 0, len(fns)), Total: usageToWire(total)}
	for _, u := range fns {
		resp.Functions = append(resp.Functions, usageToWire(u))
	}
	return resp, nil
}

func utcTime(field, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.ParseInLocation(time.DateTime, v, time.UTC)
	if err != nil {
		return time.Time{}, errdefs.Invalid(field, "%s %q is invalid: use YYYY-MM-DD HH:MM:SS (UTC)", field, v)
	}
	return t, nil
}

func usageToWire(u meter.Usage) FunctionUsage {
	return FunctionUsage{
		Namespace: u.Namespace, FunctionName: u.Function, Invocations: u.Invocations, Errors: u.Errors,
		GBSeconds: u.GBSeconds, ProvisionedIdleGBSeconds: u.ProvisionedIdleGBSeconds,
		OutboundBytes: u.OutboundBytes, Cost: u.Cost,
	}
}
