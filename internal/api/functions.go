package api

import (
	"context"
	"strings"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/scf"
	"github.com/scfd/scfd/internal/store"
)

// ListFunctions' limits on Filters, as SCF states them.
const (
	maxFilters      = 10
	maxFilterValues = 5
)

// wantsPublish reads the Publish field of an update: "TRUE" asks for a
// version once the update is Active, "FALSE" or nothing does not.
func (s *Server) wantsPublish(publish string) (bool, error) {
	switch publish {
	case "", "FALSE":
		return false, nil
	case "TRUE":
		if s.opts.Versions == nil {
			return false, errdefs.New(errdefs.ErrUnsupported, "Publish", "publishing versions is not available on this scfd server")
		}
		return true, nil
	}
	return false, errdefs.Invalid("Publish", "Publish %q is invalid: use TRUE or FALSE", publish)
}

// publishUpdated publishes $LATEST after an update asked for it. An
// update that left the function pulling its image has set
// PublishOnActive instead, and the deployer publishes when the pull is
// done.
func (s *Server) publishUpdated(ctx context.Context, fn *scf.Function) error {
	if fn.Status != scf.StatusActive {
		return nil
	}
	_, err := s.opts.Versions.PublishVersion(ctx, fn.Namespace, fn.Name, "")
	return err
}

// publishWhenActive decides, inside an update of fn, how Publish TRUE is
// honoured: at once (the function is Active), by the deployer once its
// pull is done (Creating or Updating), or not at all (a failed function
// cannot be published).
func publishWhenActive(fn *scf.Function) error {
	switch fn.Status {
	case scf.StatusActive:
		fn.PublishOnActive = false
	case scf.StatusCreating, scf.StatusUpdating:
		fn.PublishOnActive = true
	default:
		return errdefs.New(errdefs.ErrFailedPrecondition, "PublishVersion", "function %q is %s: only an Active function can be published", fn.Name, fn.Status)
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
	if err := refuseExtras(req.FunctionExtras); err != nil {
		return nil, err
	}
	if err := refuseConcurrencyExtras(req.InstanceConcurrencyConfig); err != nil {
		return nil, err
	}
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
		PullAccess:   call.Scope.Access(),

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
		s.opts.Deployer.Deploy(ns, fn.Name)
	}
	return struct{}{}, nil
}

