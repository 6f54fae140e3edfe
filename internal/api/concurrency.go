package api

import (
	"context"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/scf"
)

// ConcurrencyService keeps the concurrency settings; *pool.Pool has it.
// Quotas are in MB of instance memory.
type ConcurrencyService interface {
	PutReserved(ctx context.Context, ns, name string, mb int64) error
	GetReserved(ctx context.Context, ns, name string) (mb int64, ok bool, err error)
	DeleteReserved(ctx context.Context, ns, name string) error
	PutTotal(ctx context.Context, mb int64) error
	TotalConcurrency() (totalMB, reservedMB int64)
	PutProvisioned(ctx context.Context, ns, name, version string, n int64) error
	GetProvisioned(ctx context.Context, ns, name, version string) (unallocated int64, out []scf.ProvisionedConcurrency, err error)
	DeleteProvisioned(ctx context.Context, ns, name, version string) error
	// Allocations reports what each function of a namespace holds of the
	// quota; functions holding nothing may be absent.
	Allocations(namespace string) map[string]scf.Allocation
}

// PutReservedConcurrencyConfigRequest is PutReservedConcurrencyConfig's
// input.
type PutReservedConcurrencyConfigRequest struct {
	FunctionName           string
	ReservedConcurrencyMem *int64
	Namespace              string `json:",omitempty"`
}

// FunctionRef names a function: the input of GetReservedConcurrencyConfig
// and DeleteReservedConcurrencyConfig.
type FunctionRef struct {
	FunctionName string
	Namespace    string `json:",omitempty"`
}

// GetReservedConcurrencyConfigResponse is GetReservedConcurrencyConfig's
// output; ReservedMem is null when no quota is reserved.
type GetReservedConcurrencyConfigResponse struct {
	ReservedMem *int64
}

// PutTotalConcurrencyConfigRequest is PutTotalConcurrencyConfig's input.
type PutTotalConcurrencyConfigRequest struct {
	TotalConcurrencyMem *int64
	Namespace           string `json:",omitempty"`
}

// TriggerAction is a scheduled provisioned-concurrency change (refused).
type TriggerAction struct {
	TriggerName                      string
	TriggerProvisionedConcurrencyNum int64
	TriggerCronConfig                string
	ProvisionedType                  string `json:",omitempty"`
}

// PutProvisionedConcurrencyConfigRequest is
// PutProvisionedConcurrencyConfig's input. Only static provisioning
// (ProvisionedType "Default" or absent) is supported.
type PutProvisionedConcurrencyConfigRequest struct {
	FunctionName                     string
	Qualifier                        string
	VersionProvisionedConcurrencyNum *int64
	Namespace                        string          `json:",omitempty"`
	TriggerActions                   []TriggerAction `json:",omitempty"`
	ProvisionedType                  string          `json:",omitempty"`
	TrackingTarget                   *float64        `json:",omitempty"`
	MinCapacity                      *int64          `json:",omitempty"`
	MaxCapacity                      *int64          `json:",omitempty"`
}

// GetProvisionedConcurrencyConfigRequest is
// GetProvisionedConcurrencyConfig's input; no Qualifier means every
// version.
type GetProvisionedConcurrencyConfigRequest struct {
	FunctionName string
	Namespace    string `json:",omitempty"`
	Qualifier    string `json:",omitempty"`
}

// VersionProvisionedConcurrencyInfo is one version's provisioned
// concurrency.
type VersionProvisionedConcurrencyInfo struct {
	AllocatedProvisionedConcurrencyNum int64
	AvailableProvisionedConcurrencyNum int64
	Status                             string
	StatusReason                       string
	Qualifier                          string
	TriggerActions                     []TriggerAction
}

// GetProvisionedConcurrencyConfigResponse is
// GetProvisionedConcurrencyConfig's output.
type GetProvisionedConcurrencyConfigResponse struct {
	UnallocatedConcurrencyNum int64
	Allocated                 []VersionProvisionedConcurrencyInfo
}

// DeleteProvisionedConcurrencyConfigRequest is
// DeleteProvisionedConcurrencyConfig's input.
type DeleteProvisionedConcurrencyConfigRequest struct {
	FunctionName string
	Qualifier    string
	Namespace    string `json:",omitempty"`
}

// exists checks that the function (its $LATEST) exists.
func (s *Server) exists(ctx context.Context, ns, name string) error {
	_, err := s.opts.Store.GetFunction(ctx, ns, name, scf.Latest)
	return err
}

// function resolves, authorizes and checks the existence of a function.
func (s *Server) function(ctx context.Context, call *Call, namespace, name string) (string, error) {
	ns, err := target(call, namespace, name)
	if err != nil {
		return "", err
	}
	return ns, s.exists(ctx, ns, name)
}

