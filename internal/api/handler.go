package api

import (
	"context"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/scf"
)

// action adapts a handler of one request type to HandlerFunc: the body
// is decoded into a Req (see Call.Decode) before fn runs.
func action[Req any](fn func(ctx context.Context, call *Call, req *Req) (any, error)) HandlerFunc {
	return func(ctx context.Context, call *Call) (any, error) {
		var req Req
		if err := call.Decode(&req); err != nil {
			return nil, err
		}
		return fn(ctx, call, &req)
	}
}

// named is a request that names a function, or for listings a namespace
// and optionally a function.
type named interface {
	names() (namespace, function string)
}

// onFunction is action for a request about one function: before fn runs,
// the namespace (default "default") and the function name are validated
// and the caller's right to the namespace checked; fn gets the namespace.
func onFunction[Req named](fn func(ctx context.Context, call *Call, ns string, req *Req) (any, error)) HandlerFunc {
	return action(func(ctx context.Context, call *Call, req *Req) (any, error) {
		ns, name := (*req).names()
		ns, err := target(call, ns, name)
		if err != nil {
			return nil, err
		}
		return fn(ctx, call, ns, req)
	})
}

// inNamespace is action for a listing of a namespace, narrowed to one
// function when the request names one: the namespace (default "default")
// and the function name, when given, are validated and the caller's
// right to the namespace checked; fn gets the namespace.
func inNamespace[Req named](fn func(ctx context.Context, call *Call, ns string, req *Req) (any, error)) HandlerFunc {
	return action(func(ctx context.Context, call *Call, req *Req) (any, error) {
		ns, name := (*req).names()
		ns, err := namespaceOf(call, ns, name)
		if err != nil {
			return nil, err
		}
		return fn(ctx, call, ns, req)
	})
}

// target resolves and authorizes the namespace and name of a function.
func target(call *Call, namespace, name string) (string, error) {
	if namespace == "" {
		namespace = scf.DefaultNamespace
	}
	if err := scf.ValidateNamespaceName(namespace); err != nil {
		return "", err
	}
	if err := call.Authorize(namespace); err != nil {
		return "", err
	}
	if err := scf.ValidateFunctionName(name); err != nil {
		return "", err
	}
	return namespace, nil
}

// namespaceOf checks the namespace (and the function name, when given) of
// a listing and the caller's right to it.
func namespaceOf(call *Call, ns, function string) (string, error) {
	if function != "" {
		return target(call, ns, function)
	}
	if ns == "" {
		ns = scf.DefaultNamespace
	}
	if err := scf.ValidateNamespaceName(ns); err != nil {
		return "", err
	}
	return ns, call.Authorize(ns)
}

// unsupported answers an action whose service this server lacks.
func unsupported(name string) HandlerFunc {
	return func(context.Context, *Call) (any, error) {
		return nil, errdefs.New(errdefs.ErrUnsupported, "", "%s is not available on this scfd server", name)
	}
}

// The requests that name a function (or a namespace to list).
func (r CreateFunctionRequest) names() (string, string)     { return r.Namespace, r.FunctionName }
func (r GetFunctionRequest) names() (string, string)        { return r.Namespace, r.FunctionName }
func (r ListFunctionsRequest) names() (string, string)      { return r.Namespace, "" }
func (r UpdateFunctionCodeRequest) names() (string, string) { return r.Namespace, r.FunctionName }
func (r UpdateFunctionConfigurationRequest) names() (string, string) {
	return r.Namespace, r.FunctionName
}
func (r DeleteFunctionRequest) names() (string, string)      { return r.Namespace, r.FunctionName }
func (r InvokeFunctionRequest) names() (string, string)      { return r.Namespace, r.FunctionName }
func (r GetFunctionLogsRequest) names() (string, string)     { return r.Namespace, r.FunctionName }
func (r ListAsyncEventsRequest) names() (string, string)     { return r.Namespace, r.FunctionName }
func (r TerminateAsyncEventRequest) names() (string, string) { return r.Namespace, r.FunctionName }
func (r UpdateFunctionEventInvokeConfigRequest) names() (string, string) {
	return r.Namespace, r.FunctionName
}
func (r GetFunctionEventInvokeConfigRequest) names() (string, string) {
	return r.Namespace, r.FunctionName
}
func (r CreateTriggerRequest) names() (string, string)         { return r.Namespace, r.FunctionName }
func (r UpdateTriggerRequest) names() (string, string)         { return r.Namespace, r.FunctionName }
func (r DeleteTriggerRequest) names() (string, string)         { return r.Namespace, r.FunctionName }
func (r ListTriggersRequest) names() (string, string)          { return r.Namespace, r.FunctionName }
func (r PublishVersionRequest) names() (string, string)        { return r.Namespace, r.FunctionName }
func (r ListVersionByFunctionRequest) names() (string, string) { return r.Namespace, r.FunctionName }
func (r DeleteFunctionVersionRequest) names() (string, string) { return r.Namespace, r.FunctionName }
func (r AliasRequest) names() (string, string)                 { return r.Namespace, r.FunctionName }
func (r AliasKey) names() (string, string)                     { return r.Namespace, r.FunctionName }
func (r ListAliasesRequest) names() (string, string)           { return r.Namespace, r.FunctionName }
func (r FunctionRef) names() (string, string)                  { return r.Namespace, r.FunctionName }
func (r GetProvisionedConcurrencyConfigRequest) names() (string, string) {
	return r.Namespace, r.FunctionName
}
func (r GetFunctionMetricsRequest) names() (string, string) { return r.Namespace, r.FunctionName }
func (r ListInstancesRequest) names() (string, string)      { return r.Namespace, r.FunctionName }