// getFunction answers the version Qualifier names; for an alias, the
// alias's main version, with the alias as Qualifier and the triggers bound
// to the alias. An unknown version or alias is ResourceNotFound.Version,
// as SCF lists for GetFunction.
func (s *Server) getFunction(ctx context.Context, call *Call, ns string, req *GetFunctionRequest) (any, error) {
	version, viaAlias, err := s.qualifiers().Resolve(ctx, ns, req.FunctionName, req.Qualifier, nil)
	if errdefs.Resource(err) == "Qualifier" {
		err = errdefs.NotFound("Version", "function %q has no version or alias %q", req.FunctionName, req.Qualifier)
	}
	if err != nil {
		return nil, err
	}
	fn, err := s.opts.Store.GetFunction(ctx, ns, req.FunctionName, version)
	if err != nil {
		return nil, err
	}
	resp := s.functionResponse(fn)
	bound := fn.Version
	if viaAlias {
		resp.Qualifier, bound = req.Qualifier, req.Qualifier
	}
	if tr := s.opts.Triggers; tr != nil {
		ts, err := tr.List(ctx, ns, req.FunctionName)
		if err != nil {
			return nil, err
		}
		for _, t := range ts {
			if t.Qualifier == bound {
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
	if len(req.Filters) > maxFilters {
		return nil, errdefs.Invalid("Filters", "at most %d Filters are allowed", maxFilters)
	}
	for _, f := range req.Filters {
		if len(f.Values) == 0 || len(f.Values) > maxFilterValues {
			return nil, errdefs.Invalid("Filters", "filter %q needs 1 to %d Values", f.Name, maxFilterValues)
		}
		if key, ok := strings.CutPrefix(f.Name, "tag-"); ok && key != "" {
			q.Tags = append(q.Tags, store.TagFilter{Key: key, Values: f.Values})
			continue
		}
		switch f.Name {
		case "Type":
			for _, v := range f.Values {
				q.Types = append(q.Types, scf.FunctionType(v))
			}
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
			return nil, errdefs.Invalid("Filters", "filtering functions by %q is not supported: use Status, Runtime, Type or tag-<key>", f.Name)
		}
	}
	if _, err := s.opts.Store.GetNamespace(ctx, ns); err != nil {
		return nil, err
	}
	fns, total, err := s.opts.Store.ListFunctions(ctx, q)
	if err != nil {
		return nil, err
	}
	var alloc map[string]scf.Allocation
	if c := s.opts.Concurrency; c != nil {
		alloc = c.Allocations(ns)
	}
	resp := ListFunctionsResponse{Functions: make([]Function, 0, len(fns)), TotalCount: int64(total)}
	for _, fn := range fns {
		item := s.functionItem(fn)
		a := alloc[fn.Name]
		item.ReservedConcurrencyMem, item.TotalProvisionedConcurrencyMem = uint64(a.ReservedMB), uint64(a.ProvisionedMB)
		resp.Functions = append(resp.Functions, item)
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
	publish, err := s.wantsPublish(req.Publish)
	if err != nil {
		return nil, err
	}
	updated, err := s.opts.Store.UpdateFunction(ctx, ns, req.FunctionName, scf.Latest, func(fn *scf.Function) error {
		fn.Image = image
		scf.ApplyDefaults(fn)
		if err := scf.ValidateFunction(fn); err != nil {
			return err
		}
		fn.CodeRevision++
		fn.ImageDigest = ""
		fn.PullAccess = call.Scope.Access()
		fn.Status = s.initialStatus(false)
		fn.StatusDesc = ""
		fn.StatusReasons = nil
		// This update's choice replaces an earlier pending one.
		fn.PublishOnActive = false
		if publish {
			return publishWhenActive(fn)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if s.opts.Deployer != nil {
		s.opts.Deployer.Deploy(ns, req.FunctionName)
	}
	if publish {
		return struct{}{}, s.publishUpdated(ctx, updated)
	}
	return struct{}{}, nil
}

func (s *Server) updateFunctionConfiguration(ctx context.Context, call *Call, ns string, req *UpdateFunctionConfigurationRequest) (any, error) {
	publish, err := s.wantsPublish(req.Publish)
	if err != nil {
		return nil, err
	}
	if err := refuseExtras(req.FunctionExtras); err != nil {
		return nil, err
	}
	if err := refuseConcurrencyExtras(req.InstanceConcurrencyConfig); err != nil {
		return nil, err
	}
	var concurrency scf.InstanceConcurrency
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
	updated, err := s.opts.Store.UpdateFunction(ctx, ns, req.FunctionName, scf.Latest, func(fn *scf.Function) error {
		if publish {
			if err := publishWhenActive(fn); err != nil {
				return err
			}
		}
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
			return errdefs.New(errdefs.ErrResourceExhausted, "InitTimeout", "InitTimeout 0 is invalid: use 1 to %d seconds", scf.MaxTimeout)
		}
		return scf.ValidateFunction(fn)
	})
	if err != nil {
		return nil, err
	}
	if publish {
		return struct{}{}, s.publishUpdated(ctx, updated)
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
	return struct{}{}, s.removeFunction(ctx, ns, req.FunctionName)
}

// removeFunction deletes every version of a function and tells the
// deployer, which has everything else that holds something of it forget
// it.
func (s *Server) removeFunction(ctx context.Context, ns, name string) error {
	if err := s.opts.Store.DeleteFunction(ctx, ns, name); err != nil {
		return err
	}
	if s.opts.Deployer != nil {
		s.opts.Deployer.Forget(ns, name)
	}
	return nil
}