func (s *Server) putReserved(ctx context.Context, call *Call, req *PutReservedConcurrencyConfigRequest) (any, error) {
	if req.ReservedConcurrencyMem == nil {
		return nil, errdefs.New(errdefs.ErrMissingParameter, "", "ReservedConcurrencyMem is required")
	}
	ns, err := s.function(ctx, call, req.Namespace, req.FunctionName)
	if err != nil {
		return nil, err
	}
	return struct{}{}, s.opts.Concurrency.PutReserved(ctx, ns, req.FunctionName, *req.ReservedConcurrencyMem)
}

func (s *Server) getReserved(ctx context.Context, call *Call, ns string, req *FunctionRef) (any, error) {
	if err := s.exists(ctx, ns, req.FunctionName); err != nil {
		return nil, err
	}
	mb, ok, err := s.opts.Concurrency.GetReserved(ctx, ns, req.FunctionName)
	if err != nil {
		return nil, err
	}
	var resp GetReservedConcurrencyConfigResponse
	if ok {
		resp.ReservedMem = &mb
	}
	return resp, nil
}

func (s *Server) deleteReserved(ctx context.Context, call *Call, ns string, req *FunctionRef) (any, error) {
	if err := s.exists(ctx, ns, req.FunctionName); err != nil {
		return nil, err
	}
	return struct{}{}, s.opts.Concurrency.DeleteReserved(ctx, ns, req.FunctionName)
}

func (s *Server) putTotal(ctx context.Context, call *Call, req *PutTotalConcurrencyConfigRequest) (any, error) {
	if !call.Scope.Admin {
		return nil, errdefs.New(errdefs.ErrUnauthorized, "CAM", "only an administrator key may change the account's concurrency quota")
	}
	if req.TotalConcurrencyMem == nil {
		return nil, errdefs.New(errdefs.ErrMissingParameter, "", "TotalConcurrencyMem is required")
	}
	return struct{}{}, s.opts.Concurrency.PutTotal(ctx, *req.TotalConcurrencyMem)
}

func (s *Server) putProvisioned(ctx context.Context, call *Call, req *PutProvisionedConcurrencyConfigRequest) (any, error) {
	if req.Qualifier == "" {
		return nil, errdefs.New(errdefs.ErrMissingParameter, "", "Qualifier is required")
	}
	if req.VersionProvisionedConcurrencyNum == nil {
		return nil, errdefs.New(errdefs.ErrMissingParameter, "", "VersionProvisionedConcurrencyNum is required")
	}
	if req.ProvisionedType != "" && req.ProvisionedType != "Default" {
		return nil, errdefs.New(errdefs.ErrUnsupported, "", "ProvisionedType %q is not supported: only Default (static) provisioning", req.ProvisionedType)
	}
	if len(req.TriggerActions) > 0 {
		return nil, errdefs.New(errdefs.ErrUnsupported, "", "scheduled provisioned concurrency (TriggerActions) is not supported")
	}
	ns, err := s.function(ctx, call, req.Namespace, req.FunctionName)
	if err != nil {
		return nil, err
	}
	return struct{}{}, s.opts.Concurrency.PutProvisioned(ctx, ns, req.FunctionName, req.Qualifier, *req.VersionProvisionedConcurrencyNum)
}

func (s *Server) getProvisioned(ctx context.Context, call *Call, ns string, req *GetProvisionedConcurrencyConfigRequest) (any, error) {
	if err := s.exists(ctx, ns, req.FunctionName); err != nil {
		return nil, err
	}
	// No Qualifier: every version; a version; or an alias: the versions it
	// routes to.
	versions := []string{""}
	if req.Qualifier != "" {
		var err error
		if versions, err = s.versionsOf(ctx, ns, req.FunctionName, req.Qualifier); err != nil {
			return nil, err
		}
	}
	var un int64
	var pcs []scf.ProvisionedConcurrency
	for _, v := range versions {
		u, got, err := s.opts.Concurrency.GetProvisioned(ctx, ns, req.FunctionName, v)
		if err != nil {
			return nil, err
		}
		un, pcs = u, append(pcs, got...)
	}
	resp := GetProvisionedConcurrencyConfigResponse{UnallocatedConcurrencyNum: un, Allocated: []VersionProvisionedConcurrencyInfo{}}
	for _, pc := range pcs {
		resp.Allocated = append(resp.Allocated, VersionProvisionedConcurrencyInfo{
			AllocatedProvisionedConcurrencyNum: pc.Allocated,
			AvailableProvisionedConcurrencyNum: pc.Available,
			Status:                             string(pc.Status),
			StatusReason:                       pc.StatusReason,
			Qualifier:                          pc.Qualifier,
			TriggerActions:                     []TriggerAction{},
		})
	}
	return resp, nil
}

func (s *Server) deleteProvisioned(ctx context.Context, call *Call, req *DeleteProvisionedConcurrencyConfigRequest) (any, error) {
	if req.Qualifier == "" {
		return nil, errdefs.New(errdefs.ErrMissingParameter, "", "Qualifier is required")
	}
	ns, err := s.function(ctx, call, req.Namespace, req.FunctionName)
	if err != nil {
		return nil, err
	}
	return struct{}{}, s.opts.Concurrency.DeleteProvisioned(ctx, ns, req.FunctionName, req.Qualifier)
}
