package api

import (
	"context"

	"github.com/scfd/scfd/internal/scf"
	"github.com/scfd/scfd/internal/store"
)

// Account limits scfd reports and does not otherwise enforce.
const (
	testModelLimit = 10
	retryNumLimit  = 2
	minMsgTTL      = 60
	maxMsgTTL      = 6 * 60 * 60
)

// getAccount answers GetAccount: the namespaces the caller may see with
// their functions, and the account's limits. The concurrency quota is the
// one Concurrency keeps, else Limits.ConcurrencyMemoryMB.
func (s *Server) getAccount(ctx context.Context, call *Call, _ *struct{}) (any, error) {
	all, err := s.opts.Store.ListNamespaces(ctx)
	if err != nil {
		return nil, err
	}
	lim := s.opts.Limits
	quota, reserved := lim.ConcurrencyMemoryMB, int64(0)
	if c := s.opts.Concurrency; c != nil {
		quota, reserved = c.TotalConcurrency()
	}
	resp := GetAccountResponse{
		AccountUsage: UsageInfo{
			Namespace:                    []NamespaceUsage{},
			TotalConcurrencyMem:          quota,
			TotalAllocatedConcurrencyMem: reserved,
			UserConcurrencyMemLimit:      quota,
		},
		AccountLimit: LimitsInfo{
			NamespacesCount: int64(lim.Namespaces),
			Namespace:       []NamespaceLimit{},
		},
	}
	for _, ns := range all {
		if !call.Scope.Allows(ns.Name) {
			continue
		}
		fns, total, err := s.opts.Store.ListFunctions(ctx, store.FunctionQuery{
			Namespace: ns.Name,
			Limit:     lim.FunctionsPerNamespace,
			OrderBy:   "FunctionName",
			Order:     "ASC",
		})
		if err != nil {
			return nil, err
		}
		names := make([]string, 0, len(fns))
		for _, fn := range fns {
			names = append(names, fn.Name)
		}
		usage := NamespaceUsage{
			Functions:           names,
			Namespace:           ns.Name,
			FunctionsCount:      int64(total),
			TotalConcurrencyMem: quota,
		}
		if c := s.opts.Concurrency; c != nil {
			for _, a := range c.Allocations(ns.Name) {
				usage.TotalAllocatedConcurrencyMem += a.ReservedMB
				usage.TotalAllocatedProvisionedMem += a.ProvisionedMB
			}
		}
		resp.AccountUsage.NamespacesCount++
		resp.AccountUsage.Namespace = append(resp.AccountUsage.Namespace, usage)
		resp.AccountLimit.Namespace = append(resp.AccountLimit.Namespace, NamespaceLimit{
			FunctionsCount:       int64(lim.FunctionsPerNamespace),
			Namespace:            ns.Name,
			ConcurrentExecutions: quota,
			TimeoutLimit:         scf.MaxTimeout,
			TestModelLimit:       testModelLimit,
			InitTimeoutLimit:     scf.MaxTimeout,
			RetryNumLimit:        retryNumLimit,
			MinMsgTTL:            minMsgTTL,
			MaxMsgTTL:            maxMsgTTL,
		})
	}
	return resp, nil
}
