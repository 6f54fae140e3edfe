package api

import (
	"context"
	"strconv"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/scf"
)

// VersionStore keeps published versions and aliases; *store.Store has it.
type VersionStore interface {
	PublishVersion(ctx context.Context, ns, name, description string) (*scf.Function, error)
	ListVersions(ctx context.Context, ns, name string) ([]*scf.Function, error)
	DeleteVersion(ctx context.Context, ns, name, version string) error
	CreateAlias(ctx context.Context, a *scf.Alias) error
	GetAlias(ctx context.Context, ns, function, name string) (*scf.Alias, error)
	UpdateAlias(ctx context.Context, a *scf.Alias) error
	DeleteAlias(ctx context.Context, ns, function, name string) error
	ListAliases(ctx context.Context, ns, function string) ([]*scf.Alias, error)
}

// PublishVersionRequest is PublishVersion's input.
type PublishVersionRequest struct {
	FunctionName string
	Description  string `json:",omitempty"`
	Namespace    string `json:",omitempty"`
}

// PublishVersionResponse is PublishVersion's output.
type PublishVersionResponse struct {
	FunctionVersion string
	CodeSize        int64
	MemorySize      int64
	Description     string
	Handler         string
	Timeout         int64
	Runtime         string
	Namespace       string
}

// ListVersionByFunctionRequest is ListVersionByFunction's input.
type ListVersionByFunctionRequest struct {
	FunctionName string
	Namespace    string `json:",omitempty"`
	Offset       int64  `json:",omitempty"`
	Limit        int64  `json:",omitempty"`
	Order        string `json:",omitempty"` // ASC (default) or DESC
	OrderBy      string `json:",omitempty"` // AddTime (the only order: versions grow with time)
}

// FunctionVersion is one version of ListVersionByFunction.
type FunctionVersion struct {
	Version     string
	Description string
	AddTime     string
	ModTime     string
	Status      string
}

// ListVersionByFunctionResponse is ListVersionByFunction's output.
type ListVersionByFunctionResponse struct {
	FunctionVersion []string
	Versions        []FunctionVersion
	TotalCount      int64
}

// DeleteFunctionVersionRequest is DeleteFunctionVersion's input.
type DeleteFunctionVersionRequest struct {
	FunctionName string
	Qualifier    string
	Namespace    string `json:",omitempty"`
	ForceDelete  string `json:",omitempty"` // ignored: a routed version is never deleted
}

// VersionWeight, VersionMatch and RoutingConfig are an alias's routing.
type VersionWeight struct {
	Version string
	Weight  float64
}

// VersionMatch is one rule of rule-based routing.
type VersionMatch struct {
	Version    string
	Key        string
	Method     string
	Expression string
}

// RoutingConfig is an alias's traffic split.
type RoutingConfig struct {
	AdditionalVersionWeights []VersionWeight `json:",omitempty"`
	AddtionVersionMatchs     []VersionMatch  `json:",omitempty"`
}

// AliasRequest is the input of CreateAlias and UpdateAlias.
type AliasRequest struct {
	Name            string
	FunctionName    string
	FunctionVersion string
	Namespace       string         `json:",omitempty"`
	RoutingConfig   *RoutingConfig `json:",omitempty"`
	Description     *string        `json:",omitempty"`
}

// AliasKey names one alias: GetAlias' and DeleteAlias' input.
type AliasKey struct {
	FunctionName string
	Name         string
	Namespace    string `json:",omitempty"`
}

// Alias is GetAlias' output and one alias of ListAliases.
type Alias struct {
	FunctionVersion string
	Name            string
	RoutingConfig   RoutingConfig
	Description     string
	AddTime         string
	ModTime         string
}

// ListAliasesRequest is ListAliases' input.
type ListAliasesRequest struct {
	FunctionName    string
	Namespace       string `json:",omitempty"`
	FunctionVersion string `json:",omitempty"` // only aliases routing to this version
	Offset          string `json:",omitempty"` // a number, as a string in SCF's API
	Limit           string `json:",omitempty"`
}

