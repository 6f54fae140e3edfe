package api_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scfd/scfd/internal/api"
	"github.com/scfd/scfd/internal/client"
	"github.com/scfd/scfd/internal/credentials"
	"github.com/scfd/scfd/internal/invocation"
	"github.com/scfd/scfd/internal/logs"
	"github.com/scfd/scfd/internal/store"
	"github.com/scfd/scfd/internal/tc3"
)

// fakeInvoker records requests and answers a fixed result.
type fakeInvoker struct {
	mu   sync.Mutex
	reqs []invocation.Request
}

func (f *fakeInvoker) Invoke(ctx context.Context, req invocation.Request) (*invocation.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, req)
	return &invocation.Result{RequestID: "fr-1", RetCode: 433, InvokeResult: 433, RetMsg: "r", ErrMsg: "e",
		Duration: 1.25, BillDuration: 2, MemUsage: 4096, Log: "the tail"}, nil
}

type fakeQueue struct{ got []invocation.Request }

func (q *fakeQueue) Enqueue(ctx context.Context, req invocation.Request) (string, error) {
	q.got = append(q.got, req)
	return "async-1", nil
}

type invokeEnv struct {
	st     *store.Store
	inv    *fakeInvoker
	queue  *fakeQueue
	issuer *credentials.Issuer
	logs   *logs.Store
	url    string
	clock  *testClock
	admin  *client.Client
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func setupInvoke(t *testing.T, withQueue bool) *invokeEnv {
	t.Helper()
	st, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &invokeEnv{st: st, inv: &fakeInvoker{}, clock: &testClock{t: now}}
	e.issuer = credentials.NewIssuer(credentials.IssuerOptions{Now: e.clock.now})
	e.logs, err = logs.Open(context.Background(), st, logs.Options{Now: e.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.logs.Close() })
	opts := api.Options{
		Store:    st,
		Keys:     api.WithTemporaryKeys(api.KeyLookupFunc(keys), e.issuer),
		Now:      e.clock.now,
		Location: time.UTC,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Invoker:  e.inv,
		Logs:     e.logs,
	}
	if withQueue {
		e.queue = &fakeQueue{}
		opts.Queue = e.queue
	}
	srv := api.New(opts)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	e.url = hs.URL
	e.admin = e.client(adminCred)
	return e
}

func (e *invokeEnv) client(cred tc3.Credential) *client.Client {
	return client.New(e.url, cred, client.WithClock(e.clock.now))
}

func TestInvokeActions(t *testing.T) {
	e := setupInvoke(t, false)
	var resp api.InvokeResponse
	call(t, e.admin, "Invoke", api.InvokeRequest{FunctionName: "fn", ClientContext: `{"a":1}`, LogType: "Tail"}, &resp)
	want := api.InvokeResult{Log: "the tail", RetMsg: "r", ErrMsg: "e", MemUsage: 4096, Duration: 1.25, BillDuration: 2,
		FunctionRequestId: "fr-1", InvokeResult: 433}
	if d := cmp.Diff(want, resp.Result); d != "" {
		t.Errorf("Result (-want +got):\n%s", d)
	}
	call(t, e.admin, "InvokeFunction", api.InvokeFunctionRequest{FunctionName: "fn", Namespace: "team", Event: `[1]`}, &resp)
	call(t, e.admin, "Invoke", api.InvokeRequest{FunctionName: "fn", Qualifier: "3"}, &resp)
	call(t, e.admin, "Invoke", api.InvokeRequest{FunctionName: "fn", Qualifier: "prod", RoutingKey: `{"User":"Bob"}`}, &resp)
	wantReqs := []invocation.Request{
		{Namespace: "default", Function: "fn", Qualifier: "$LATEST", Event: []byte(`{"a":1}`), LogTail: true},
		{Namespace: "team", Function: "fn", Qualifier: "$DEFAULT", Event: []byte(`[1]`)},
		{Namespace: "default", Function: "fn", Qualifier: "3", Event: []byte{}},
		{Namespace: "default", Function: "fn", Qualifier: "prod", RoutingKey: map[string]string{"User": "Bob"}, Event: []byte{}},
	}
	if d := cmp.Diff(wantReqs, e.inv.reqs); d != "" {
		t.Errorf("requests (-want +got):\n%s", d)
	}
	err := e.admin.Call(context.Background(), "Invoke", api.InvokeRequest{FunctionName: "fn", RoutingKey: `["Bob"]`}, &resp)
	if code(err) != "InvalidParameterValue.RoutingKey" {
		t.Errorf("a RoutingKey that is not an object: %v", err)
	}
}

func TestInvokeRefusals(t *testing.T) {
	e := setupInvoke(t, false)
	tests := []struct {
		name string
		req  api.InvokeRequest
		code string
	}{
		{"not json", api.InvokeRequest{FunctionName: "fn", ClientContext: "{nope"}, "InvalidParameterValue.ClientContext"},
		{"over 6 MB", api.InvokeRequest{FunctionName: "fn", ClientContext: `"` + strings.Repeat("a", 6<<20) + `"`}, "InvalidParameter.RequestTooLarge"},
		{"async without a queue", api.InvokeRequest{FunctionName: "fn", InvocationType: "Event"}, "UnsupportedOperation.InvocationType"},
		{"bad invocation type", api.InvokeRequest{FunctionName: "fn", InvocationType: "Later"}, "InvalidParameterValue.InvocationType"},
		{"bad log type", api.InvokeRequest{FunctionName: "fn", LogType: "All"}, "InvalidParameterValue.LogType"},
		{"bad name", api.InvokeRequest{FunctionName: "1x"}, "InvalidParameterValue.FunctionName"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.admin.Call(context.Background(), "Invoke", tt.req, &api.InvokeResponse{})
			if got := code(err); got != tt.code {
				t.Errorf("code = %q, want %q (%v)", got, tt.code, err)
			}
		})
	}
	if len(e.inv.reqs) != 0 {
		t.Errorf("refused calls reached the invoker: %v", e.inv.reqs)
	}
}

