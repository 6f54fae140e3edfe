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

func (s *Server) getAccount(ctx context.Context, call *Call) (any, error) {
	if err := call.Decode(&struct{}{}); err != nil {
		return nil, err
	}
	all, err := s.opts.Store.ListNamespaces(ctx)
	if err != nil {
		return nil, err
	}
	lim := s.opts.Limits
	resp := GetAccountResponse{
		AccountUsage: UsageInfo{
			Namespace:               []NamespaceUsage{},
			TotalConcurrencyMem:     lim.ConcurrencyMemoryMB,
			UserConcurrencyMemLimit: lim.ConcurrencyMemoryMB,
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
		resp.AccountUsage.NamespacesCount++
		resp.AccountUsage.Namespace = append(resp.AccountUsage.Namespace, NamespaceUsage{
			Functions:           names,
			Namespace:           ns.Name,
			FunctionsCount:      int64(total),
			TotalConcurrencyMem: lim.ConcurrencyMemoryMB,
		})
		resp.AccountLimit.Namespace = append(resp.AccountLimit.Namespace, NamespaceLimit{
			FunctionsCount:       int64(lim.FunctionsPerNamespace),
			Namespace:            ns.Name,
			ConcurrentExecutions: lim.ConcurrencyMemoryMB,
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
