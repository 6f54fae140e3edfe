package api

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/scfd/scfd/internal/credentials"
	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/invocation"
	"github.com/scfd/scfd/internal/scf"
	"github.com/scfd/scfd/internal/tc3"
)

// Invoker runs synchronous invocations; *invoke.Invoker has it.
type Invoker interface {
	Invoke(ctx context.Context, req invocation.Request) (*invocation.Result, error)
}

// AsyncQueue takes asynchronous invocations (InvocationType Event). It
// returns the invocation's request id at once.
type AsyncQueue interface {
	Enqueue(ctx context.Context, req invocation.Request) (requestID string, err error)
}

// InvokeRequest is Invoke's input.
type InvokeRequest struct {
	FunctionName   string
	InvocationType string // RequestResponse (default) or Event
	Qualifier      string // default $LATEST
	ClientContext  string // the event, JSON
	LogType        string // None (default) or Tail
	Namespace      string
	RoutingKey     string // JSON object matched against an alias's rules, such as {"User":"Bob"}
}

// InvokeFunctionRequest is InvokeFunction's input (synchronous only).
type InvokeFunctionRequest struct {
	FunctionName string
	Qualifier    string // default $DEFAULT
	Event        string
	LogType      string
	Namespace    string
	RoutingKey   string
}

// InvokeResult is the Result of Invoke and InvokeFunction.
type InvokeResult struct {
	Log               string
	RetMsg            string
	ErrMsg            string
	MemUsage          int64   // bytes
	Duration          float64 // ms
	BillDuration      int64   // ms
	FunctionRequestId string
	InvokeResult      int64 // 0 on success, else SCF's status code
}

// InvokeResponse is Invoke's and InvokeFunction's output.
type InvokeResponse struct {
	Result InvokeResult
}

// invoke answers Invoke: synchronously through Invoker, or with
// InvocationType Event through Queue.
func (s *Server) invoke(ctx context.Context, call *Call, req *InvokeRequest) (any, error) {
	async := false
	switch req.InvocationType {
	case "", "RequestResponse":
	case "Event":
		async = true
	default:
		return nil, errdefs.Invalid("InvocationType", "InvocationType %q is invalid: use RequestResponse or Event", req.InvocationType)
	}
	ns, err := target(call, req.Namespace, req.FunctionName)
	if err != nil {
		return nil, err
	}
	qualifier := req.Qualifier
	if qualifier == "" {
		qualifier = "$LATEST"
	}
	return s.run(ctx, ns, req.FunctionName, qualifier, req.ClientContext, req.LogType, req.RoutingKey, async)
}

// invokeFunction answers InvokeFunction, synchronous only.
func (s *Server) invokeFunction(ctx context.Context, call *Call, ns string, req *InvokeFunctionRequest) (any, error) {
	qualifier := req.Qualifier
	if qualifier == "" {
		qualifier = scf.DefaultAlias
	}
	return s.run(ctx, ns, req.FunctionName, qualifier, req.Event, req.LogType, req.RoutingKey, false)
}

func (s *Server) run(ctx context.Context, ns, name, qualifier, event, logType, routingKey string, async bool) (any, error) {
	switch logType {
	case "", "None", "Tail":
	default:
		return nil, errdefs.Invalid("LogType", "LogType %q is invalid: use None or Tail", logType)
	}
	if err := invocation.CheckEvent([]byte(event), async); err != nil {
		return nil, err
	}
	var rk map[string]string
	if routingKey != "" {
		if err := json.Unmarshal([]byte(routingKey), &rk); err != nil {
			return nil, errdefs.Invalid("RoutingKey", `RoutingKey must be a JSON object of strings, such as {"User":"Bob"}`)
		}
	}
	req := invocation.Request{
		Namespace: ns, Function: name, Qualifier: invocation.ResolveQualifier(qualifier), RoutingKey: rk,
		Event: []byte(event), LogTail: logType == "Tail" && !async, Async: async,
	}
	if async {
		if s.opts.Queue == nil {
			return nil, errdefs.New(errdefs.ErrUnsupported, "InvocationType", "asynchronous invocation (InvocationType Event) is not available yet")
		}
		id, err := s.opts.Queue.Enqueue(ctx, req)
		if err != nil {
			return nil, err
		}
		return InvokeResponse{Result: InvokeResult{FunctionRequestId: id}}, nil
	}
	if s.opts.Invoker == nil {
		return nil, errdefs.New(errdefs.ErrUnsupported, "", "synchronous invocation is not available on this scfd server")
	}
	res, err := s.opts.Invoker.Invoke(ctx, req)
	if errors.Is(err, invocation.ErrAsyncRun) && s.opts.Queue != nil {
		// A function in async-run mode answers every invocation with its
		// request id at once, as SCF does.
		req.Async, req.LogTail = true, false
		id, err := s.opts.Queue.Enqueue(ctx, req)
		if err != nil {
			return nil, err
		}
		return InvokeResponse{Result: InvokeResult{FunctionRequestId: id}}, nil
	}
	if err != nil {
		return nil, err
	}
	return InvokeResponse{Result: InvokeResult{
		Log: res.Log, RetMsg: res.RetMsg, ErrMsg: res.ErrMsg, MemUsage: res.MemUsage,
		Duration: res.Duration, BillDuration: res.BillDuration, FunctionRequestId: res.RequestID,
		InvokeResult: int64(res.InvokeResult),
	}}, nil
}

// TemporaryKeys is what the API needs of the issuer of functions'
// temporary credentials; *credentials.Issuer has it.
type TemporaryKeys interface {
	Lookup(secretID string) (credentials.Temporary, error)
}

// WithTemporaryKeys returns a KeyLookup that tries keys first, then the
// temporary credentials of functions: those act on their own namespace
// only and need their session token (X-TC-Token). An expired one fails
// with AuthFailure.TokenFailure.
func WithTemporaryKeys(keys KeyLookup, tmp TemporaryKeys) KeyLookup {
	return KeyLookupFunc(func(secretID string) (string, Scope, error) {
		if keys != nil {
			key, scope, err := keys.Lookup(secretID)
			if err == nil || !isNotFound(err) {
				return key, scope, err
			}
		}
		t, err := tmp.Lookup(secretID)
		switch {
		case errors.Is(err, credentials.ErrExpired):
			return "", Scope{}, &Error{Code: "AuthFailure.TokenFailure", Message: "the temporary credentials expired"}
		case err != nil:
			return "", Scope{}, errdefs.NotFound("SecretId", "SecretId %q not found", secretID)
		}
		return t.SecretKey, Scope{Namespaces: []string{t.Namespace}, Token: t.Token}, nil
	})
}

func isNotFound(err error) bool {
	return errors.Is(err, errdefs.ErrNotFound) || errors.Is(err, tc3.ErrSecretIDNotFound)
}