func TestInvokeAsyncQueue(t *testing.T) {
	e := setupInvoke(t, true)
	var resp api.InvokeResponse
	call(t, e.admin, "Invoke", api.InvokeRequest{FunctionName: "fn", InvocationType: "Event", ClientContext: `{}`, LogType: "Tail"}, &resp)
	if resp.Result.FunctionRequestId != "async-1" || len(e.queue.got) != 1 || !e.queue.got[0].Async || e.queue.got[0].LogTail {
		t.Errorf("response %+v, queued %+v", resp, e.queue.got)
	}
	err := e.admin.Call(context.Background(), "Invoke", api.InvokeRequest{FunctionName: "fn", InvocationType: "Event",
		ClientContext: `"` + strings.Repeat("a", 128<<10) + `"`}, &resp)
	if got := code(err); got != "InvalidParameter.RequestTooLarge" {
		t.Errorf("async event over 128 KB: code %q", got)
	}
}

func TestTemporaryCredentials(t *testing.T) {
	e := setupInvoke(t, false)
	tmp := e.issuer.Issue("team", time.Minute)
	own := e.client(tc3.Credential{SecretID: tmp.SecretID, SecretKey: tmp.SecretKey, Token: tmp.Token})
	var resp api.InvokeResponse
	if err := own.Call(context.Background(), "Invoke", api.InvokeRequest{FunctionName: "fn", Namespace: "team"}, &resp); err != nil {
		t.Fatalf("own namespace: %v", err)
	}
	err := own.Call(context.Background(), "Invoke", api.InvokeRequest{FunctionName: "fn", Namespace: "default"}, &resp)
	if got := code(err); got != "UnauthorizedOperation.CAM" {
		t.Errorf("other namespace: code %q, want UnauthorizedOperation.CAM", got)
	}
	for name, tok := range map[string]string{"no token": "", "wrong token": "x" + tmp.Token} {
		c := e.client(tc3.Credential{SecretID: tmp.SecretID, SecretKey: tmp.SecretKey, Token: tok})
		err := c.Call(context.Background(), "Invoke", api.InvokeRequest{FunctionName: "fn", Namespace: "team"}, &resp)
		if got := code(err); got != "AuthFailure.TokenFailure" {
			t.Errorf("%s: code %q, want AuthFailure.TokenFailure", name, got)
		}
	}
	e.clock.add(time.Minute)
	err = own.Call(context.Background(), "Invoke", api.InvokeRequest{FunctionName: "fn", Namespace: "team"}, &resp)
	if got := code(err); got != "AuthFailure.TokenFailure" {
		t.Errorf("expired: code %q, want AuthFailure.TokenFailure", got)
	}
	err = e.client(tc3.Credential{SecretID: "AKIDtmpunknown", SecretKey: "k"}).Call(context.Background(), "Invoke", api.InvokeRequest{FunctionName: "fn"}, &resp)
	if got := code(err); got != "AuthFailure.SecretIdNotFound" {
		t.Errorf("unknown: code %q, want AuthFailure.SecretIdNotFound", got)
	}
	if n := len(e.inv.reqs); n != 1 {
		t.Errorf("%d invocations ran, want only the authorized one", n)
	}
}

