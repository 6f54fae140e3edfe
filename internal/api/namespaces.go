package api

import (
	"context"
	"sort"
	"strings"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/scf"
)

// MaxNamespaceDescription bounds a namespace's description.
const MaxNamespaceDescription = 60

func requireAdmin(call *Call) error {
	if !call.Scope.Admin {
		return errdefs.New(errdefs.ErrUnauthorized, "CAM", "only an admin SecretId may manage namespaces")
	}
	return nil
}

func validateNamespaceDescription(d string) error {
	if len([]rune(d)) > MaxNamespaceDescription {
		return errdefs.Invalid("Description", "Description is longer than %d characters", MaxNamespaceDescription)
	}
	return nil
}

func (s *Server) createNamespace(ctx context.Context, call *Call, req *CreateNamespaceRequest) (any, error) {
	if err := requireAdmin(call); err != nil {
		return nil, err
	}
	if err := scf.ValidateNamespaceName(req.Namespace); err != nil {
		return nil, err
	}
	if err := validateNamespaceDescription(req.Description); err != nil {
		return nil, err
	}
	all, err := s.opts.Store.ListNamespaces(ctx)
	if err != nil {
		return nil, err
	}
	if len(all) >= s.opts.Limits.Namespaces {
		return nil, errdefs.New(errdefs.ErrResourceExhausted, "Namespace", "the account holds %d namespaces, its limit", len(all))
	}
	if err := s.opts.Store.CreateNamespace(ctx, scf.Namespace{Name: req.Namespace, Description: req.Description}); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (s *Server) updateNamespace(ctx context.Context, call *Call, req *UpdateNamespaceRequest) (any, error) {
	if err := requireAdmin(call); err != nil {
		return nil, err
	}
	if err := scf.ValidateNamespaceName(req.Namespace); err != nil {
		return nil, err
	}
	if err := validateNamespaceDescription(req.Description); err != nil {
		return nil, err
	}
	if err := s.opts.Store.UpdateNamespace(ctx, req.Namespace, req.Description); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (s *Server) deleteNamespace(ctx context.Context, call *Call, req *DeleteNamespaceRequest) (any, error) {
	if err := requireAdmin(call); err != nil {
		return nil, err
	}
	if err := scf.ValidateNamespaceName(req.Namespace); err != nil {
		return nil, err
	}
	if err := s.opts.Store.DeleteNamespace(ctx, req.Namespace); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (s *Server) listNamespaces(ctx context.Context, call *Call, req *ListNamespacesRequest) (any, error) {
	offset, limit, err := page(req.Offset, req.Limit)
	if err != nil {
		return nil, err
	}
	var less func(a, b scf.Namespace) bool
	switch strings.ToLower(req.Orderby) {
	case "", "name":
		less = func(a, b scf.Namespace) bool { return a.Name < b.Name }
	case "updatetime", "modtime":
		less = func(a, b scf.Namespace) bool { return a.ModTime.Before(b.ModTime) }
	case "addtime":
		less = func(a, b scf.Namespace) bool { return a.AddTime.Before(b.AddTime) }
	default:
		return nil, errdefs.Invalid("OrderBy", "cannot order namespaces by %q: use Name or Updatetime", req.Orderby)
	}
	desc, err := descending(req.Order, false)
	if err != nil {
		return nil, err
	}
	for _, k := range req.SearchKey {
		if k.Key != "Namespace" && k.Key != "Description" {
			return nil, errdefs.Invalid("SearchKey", "SearchKey.Key %q is invalid: use Namespace or Description", k.Key)
		}
	}
	all, err := s.opts.Store.ListNamespaces(ctx)
	if err != nil {
		return nil, err
	}
	var matched []scf.Namespace
	for _, ns := range all {
		if call.Scope.Allows(ns.Name) && matchesSearch(ns, req.SearchKey) {
			matched = append(matched, ns)
		}
	}
	sort.SliceStable(matched, func(i, j int) bool {
		if desc {
			return less(matched[j], matched[i])
		}
		return less(matched[i], matched[j])
	})
	resp := ListNamespacesResponse{Namespaces: []Namespace{}, TotalCount: int64(len(matched))}
	for i := offset; i < len(matched) && i < offset+limit; i++ {
		ns := matched[i]
		resp.Namespaces = append(resp.Namespaces, Namespace{
			ModTime:     s.formatTime(ns.ModTime),
			AddTime:     s.formatTime(ns.AddTime),
			Description: ns.Description,
			Name:        ns.Name,
			Type:        ns.Type,
		})
	}
	return resp, nil
}

func matchesSearch(ns scf.Namespace, keys []SearchKey) bool {
	for _, k := range keys {
		field := ns.Name
		if k.Key == "Description" {
			field = ns.Description
		}
		if !strings.Contains(strings.ToLower(field), strings.ToLower(k.Value)) {
			return false
		}
	}
	return true
}

// page checks Offset and Limit; a zero Limit means 20.
func page(offset, limit int64) (int, int, error) {
	if offset < 0 {
		return 0, 0, errdefs.Invalid("Offset", "Offset %d is invalid: it must not be negative", offset)
	}
	if limit < 0 || limit > 1000 {
		return 0, 0, errdefs.Invalid("Limit", "Limit %d is invalid: use 1 to 1000", limit)
	}
	if limit == 0 {
		limit = 20
	}
	return int(offset), int(limit), nil
}

// pageOrder checks Offset and Limit (see page) and Order (see descending).
func pageOrder(offset, limit int64, order string, descDefault bool) (from, n int, desc bool, err error) {
	if from, n, err = page(offset, limit); err != nil {
		return 0, 0, false, err
	}
	desc, err = descending(order, descDefault)
	return from, n, desc, err
}

// descending parses Order: ASC or DESC, any case; "" gives def.
func descending(order string, def bool) (bool, error) {
	switch strings.ToUpper(order) {
	case "":
		return def, nil
	case "ASC":
		return false, nil
	case "DESC":
		return true, nil
	}
	return false, errdefs.Invalid("Order", "Order %q is invalid: use ASC or DESC", order)
}
