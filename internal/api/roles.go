package api

import (
	"context"
	"slices"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/scf"
)

// Right is what an action does, and so which roles may call it.
type Right int

// The rights, each including the ones before it.
const (
	RightRead   Right = iota + 1 // reads functions, logs, metrics, usage
	RightInvoke                  // runs functions and their async events
	RightWrite                   // changes functions and what hangs on them
	RightAdmin                   // namespaces, the account's quota, keys: the administrator only
)

// actionRights is the one table of who may call what: every action and
// the right it needs. An administrator key may call every action; a key
// limited to namespaces calls those its role reaches (roleRights), on its
// namespaces only (each handler checks the namespace). An action missing
// here is for the administrator only.
var actionRights = map[string]Right{
	"ListNamespaces":                  RightRead,
	"GetAccount":                      RightRead,
	"GetFunction":                     RightRead,
	"ListFunctions":                   RightRead,
	"GetFunctionLogs":                 RightRead,
	"ListAsyncEvents":                 RightRead,
	"GetAsyncEventStatus":             RightRead,
	"GetFunctionEventInvokeConfig":    RightRead,
	"ListTriggers":                    RightRead,
	"GetReservedConcurrencyConfig":    RightRead,
	"GetProvisionedConcurrencyConfig": RightRead,
	"GetFunctionMetrics":              RightRead,
	"GetRequestStatus":                RightRead,
	"ListInstances":                   RightRead,
	"GetUsage":                        RightRead,
	"ListVersionByFunction":           RightRead,
	"GetAlias":                        RightRead,
	"ListAliases":                     RightRead,

	"Invoke":              RightInvoke,
	"CopyFunction":        RightWrite,
	"InvokeFunction":      RightInvoke,
	"TerminateAsyncEvent": RightInvoke,
	"RetryAsyncEvent":     RightInvoke,

	"CreateFunction":                     RightWrite,
	"UpdateFunctionCode":                 RightWrite,
	"UpdateFunctionConfiguration":        RightWrite,
	"DeleteFunction":                     RightWrite,
	"UpdateFunctionEventInvokeConfig":    RightWrite,
	"CreateTrigger":                      RightWrite,
	"UpdateTrigger":                      RightWrite,
	"UpdateTriggerStatus":                RightWrite,
	"DeleteTrigger":                      RightWrite,
	"PutReservedConcurrencyConfig":       RightWrite,
	"DeleteReservedConcurrencyConfig":    RightWrite,
	"PutProvisionedConcurrencyConfig":    RightWrite,
	"DeleteProvisionedConcurrencyConfig": RightWrite,
	"PublishVersion":                     RightWrite,
	"DeleteFunctionVersion":              RightWrite,
	"CreateAlias":                        RightWrite,
	"UpdateAlias":                        RightWrite,
	"DeleteAlias":                        RightWrite,

	"CreateNamespace":           RightAdmin,
	"UpdateNamespace":           RightAdmin,
	"DeleteNamespace":           RightAdmin,
	"PutTotalConcurrencyConfig": RightAdmin,
	"CreateKey":                 RightAdmin,
	"ListKeys":                  RightAdmin,
	"UpdateKey":                 RightAdmin,
	"DeleteKey":                 RightAdmin,
}

// roleRights is the highest right of each role.
var roleRights = map[scf.Role]Right{
	scf.RoleFullControl: RightWrite,
	scf.RoleInvoke:      RightInvoke,
	scf.RoleReadOnly:    RightRead,
}

// Permits reports whether the scope's key may call action (on its
// namespaces).
func (s Scope) Permits(action string) bool {
	if s.Admin {
		return true
	}
	need, ok := actionRights[action]
	if !ok || need == RightAdmin {
		return false
	}
	return need <= roleRights[s.role()]
}

// Has reports whether the scope's role reaches right (on its
// namespaces); an administrator key has every right.
func (s Scope) Has(right Right) bool {
	return s.Admin || right <= roleRights[s.role()]
}

// Permitted returns the actions of this server that scope may call,
// sorted: the console shows only those.
func (s *Server) Permitted(scope Scope) []string {
	var out []string
	for a := range s.actions {
		if scope.Permits(a) {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return out
}

// withRight refuses action to the keys whose role does not reach it,
// before its body is decoded.
func withRight(action string, h HandlerFunc) HandlerFunc {
	return func(ctx context.Context, call *Call) (any, error) {
		if !call.Scope.Permits(action) {
			if need := actionRights[action]; need == RightAdmin || need == 0 {
				return nil, errdefs.New(errdefs.ErrUnauthorized, "CAM", "only the administrator's key may call %s", action)
			}
			return nil, errdefs.New(errdefs.ErrUnauthorized, "CAM", "this key's role %s may not call %s", call.Scope.role(), action)
		}
		return h(ctx, call)
	}
}

func (s Scope) role() scf.Role {
	if s.Role == "" {
		return scf.RoleFullControl
	}
	return s.Role
}

// KeyRole is the role of a key limited to namespaces (Role, or
// FullControl when empty), and "" for an administrator key.
func (s Scope) KeyRole() scf.Role {
	if s.Admin {
		return ""
	}
	return s.role()
}