func TestGetFunctionLogs(t *testing.T) {
	e := setupInvoke(t, false)
	ctx := context.Background()
	for i, code := range []int{0, 433, 0} {
		id := []string{"a", "b", "c"}[i]
		e.logs.Put(ctx, logs.Entry{RequestID: id, Namespace: "default", Function: "fn", Qualifier: "$LATEST",
			StartTime: now.Add(time.Duration(i-10) * time.Minute), RetCode: code, RetMsg: "m" + id, Duration: 1.5,
			BillDuration: 2, MemUsage: 100, Log: "log " + id, InvokeFinished: 1, RetryNum: i})
	}
	var resp api.GetFunctionLogsResponse
	call(t, e.admin, "GetFunctionLogs", api.GetFunctionLogsRequest{FunctionName: "fn", FunctionRequestId: "b"}, &resp)
	want := []api.FunctionLog{{FunctionName: "fn", RetMsg: "mb", RequestId: "b", StartTime: "2025-06-01 11:51:00",
		RetCode: 433, InvokeFinished: 1, Duration: 1.5, BillDuration: 2, MemUsage: 100, Log: "log b", RetryNum: 1}}
	if d := cmp.Diff(want, resp.Data); d != "" || resp.TotalCount != 1 {
		t.Errorf("by request id: total %d (-want +got):\n%s", resp.TotalCount, d)
	}
	call(t, e.admin, "GetFunctionLogs", api.GetFunctionLogsRequest{FunctionName: "fn", Filter: &api.LogFilter{RetCode: "is0"}, Limit: 1}, &resp)
	if resp.TotalCount != 2 || len(resp.Data) != 1 || resp.Data[0].RequestId != "c" {
		t.Errorf("is0, limit 1: %+v", resp)
	}
	call(t, e.admin, "GetFunctionLogs", api.GetFunctionLogsRequest{FunctionName: "fn", Filter: &api.LogFilter{RetCode: "TimeLimitExceeded"}}, &resp)
	if resp.TotalCount != 1 || resp.Data[0].RequestId != "b" {
		t.Errorf("TimeLimitExceeded: %+v", resp)
	}
	call(t, e.admin, "GetFunctionLogs", api.GetFunctionLogsRequest{FunctionName: "fn", StartTime: "2025-06-01 11:49:30", EndTime: "2025-06-01 11:51:30", Order: "asc"}, &resp)
	if resp.TotalCount != 2 || resp.Data[0].RequestId != "a" {
		t.Errorf("time window: %+v", resp)
	}
	for name, req := range map[string]api.GetFunctionLogsRequest{
		"bad filter":  {FunctionName: "fn", Filter: &api.LogFilter{RetCode: "maybe"}},
		"bad time":    {FunctionName: "fn", StartTime: "yesterday"},
		"wide window": {FunctionName: "fn", StartTime: "2025-05-01 00:00:00", EndTime: "2025-06-01 00:00:00"},
	} {
		if got := code(e.admin.Call(ctx, "GetFunctionLogs", req, &resp)); !strings.HasPrefix(got, "InvalidParameterValue") {
			t.Errorf("%s: code %q, want InvalidParameterValue...", name, got)
		}
	}
	team := e.client(teamCred)
	if got := code(team.Call(ctx, "GetFunctionLogs", api.GetFunctionLogsRequest{FunctionName: "fn"}, &resp)); got != "UnauthorizedOperation.CAM" {
		t.Errorf("another namespace's logs: code %q", got)
	}
}
