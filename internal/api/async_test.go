package api_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scfd/scfd/internal/api"
	"github.com/scfd/scfd/internal/async"
	"github.com/scfd/scfd/internal/invocation"
)

// failingInvoker fails every attempt with a function error until ok is set.
type failingInvoker struct{ ok atomic.Bool }

func (f *failingInvoker) Invoke(ctx context.Context, req invocation.Request) (*invocation.Result, error) {
	if f.ok.Load() {
		return &invocation.Result{RequestID: req.RequestID}, nil
	}
	return &invocation.Result{RequestID: req.RequestID, RetCode: 430, InvokeResult: 430, ErrMsg: "boom"}, nil
}

func setupAsync(t *testing.T) (*env, *failingInvoker) {
	t.Helper()
	iv := &failingInvoker{}
	e := setup(t, false, func(e *env, o *api.Options) {
		q, err := async.Open(context.Background(), async.Options{Store: e.store, Functions: e.store, Invoker: iv})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { q.Close() })
		o.Invoker, o.Queue, o.Async = iv, q, q
	})
	call(t, e.admin, "CreateNamespace", api.CreateNamespaceRequest{Namespace: "team"}, nil)
	call(t, e.admin, "CreateFunction", api.CreateFunctionRequest{FunctionName: "fn", Code: imageCode("127.0.0.1:5000/a/b:1")}, nil)
	return e, iv
}

