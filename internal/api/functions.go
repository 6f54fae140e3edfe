package api

import (
	"context"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/scf"
	"github.com/scfd/scfd/internal/store"
)

func refusePublish(publish string) error {
	if publish == "TRUE" {
		return errdefs.New(errdefs.ErrUnsupported, "Publish", "publishing a version while updating is not supported")
	}
	return nil
}

// initialStatus is the status of a function whose image is to be fetched.
func (s *Server) initialStatus(creating bool) scf.Status {
	switch {
	case s.opts.Deployer == nil:
		return scf.StatusActive
	case creating:
		return scf.StatusCreating
	default:
		return scf.StatusUpdating
	}
}

func (s *Server) createFunction(ctx context.Context, call *Call, ns string, req *CreateFunctionRequest) (any, error) {
	image, err := imageFromCode(req.Code)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeImage(call, image.ImageUri); err != nil {
		return nil, err
	}
	concurrency, err := concurrencyFromWire(req.InstanceConcurrencyConfig)
	if err != nil {
		return nil, err
	}
	noPublicNet, err := publicNetFromWire(req.PublicNetConfig)
	if err != nil {
		return nil, err
	}
	asyncRun, err := flagFromWire("AsyncRunEnable", req.AsyncRunEnable)
	if err != nil {
		return nil, err
	}
	dnsCache, err := flagFromWire("DnsCache", req.DnsCache)
	if err != nil {
		return nil, err
	}
	fn := &scf.Function{
		Namespace:    ns,
		Name:         req.FunctionName,
		Version:      scf.Latest,
		Type:         scf.FunctionType(req.Type),
		Description:  req.Description,
		MemorySize:   req.MemorySize,
		Timeout:      req.Timeout,
		InitTimeout:  req.InitTimeout,
		Environment:  variablesFromWire(req.Environment),
		Image:        image,
		Concurrency:  concurrency,
		Protocol:     scf.Protocol{Type: req.ProtocolType, WSIdleTimeout: wsIdleFromWire(req.ProtocolParams)},
		AsyncRun:     asyncRun,
		DNSCache:     dnsCache,
		CodeRevision: 1,
		Status:       s.initialStatus(true),

		PublicNetDisabled: noPublicNet,
	}
	for _, t := range req.Tags {
		fn.Tags = append(fn.Tags, scf.Tag{Key: t.Key, Value: t.Value})
	}
	scf.ApplyDefaults(fn)
	if err := scf.ValidateFunction(fn); err != nil {
		return nil, err
	}
	counts, err := s.opts.Store.CountFunctions(ctx)
	if err != nil {
		return nil, err
	}
	if counts[ns] >= s.opts.Limits.FunctionsPerNamespace {
		return nil, errdefs.New(errdefs.ErrResourceExhausted, "Function", "namespace %q holds %d functions, its limit", ns, counts[ns])
	}
	if err := s.opts.Store.CreateFunction(ctx, fn); err != nil {
		return nil, err
	}
	if s.opts.Deployer != nil {
		s.opts.Deployer.Deploy(ns, fn.Name, call.Scope.Access())
	}
	return struct{}{}, nil
}

func (s *Server) getFunction(ctx context.Context, call *Call, ns string, req *GetFunctionRequest) (any, error) {
	fn, err := s.opts.Store.GetFunction(ctx, ns, req.FunctionName, req.Qualifier)
	if err != nil {
		return nil, err
	}
	resp := s.functionResponse(fn)
	if tr := s.opts.Triggers; tr != nil {
		ts, err := tr.List(ctx, ns, req.FunctionName)
		if err != nil {
			return nil, err
		}
		for _, t := range ts {
			if t.Qualifier == fn.Version {
				resp.Triggers = append(resp.Triggers, s.triggerToWire(t))
			}
		}
	}
	return resp, nil
}

func (s *Server) listFunctions(ctx context.Context, call *Call, ns string, req *ListFunctionsRequest) (any, error) {
	offset, limit, err := page(req.Offset, req.Limit)
	if err != nil {
		return nil, err
	}
	q := store.FunctionQuery{
		Namespace:   ns,
		SearchKey:   req.SearchKey,
		Description: req.Description,
		Offset:      offset,
		Limit:       limit,
		OrderBy:     req.Orderby,
		Order:       req.Order,
	}
	for _, f := range req.Filters {
		switch f.Name {
		case "Status":
			for _, v := range f.Values {
				q.Statuses = append(q.Statuses, scf.Status(v))
			}
		case "Runtime":
			// Every scfd function is an image function.
			image := false
			for _, v := range f.Values {
				image = image || v == RuntimeImage
			}
			if !image {
				return ListFunctionsResponse{Functions: []Function{}}, nil
			}
		default:
			return nil, errdefs.New(errdefs.ErrUnsupported, "Filters", "filtering functions by %q is not supported: use Status or Runtime", f.Name)
		}
	}
	if _, err := s.opts.Store.GetNamespace(ctx, ns); err != nil {
		return nil, err
	}
	fns, total, err := s.opts.Store.ListFunctions(ctx, q)
	if err != nil {
		return nil, err
	}
	resp := ListFunctionsResponse{Functions: make([]Function, 0, len(fns)), TotalCount: int64(total)}
	for _, fn := range fns {
		resp.Functions = append(resp.Functions, s.functionItem(fn))
	}
	return resp, nil
}

