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

// RegisterConcurrency adds the concurrency actions to s, and makes
// GetAccount report the account quota c keeps.
func RegisterConcurrency(s *Server, c ConcurrencyService) {
	h := &concurrency{s: s, c: c}
	s.Handle("PutReservedConcurrencyConfig", h.putReserved)
	s.Handle("GetReservedConcurrencyConfig", h.getReserved)
	s.Handle("DeleteReservedConcurrencyConfig", h.deleteReserved)
	s.Handle("PutTotalConcurrencyConfig", h.putTotal)
	s.Handle("PutProvisionedConcurrencyConfig", h.putProvisioned)
	s.Handle("GetProvisionedConcurrencyConfig", h.getProvisioned)
	s.Handle("DeleteProvisionedConcurrencyConfig", h.deleteProvisioned)
	s.Handle("GetAccount", h.getAccount)
}

type concurrency struct {
	s *Server
	c ConcurrencyService
}

// function resolves, authorizes and checks the existence of a function.
func (h *concurrency) function(ctx context.Context, call *Call, namespace, name string) (string, error) {
	ns, err := target(call, namespace, name)
	if err != nil {
		return "", err
	}
	if _, err := h.s.opts.Store.GetFunction(ctx, ns, name, scf.Latest); err != nil {
		return "", err
	}
	return ns, nil
}

func (h *concurrency) putReserved(ctx context.Context, call *Call) (any, error) {
	var req PutReservedConcurrencyConfigRequest
	if err := call.Decode(&req); err != nil {
		return nil, err
	}
	if req.ReservedConcurrencyMem == nil {
		return nil, errdefs.New(errdefs.ErrMissingParameter, "", "ReservedConcurrencyMem is required")
	}
	ns, err := h.function(ctx, call, req.Namespace, req.FunctionName)
	if err != nil {
		return nil, err
	}
	return struct{}{}, h.c.PutReserved(ctx, ns, req.FunctionName, *req.ReservedConcurrencyMem)
}

func (h *concurrency) getReserved(ctx context.Context, call *Call) (any, error) {
	var req FunctionRef
	if err := call.Decode(&req); err != nil {
		return nil, err
	}
	ns, err := h.function(ctx, call, req.Namespace, req.FunctionName)
	if err != nil {
		return nil, err
	}
	mb, ok, err := h.c.GetReserved(ctx, ns, req.FunctionName)
	if err != nil {
		return nil, err
	}
	var resp GetReservedConcurrencyConfigResponse
	if ok {
		resp.ReservedMem = &mb
	}
	return resp, nil
}

func (h *concurrency) deleteReserved(ctx context.Context, call *Call) (any, error) {
	var req FunctionRef
	if err := call.Decode(&req); err != nil {
		return nil, err
	}
	ns, err := h.function(ctx, call, req.Namespace, req.FunctionName)
	if err != nil {
		return nil, err
	}
	return struct{}{}, h.c.DeleteReserved(ctx, ns, req.FunctionName)
}

func (h *concurrency) putTotal(ctx context.Context, call *Call) (any, error) {
	var req PutTotalConcurrencyConfigRequest
	if err := call.Decode(&req); err != nil {
		return nil, err
	}
	if !call.Scope.Admin {
		return nil, errdefs.New(errdefs.ErrUnauthorized, "", "only an administrator key may change the account's concurrency quota")
	}
	if req.TotalConcurrencyMem == nil {
		return nil, errdefs.New(errdefs.ErrMissingParameter, "", "TotalConcurrencyMem is required")
	}
	return struct{}{}, h.c.PutTotal(ctx, *req.TotalConcurrencyMem)
}

func (h *concurrency) putProvisioned(ctx context.Context, call *Call) (any, error) {
	var req PutProvisionedConcurrencyConfigRequest
	if err := call.Decode(&req); err != nil {
		return nil, err
	}
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
	ns, err := h.function(ctx, call, req.Namespace, req.FunctionName)
	if err != nil {
		return nil, err
	}
	return struct{}{}, h.c.PutProvisioned(ctx, ns, req.FunctionName, req.Qualifier, *req.VersionProvisionedConcurrencyNum)
}

func (h *concurrency) getProvisioned(ctx context.Context, call *Call) (any, error) {
	var req GetProvisionedConcurrencyConfigRequest
	if err := call.Decode(&req); err != nil {
		return nil, err
	}
	ns, err := h.function(ctx, call, req.Namespace, req.FunctionName)
	if err != nil {
		return nil, err
	}
	un, pcs, err := h.c.GetProvisioned(ctx, ns, req.FunctionName, req.Qualifier)
	if err != nil {
		return nil, err
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

func (h *concurrency) deleteProvisioned(ctx context.Context, call *Call) (any, error) {
	var req DeleteProvisionedConcurrencyConfigRequest
	if err := call.Decode(&req); err != nil {
		return nil, err
	}
	if req.Qualifier == "" {
		return nil, errdefs.New(errdefs.ErrMissingParameter, "", "Qualifier is required")
	}
	ns, err := h.function(ctx, call, req.Namespace, req.FunctionName)
	if err != nil {
		return nil, err
	}
	return struct{}{}, h.c.DeleteProvisioned(ctx, ns, req.FunctionName, req.Qualifier)
}

// getAccount is GetAccount with the account quota the service keeps.
func (h *concurrency) getAccount(ctx context.Context, call *Call) (any, error) {
	r, err := h.s.getAccount(ctx, call)
	if err != nil {
		return nil, err
	}
	resp := r.(GetAccountResponse)
	total, reserved := h.c.TotalConcurrency()
	resp.AccountUsage.TotalConcurrencyMem = total
	resp.AccountUsage.UserConcurrencyMemLimit = total
	resp.AccountUsage.TotalAllocatedConcurrencyMem = reserved
	for i := range resp.AccountUsage.Namespace {
		resp.AccountUsage.Namespace[i].TotalConcurrencyMem = total
	}
	for i := range resp.AccountLimit.Namespace {
		resp.AccountLimit.Namespace[i].ConcurrentExecutions = total
	}
	return resp, nil
}