// waitEvent polls GetAsyncEventStatus until the event has status.
func waitEvent(t *testing.T, e *env, id, status string) api.AsyncEventStatus {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var resp api.GetAsyncEventStatusResponse
		call(t, e.admin, "GetAsyncEventStatus", api.GetAsyncEventStatusRequest{InvokeRequestId: id}, &resp)
		if resp.Result.Status == status {
			return resp.Result
		}
		if time.Now().After(deadline) {
			t.Fatalf("event %s is %s, want %s", id, resp.Result.Status, status)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestEventInvokeConfig(t *testing.T) {
	e, _ := setupAsync(t)
	var got api.GetFunctionEventInvokeConfigResponse
	call(t, e.admin, "GetFunctionEventInvokeConfig", api.GetFunctionEventInvokeConfigRequest{FunctionName: "fn"}, &got)
	want := api.AsyncTriggerConfig{RetryConfig: []api.RetryConfig{{RetryNum: 2, RetryInterval: 60}}, MsgTTL: 21600}
	if diff := cmp.Diff(want, got.AsyncTriggerConfig); diff != "" {
		t.Errorf("default config (-want +got):\n%s", diff)
	}
	call(t, e.admin, "UpdateFunctionEventInvokeConfig", api.UpdateFunctionEventInvokeConfigRequest{
		FunctionName: "fn", AsyncTriggerConfig: &api.AsyncTriggerConfig{RetryConfig: []api.RetryConfig{{RetryNum: 1}}, MsgTTL: 600},
	}, nil)
	call(t, e.admin, "GetFunctionEventInvokeConfig", api.GetFunctionEventInvokeConfigRequest{FunctionName: "fn"}, &got)
	want = api.AsyncTriggerConfig{RetryConfig: []api.RetryConfig{{RetryNum: 1, RetryInterval: 60}}, MsgTTL: 600}
	if diff := cmp.Diff(want, got.AsyncTriggerConfig); diff != "" {
		t.Errorf("updated config (-want +got):\n%s", diff)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name, action string
		req          any
		code         string
	}{
		{"MsgTTL too small", "UpdateFunctionEventInvokeConfig", api.UpdateFunctionEventInvokeConfigRequest{
			FunctionName: "fn", AsyncTriggerConfig: &api.AsyncTriggerConfig{MsgTTL: 1}}, "LimitExceeded.MsgTTL"},
		{"no config", "UpdateFunctionEventInvokeConfig", api.UpdateFunctionEventInvokeConfigRequest{FunctionName: "fn"}, "MissingParameter"},
		{"unknown function", "UpdateFunctionEventInvokeConfig", api.UpdateFunctionEventInvokeConfigRequest{
			FunctionName: "nope", AsyncTriggerConfig: &api.AsyncTriggerConfig{MsgTTL: 600}}, "ResourceNotFound.Function"},
		{"get unknown function", "GetFunctionEventInvokeConfig", api.GetFunctionEventInvokeConfigRequest{FunctionName: "nope"}, "ResourceNotFound.Function"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := code(e.admin.Call(ctx, tc.action, tc.req, nil)); got != tc.code {
				t.Errorf("code = %q, want %q", got, tc.code)
			}
		})
	}
}

func TestAsyncEventActions(t *testing.T) {
	e, iv := setupAsync(t)
	ctx := context.Background()
	call(t, e.admin, "UpdateFunctionEventInvokeConfig", api.UpdateFunctionEventInvokeConfigRequest{
		FunctionName: "fn", AsyncTriggerConfig: &api.AsyncTriggerConfig{RetryConfig: []api.RetryConfig{{RetryNum: 0}}, MsgTTL: 600},
	}, nil)
	var inv api.InvokeResponse
	call(t, e.admin, "Invoke", api.InvokeRequest{FunctionName: "fn", InvocationType: "Event", ClientContext: `{"a":1}`}, &inv)
	id := inv.Result.FunctionRequestId
	if id == "" {
		t.Fatal("no FunctionRequestId")
	}
	st := waitEvent(t, e, id, "FAILED")
	if diff := cmp.Diff(api.AsyncEventStatus{Status: "FAILED", StatusCode: 430, InvokeRequestId: id}, st); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}

	var list api.ListAsyncEventsResponse
	call(t, e.admin, "ListAsyncEvents", api.ListAsyncEventsRequest{FunctionName: "fn", Status: []string{"FAILED"}}, &list)
	if list.TotalCount != 1 || len(list.EventList) != 1 {
		t.Fatalf("ListAsyncEvents = %+v, want the one dead letter", list)
	}
	ev := list.EventList[0]
	if ev.InvokeRequestId != id || ev.InvokeType != "invoke" || ev.Qualifier != "$LATEST" || ev.ErrMsg != "boom" ||
		ev.StartTime == "" || ev.EndTime == "" || ev.Attempts != 1 {
		t.Errorf("event = %+v", ev)
	}
	call(t, e.admin, "ListAsyncEvents", api.ListAsyncEventsRequest{FunctionName: "fn", Status: []string{"RUNNING"}}, &list)
	if list.TotalCount != 0 {
		t.Errorf("RUNNING events: %+v, want none", list)
	}

	for _, tc := range []struct {
		name, action string
		req          any
		code         string
	}{
		{"other namespace's event", "GetAsyncEventStatus", api.GetAsyncEventStatusRequest{InvokeRequestId: id}, "ResourceNotFound.AsyncEvent"},
		{"list another namespace", "ListAsyncEvents", api.ListAsyncEventsRequest{FunctionName: "fn"}, "UnauthorizedOperation.CAM"},
		{"retry another namespace's event", "RetryAsyncEvent", api.RetryAsyncEventRequest{InvokeRequestId: id}, "ResourceNotFound.AsyncEvent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := code(e.team.Call(ctx, tc.action, tc.req, nil)); got != tc.code {
				t.Errorf("code = %q, want %q", got, tc.code)
			}
		})
	}
	if got := code(e.admin.Call(ctx, "TerminateAsyncEvent", api.TerminateAsyncEventRequest{FunctionName: "fn", InvokeRequestId: id}, nil)); got != "FailedOperation.AsyncEventStatus" {
		t.Errorf("terminating an ended event: %q, want FailedOperation.AsyncEventStatus", got)
	}
	if got := code(e.admin.Call(ctx, "ListAsyncEvents", api.ListAsyncEventsRequest{FunctionName: "fn", Status: []string{"DONE"}}, nil)); got != "InvalidParameterValue.Status" {
		t.Errorf("bad status: %q", got)
	}

	iv.ok.Store(true)
	call(t, e.admin, "RetryAsyncEvent", api.RetryAsyncEventRequest{InvokeRequestId: id}, nil)
	if st := waitEvent(t, e, id, "FINISHED"); st.StatusCode != 200 {
		t.Errorf("StatusCode = %d, want 200", st.StatusCode)
	}
}