// ListAliasesResponse is ListAliases' output.
type ListAliasesResponse struct {
	Aliases    []Alias
	TotalCount int64
}

func (s *Server) publishVersion(ctx context.Context, call *Call, ns string, req *PublishVersionRequest) (any, error) {
	if len(req.Description) > scf.MaxDescription {
		return nil, errdefs.Invalid("Description", "Description is longer than %d characters", scf.MaxDescription)
	}
	fn, err := s.opts.Versions.PublishVersion(ctx, ns, req.FunctionName, req.Description)
	if err != nil {
		return nil, err
	}
	return PublishVersionResponse{
		FunctionVersion: fn.Version, MemorySize: fn.MemorySize, Description: fn.Description,
		Timeout: fn.Timeout, Runtime: RuntimeImage, Namespace: fn.Namespace,
	}, nil
}

func (s *Server) listVersions(ctx context.Context, call *Call, ns string, req *ListVersionByFunctionRequest) (any, error) {
	offset, limit, desc, err := pageOrder(req.Offset, req.Limit, req.Order, false)
	if err != nil {
		return nil, err
	}
	all, err := s.opts.Versions.ListVersions(ctx, ns, req.FunctionName)
	if err != nil {
		return nil, err
	}
	if desc {
		for i, j := 0, len(all)-1; i < j; i, j = i+1, j-1 {
			all[i], all[j] = all[j], all[i]
		}
	}
	resp := ListVersionByFunctionResponse{FunctionVersion: []string{}, Versions: []FunctionVersion{}, TotalCount: int64(len(all))}
	for i, fn := range all {
		if i < offset || i >= offset+limit {
			continue
		}
		resp.FunctionVersion = append(resp.FunctionVersion, fn.Version)
		resp.Versions = append(resp.Versions, FunctionVersion{
			Version: fn.Version, Description: fn.Description, Status: string(fn.Status),
			AddTime: s.formatTime(fn.AddTime), ModTime: s.formatTime(fn.ModTime),
		})
	}
	return resp, nil
}

func (s *Server) deleteVersion(ctx context.Context, call *Call, ns string, req *DeleteFunctionVersionRequest) (any, error) {
	if err := checkPublished(req.Qualifier); err != nil {
		return nil, err
	}
	return struct{}{}, s.opts.Versions.DeleteVersion(ctx, ns, req.FunctionName, req.Qualifier)
}

// checkPublished accepts the number of a published version.
func checkPublished(q string) error {
	if q == "" {
		return errdefs.New(errdefs.ErrMissingParameter, "Qualifier", "Qualifier is required")
	}
	if q == scf.Latest || !scf.IsVersion(q) {
		return errdefs.Invalid("Qualifier", "Qualifier %q is not a published version", q)
	}
	return nil
}

// alias reads the alias of CreateAlias and UpdateAlias in namespace ns.
func alias(ns string, req *AliasRequest) (*scf.Alias, error) {
	if err := scf.ValidateAliasName(req.Name); err != nil {
		return nil, err
	}
	if req.FunctionVersion == "" {
		return nil, errdefs.New(errdefs.ErrMissingParameter, "FunctionVersion", "FunctionVersion is required")
	}
	if !scf.IsVersion(req.FunctionVersion) {
		return nil, errdefs.Invalid("FunctionVersion", "FunctionVersion %q is not a version", req.FunctionVersion)
	}
	a := &scf.Alias{Namespace: ns, Function: req.FunctionName, Name: req.Name, FunctionVersion: req.FunctionVersion}
	if req.Description != nil {
		a.Description = *req.Description
	}
	if r := req.RoutingConfig; r != nil {
		for _, w := range r.AdditionalVersionWeights {
			a.Routing.AdditionalVersionWeights = append(a.Routing.AdditionalVersionWeights, scf.VersionWeight(w))
		}
		for _, m := range r.AddtionVersionMatchs {
			a.Routing.AddtionVersionMatchs = append(a.Routing.AddtionVersionMatchs, scf.VersionMatch(m))
		}
	}
	if err := scf.ValidateRouting(a.FunctionVersion, a.Routing); err != nil {
		return nil, err
	}
	return a, nil
}

