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

// InvokeOptions configure the invocation actions. Invoker is required.
type InvokeOptions struct {
	Invoker Invoker
	// Queue takes Invoke calls with InvocationType Event. Nil: they fail
	// with UnsupportedOperation.InvocationType.
	Queue AsyncQueue
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

// RegisterInvoke registers Invoke and InvokeFunction on s.
func RegisterInvoke(s *Server, opts InvokeOptions) {
	s.Handle("Invoke", func(ctx context.Context, call *Call) (any, error) {
		var req InvokeRequest
		if err := call.Decode(&req); err != nil {
			return nil, err
		}
		async := false
		switch req.InvocationType {
		case "", "RequestResponse":
		case "Event":
			async = true
		default:
			return nil, errdefs.Invalid("InvocationType", "InvocationType %q is invalid: use RequestResponse or Event", req.InvocationType)
		}
		qualifier := req.Qualifier
		if qualifier == "" {
			qualifier = "$LATEST"
		}
		return run(ctx, call, opts, req.Namespace, req.FunctionName, qualifier, req.ClientContext, req.LogType, req.RoutingKey, async)
	})
	s.Handle("InvokeFunction", func(ctx context.Context, call *Call) (any, error) {
		var req InvokeFunctionRequest
		if err := call.Decode(&req); err != nil {
			return nil, err
		}
		qualifier := req.Qualifier
		if qualifier == "" {
			qualifier = scf.DefaultAlias
		}
		return run(ctx, call, opts, req.Namespace, req.FunctionName, qualifier, req.Event, req.LogType, req.RoutingKey, false)
	})
}

func run(ctx context.Context, call *Call, opts InvokeOptions, namespace, name, qualifier, event, logType, routingKey string, async bool) (any, error) {
	ns, err := target(call, namespace, name)
	if err != nil {
		return nil, err
	}
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
		if opts.Queue == nil {
			return nil, errdefs.New(errdefs.ErrUnsupported, "InvocationType", "asynchronous invocation (InvocationType Event) is not available yet")
		}
		id, err := opts.Queue.Enqueue(ctx, req)
		if err != nil {
			return nil, err
		}
		return InvokeResponse{Result: InvokeResult{FunctionRequestId: id}}, nil
	}
	res, err := opts.Invoker.Invoke(ctx, req)
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
