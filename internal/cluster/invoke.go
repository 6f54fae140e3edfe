package cluster

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/invocation"
	"github.com/scfd/scfd/internal/scf"
)

// Invoker returns an Invoker that runs each event invocation on its
// function's owner: here through local, or on another replica through its
// internal listener. An owner that cannot be reached is suspected and
// the next one tried, once; one that broke off during the invocation is
// not (the invocation may have run) and the call fails with
// errdefs.ErrUnavailable.
func (f *Forwarder) Invoker(local Invoker) Invoker {
	return &forwardingInvoker{f: f, local: local}
}

type forwardingInvoker struct {
	f     *Forwarder
	local Invoker
}

func (fi *forwardingInvoker) Invoke(ctx context.Context, req invocation.Request) (*invocation.Result, error) {
	if Forwarded(ctx) {
		return fi.local.Invoke(ctx, req)
	}
	ns := req.Namespace
	if ns == "" {
		ns = scf.DefaultNamespace
	}
	k := Key{Namespace: ns, Function: req.Function}
	owners := fi.f.opts.Owners
	owner, self := owners.Owner(k)
	for attempt := 0; ; attempt++ {
		if self || owner.ID == "" {
			return fi.local.Invoke(ctx, req)
		}
		res, err, sent := fi.f.invokeAt(ctx, owner, req)
		if sent || attempt == 1 {
			return res, err
		}
		owners.Suspect(owner.ID)
		owner, self = owners.Next(k, owner.ID)
	}
}

// wireRequest is the part of an invocation.Request that is not the event.
type wireRequest struct {
	Namespace, Function, Qualifier string
	RoutingKey                     map[string]string `json:",omitempty"`
	LogTail, Async                 bool
	RetryNum                       int
	TriggerSrc, RequestID          string
}

// wireAnswer is the internal listener's answer to an event invocation.
type wireAnswer struct {
	Result *invocation.Result `json:",omitempty"`
	Error  *wireError         `json:",omitempty"`
}

// wireError carries an error of an errdefs class.
type wireError struct {
	Class, Resource, Message string
}

// classes names the errdefs classes on the wire.
var classes = map[string]error{
	"NotFound":           errdefs.ErrNotFound,
	"AlreadyExists":      errdefs.ErrAlreadyExists,
	"InvalidArgument":    errdefs.ErrInvalidArgument,
	"MissingParameter":   errdefs.ErrMissingParameter,
	"FailedPrecondition": errdefs.ErrFailedPrecondition,
	"InUse":              errdefs.ErrInUse,
	"ResourceExhausted":  errdefs.ErrResourceExhausted,
	"Unsupported":        errdefs.ErrUnsupported,
	"Unavailable":        errdefs.ErrUnavailable,
	"Unauthorized":       errdefs.ErrUnauthorized,
}

func toWire(err error) *wireError {
	we := &wireError{Resource: errdefs.Resource(err), Message: errdefs.Message(err, "an internal error occurred")}
	if errors.Is(err, invocation.ErrAsyncRun) {
		we.Class = "AsyncRun"
		return we
	}
	for name, class := range classes {
		if errors.Is(err, class) {
			we.Class = name
			break
		}
	}
	return we
}

func (we *wireError) err() error {
	if we.Class == "AsyncRun" {
		return invocation.ErrAsyncRun
	}
	class, ok := classes[we.Class]
	if !ok {
		return errors.New(we.Message)
	}
	return errdefs.New(class, we.Resource, "%s", we.Message)
}

// invokeAt runs req on the replica to. sent is false when to could not
// be reached: nothing of req reached it.
func (f *Forwarder) invokeAt(ctx context.Context, to Member, req invocation.Request) (_ *invocation.Result, _ error, sent bool) {
	meta, err := json.Marshal(wireRequest{
		Namespace: req.Namespace, Function: req.Function, Qualifier: req.Qualifier, RoutingKey: req.RoutingKey,
		LogTail: req.LogTail, Async: req.Async, RetryNum: req.RetryNum, TriggerSrc: req.TriggerSrc, RequestID: req.RequestID,
	})
	if err != nil {
		return nil, err, true
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+to.Addr+"/", bytes.NewReader(req.Event))
	if err != nil {
		return nil, err, true
	}
	hreq.Header.Set(KindHeader, KindInvoke)
	hreq.Header.Set(InvocationHeader, base64.StdEncoding.EncodeToString(meta))
	sign(hreq, f.opts.Secret, f.opts.Self, f.opts.Now())
	resp, err := f.client.Do(hreq)
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, ctx.Err(), true
	case err != nil:
		return nil, f.unreachable(to, err), !isDial(err)
	}
	defer resp.Body.Close()
	if drained(resp) {
		return nil, f.unreachable(to, errDraining), false
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, f.unreachable(to, fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(body))), true
	}
	var ans wireAnswer
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err(), true
		}
		return nil, f.unreachable(to, err), true
	}
	switch {
	case ans.Error != nil:
		return nil, ans.Error.err(), true
	case ans.Result == nil:
		return nil, f.unreachable(to, errors.New("an answer without a result")), true
	}
	return ans.Result, nil, true
}

// unreachable logs why the replica to failed a forwarded invocation and
// returns the error its caller sees.
func (f *Forwarder) unreachable(to Member, err error) error {
	f.log.Warn("cluster: forwarding an invocation", "replica", to.ID, "addr", to.Addr, "err", err)
	return errdefs.New(errdefs.ErrUnavailable, "", "the scfd replica that runs this function could not be reached: retry")
}

// serveInvoke runs an event invocation another replica forwarded.
func (f *Forwarder) serveInvoke(w http.ResponseWriter, r *http.Request, local Invoker) {
	meta, err := base64.StdEncoding.DecodeString(r.Header.Get(InvocationHeader))
	var wr wireRequest
	if err == nil {
		err = json.Unmarshal(meta, &wr)
	}
	if err != nil {
		http.Error(w, "cluster: a malformed invocation", http.StatusBadRequest)
		return
	}
	event, err := io.ReadAll(io.LimitReader(r.Body, invocation.MaxSyncEventBytes+1))
	if err != nil {
		http.Error(w, "cluster: reading the event", http.StatusBadRequest)
		return
	}
	res, err := local.Invoke(r.Context(), invocation.Request{
		Namespace: wr.Namespace, Function: wr.Function, Qualifier: wr.Qualifier, RoutingKey: wr.RoutingKey,
		Event: event, LogTail: wr.LogTail, Async: wr.Async, RetryNum: wr.RetryNum, TriggerSrc: wr.TriggerSrc, RequestID: wr.RequestID,
	})
	var ans wireAnswer
	if err != nil {
		ans.Error = toWire(err)
	} else {
		ans.Result = res
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(ans)
}