func (s *Server) createAlias(ctx context.Context, call *Call, ns string, req *AliasRequest) (any, error) {
	a, err := alias(ns, req)
	if err != nil {
		return nil, err
	}
	return struct{}{}, s.opts.Versions.CreateAlias(ctx, a)
}

func (s *Server) updateAlias(ctx context.Context, call *Call, ns string, req *AliasRequest) (any, error) {
	a, err := alias(ns, req)
	if err != nil {
		return nil, err
	}
	if req.Description == nil {
		cur, err := s.opts.Versions.GetAlias(ctx, a.Namespace, a.Function, a.Name)
		if err != nil {
			return nil, err
		}
		a.Description = cur.Description
	}
	return struct{}{}, s.opts.Versions.UpdateAlias(ctx, a)
}

func (s *Server) getAlias(ctx context.Context, call *Call, ns string, req *AliasKey) (any, error) {
	a, err := s.opts.Versions.GetAlias(ctx, ns, req.FunctionName, req.Name)
	if err != nil {
		return nil, err
	}
	return s.aliasToWire(a), nil
}

func (s *Server) deleteAlias(ctx context.Context, call *Call, ns string, req *AliasKey) (any, error) {
	return struct{}{}, s.opts.Versions.DeleteAlias(ctx, ns, req.FunctionName, req.Name)
}

func (s *Server) listAliases(ctx context.Context, call *Call, ns string, req *ListAliasesRequest) (any, error) {
	offset, err := numberString("Offset", req.Offset)
	if err != nil {
		return nil, err
	}
	limit, err := numberString("Limit", req.Limit)
	if err != nil {
		return nil, err
	}
	from, n, err := page(offset, limit)
	if err != nil {
		return nil, err
	}
	all, err := s.opts.Versions.ListAliases(ctx, ns, req.FunctionName)
	if err != nil {
		return nil, err
	}
	if len(all) == 0 {
		if _, err := s.opts.Store.GetFunction(ctx, ns, req.FunctionName, scf.Latest); err != nil {
			return nil, err
		}
	}
	resp := ListAliasesResponse{Aliases: []Alias{}}
	for _, a := range all {
		if req.FunctionVersion != "" && !routesTo(a, req.FunctionVersion) {
			continue
		}
		if resp.TotalCount >= int64(from) && len(resp.Aliases) < n {
			resp.Aliases = append(resp.Aliases, s.aliasToWire(a))
		}
		resp.TotalCount++
	}
	return resp, nil
}

func routesTo(a *scf.Alias, version string) bool {
	for _, v := range a.Versions() {
		if v == version {
			return true
		}
	}
	return false
}

// numberString reads SCF's numbers sent as strings ("" is 0).
func numberString(field, s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, errdefs.Invalid(field, "%s %q is not a number", field, s)
	}
	return n, nil
}

func (s *Server) aliasToWire(a *scf.Alias) Alias {
	out := Alias{
		FunctionVersion: a.FunctionVersion, Name: a.Name, Description: a.Description,
		AddTime: s.formatTime(a.AddTime), ModTime: s.formatTime(a.ModTime),
	}
	for _, w := range a.Routing.AdditionalVersionWeights {
		out.RoutingConfig.AdditionalVersionWeights = append(out.RoutingConfig.AdditionalVersionWeights, VersionWeight(w))
	}
	for _, m := range a.Routing.AddtionVersionMatchs {
		out.RoutingConfig.AddtionVersionMatchs = append(out.RoutingConfig.AddtionVersionMatchs, VersionMatch(m))
	}
	return out
}
