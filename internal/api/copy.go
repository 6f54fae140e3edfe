package api

import (
	"context"
	"errors"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/scf"
)

// CopyFunctionRequest is CopyFunction's input.
type CopyFunctionRequest struct {
	FunctionName      string
	NewFunctionName   string
	Namespace         string  `json:",omitempty"` // the source's; default "default"
	TargetNamespace   string  `json:",omitempty"` // default "default"
	Description       *string `json:",omitempty"` // the copy's; default the source's (or none without CopyConfiguration)
	TargetRegion      string  `json:",omitempty"` // only this server's region
	Override          *bool   `json:",omitempty"` // replace a function of the new name; default false
	CopyConfiguration *bool   `json:",omitempty"` // copy memory, timeouts, environment, description, tags, concurrency; default true
}

func (r CopyFunctionRequest) names() (string, string) { return r.Namespace, r.FunctionName }

// copyFunction answers CopyFunction: a new function of the source's
// $LATEST image, type, protocol and AsyncRunEnable (and, unless
// CopyConfiguration is false, its configuration), created as
// CreateFunction creates one. Versions,
// aliases, triggers and concurrency settings are not copied. The caller
// needs rights to both namespaces.
func (s *Server) copyFunction(ctx context.Context, call *Call, ns string, req *CopyFunctionRequest) (any, error) {
	target, err := target(call, req.TargetNamespace, req.NewFunctionName)
	if err != nil {
		return nil, err
	}
	if req.TargetRegion != "" && req.TargetRegion != s.opts.Region {
		return nil, errdefs.New(errdefs.ErrUnsupported, "Region", "copying to region %q is not supported: scfd serves %q only", req.TargetRegion, s.opts.Region)
	}
	if target == ns && req.NewFunctionName == req.FunctionName {
		return nil, errdefs.Invalid("FunctionName", "a function cannot be copied onto itself: choose another NewFunctionName or TargetNamespace")
	}
	src, err := s.opts.Store.GetFunction(ctx, ns, req.FunctionName, scf.Latest)
	if err != nil {
		return nil, err
	}
	if _, err := s.opts.Store.GetNamespace(ctx, target); err != nil {
		return nil, err
	}
	fn := &scf.Function{
		Namespace:    target,
		Name:         req.NewFunctionName,
		Version:      scf.Latest,
		Type:         src.Type,
		Protocol:     src.Protocol,
		AsyncRun:     src.AsyncRun,
		Image:        src.Image,
		CodeRevision: 1,
		Status:       s.initialStatus(true),
		PullAccess:   call.Scope.Access(),
	}
	if req.CopyConfiguration == nil || *req.CopyConfiguration {
		c := src.Clone()
		fn.Description, fn.MemorySize, fn.Timeout, fn.InitTimeout = c.Description, c.MemorySize, c.Timeout, c.InitTimeout
		fn.Environment, fn.Concurrency, fn.Tags = c.Environment, c.Concurrency, c.Tags
		fn.PublicNetDisabled, fn.DNSCache = c.PublicNetDisabled, c.DNSCache
	}
	if req.Description != nil {
		fn.Description = *req.Description
	}
	scf.ApplyDefaults(fn)
	if err := scf.ValidateFunction(fn); err != nil {
		return nil, err
	}
	if err := s.authorizeImage(call, fn.Image.ImageUri); err != nil {
		return nil, err
	}

	_, err = s.opts.Store.GetFunction(ctx, target, fn.Name, scf.Latest)
	exists := err == nil
	if err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		return nil, err
	}
	if exists && (req.Override == nil || !*req.Override) {
		return nil, errdefs.New(errdefs.ErrAlreadyExists, "FunctionName", "function %q already exists in namespace %q: set Override to replace it", fn.Name, target)
	}
	if !exists {
		counts, err := s.opts.Store.CountFunctions(ctx)
		if err != nil {
			return nil, err
		}
		if counts[target] >= s.opts.Limits.FunctionsPerNamespace {
			return nil, errdefs.New(errdefs.ErrResourceExhausted, "Function", "namespace %q holds %d functions, its limit", target, counts[target])
		}
	} else if err := s.removeFunction(ctx, target, fn.Name); err != nil {
		return nil, err
	}
	if err := s.opts.Store.CreateFunction(ctx, fn); err != nil {
		return nil, err
	}
	if s.opts.Deployer != nil {
		s.opts.Deployer.Deploy(target, fn.Name)
	}
	return struct{}{}, nil
}