func (s *Server) updateFunctionCode(ctx context.Context, call *Call, ns string, req *UpdateFunctionCodeRequest) (any, error) {
	for _, f := range []*string{req.CosBucketName, req.CosObjectName, req.ZipFile} {
		if f != nil && *f != "" {
			return nil, errCodePackage
		}
	}
	image, err := imageFromCode(req.Code)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeImage(call, image.ImageUri); err != nil {
		return nil, err
	}
	if err := refusePublish(req.Publish); err != nil {
		return nil, err
	}
	_, err = s.opts.Store.UpdateFunction(ctx, ns, req.FunctionName, scf.Latest, func(fn *scf.Function) error {
		fn.Image = image
		scf.ApplyDefaults(fn)
		if err := scf.ValidateFunction(fn); err != nil {
			return err
		}
		fn.CodeRevision++
		fn.ImageDigest = ""
		fn.Status = s.initialStatus(false)
		fn.StatusDesc = ""
		fn.StatusReasons = nil
		return nil
	})
	if err != nil {
		return nil, err
	}
	if s.opts.Deployer != nil {
		s.opts.Deployer.Deploy(ns, req.FunctionName, call.Scope.Access())
	}
	return struct{}{}, nil
}

func (s *Server) updateFunctionConfiguration(ctx context.Context, call *Call, ns string, req *UpdateFunctionConfigurationRequest) (any, error) {
	if err := refusePublish(req.Publish); err != nil {
		return nil, err
	}
	var concurrency scf.InstanceConcurrency
	var err error
	if req.InstanceConcurrencyConfig != nil {
		if concurrency, err = concurrencyFromWire(req.InstanceConcurrencyConfig); err != nil {
			return nil, err
		}
	}
	noPublicNet, err := publicNetFromWire(req.PublicNetConfig)
	if err != nil {
		return nil, err
	}
	dnsCache, err := flagFromWire("DnsCache", req.DnsCache)
	if err != nil {
		return nil, err
	}
	_, err = s.opts.Store.UpdateFunction(ctx, ns, req.FunctionName, scf.Latest, func(fn *scf.Function) error {
		if req.Description != nil {
			fn.Description = *req.Description
		}
		if req.MemorySize != nil {
			fn.MemorySize = *req.MemorySize
		}
		if req.Timeout != nil {
			fn.Timeout = *req.Timeout
		}
		if req.InitTimeout != nil {
			fn.InitTimeout = *req.InitTimeout
		}
		if req.Environment != nil {
			fn.Environment = variablesFromWire(req.Environment)
		}
		if req.InstanceConcurrencyConfig != nil {
			fn.Concurrency = concurrency
		}
		if req.PublicNetConfig != nil {
			fn.PublicNetDisabled = noPublicNet
		}
		if req.ProtocolParams != nil {
			if fn.Protocol.Type == "" {
				return errdefs.Invalid("ProtocolParams", "ProtocolParams is only for functions created with a ProtocolType")
			}
			fn.Protocol.WSIdleTimeout = wsIdleFromWire(req.ProtocolParams)
		}
		if req.DnsCache != "" {
			fn.DNSCache = dnsCache
		}
		if fn.InitTimeout == 0 {
			return errdefs.Invalid("InitTimeout", "InitTimeout 0 is invalid: use 1 to %d seconds", scf.MaxTimeout)
		}
		return scf.ValidateFunction(fn)
	})
	if err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

func (s *Server) deleteFunction(ctx context.Context, call *Call, ns string, req *DeleteFunctionRequest) (any, error) {
	if req.Qualifier != "" && req.Qualifier != scf.Latest {
		if err := checkPublished(req.Qualifier); err != nil {
			return nil, err
		}
		return struct{}{}, s.opts.Store.DeleteVersion(ctx, ns, req.FunctionName, req.Qualifier)
	}
	if err := s.opts.Store.DeleteFunction(ctx, ns, req.FunctionName); err != nil {
		return nil, err
	}
	if s.opts.Deployer != nil {
		s.opts.Deployer.Forget(ns, req.FunctionName)
	}
	return struct{}{}, nil
}
