package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scfd/scfd/internal/api"
	"github.com/scfd/scfd/internal/logs"
	"github.com/scfd/scfd/internal/scf"
)

func TestGetRequestStatus(t *testing.T) {
	e := setupInvoke(t, false)
	ctx := context.Background()
	for _, ns := range []string{"default", "team"} {
		if ns != "default" {
			if err := e.st.CreateNamespace(ctx, scf.Namespace{Name: ns, Type: "custom"}); err != nil {
				t.Fatal(err)
			}
		}
		fn := &scf.Function{Namespace: ns, Name: "fn", Image: scf.ImageConfig{ImageUri: "127.0.0.1:5000/a/b:1"}}
		scf.ApplyDefaults(fn)
		if err := e.st.CreateFunction(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	put := func(e2 logs.Entry) {
		t.Helper()
		e2.Namespace, e2.Function, e2.Qualifier, e2.InvokeFinished = "default", "fn", "$LATEST", 1
		if err := e.logs.Put(ctx, e2); err != nil {
			t.Fatal(err)
		}
	}
	put(logs.Entry{RequestID: "ok", StartTime: now.Add(-time.Minute), RetMsg: "fine", Duration: 12.5, MemUsage: 3 << 20})
	put(logs.Entry{RequestID: "failed", StartTime: now.Add(-2 * time.Minute), RetCode: 433, RetMsg: "timed out", Duration: 3000})
	// Three attempts of an async event: the last one counts.
	for i, code := range []int{430, 430, 0} {
		put(logs.Entry{RequestID: "retried", StartTime: now.Add(time.Duration(i-3) * time.Minute), RetCode: code, RetMsg: "attempt", RetryNum: i})
	}
	put(logs.Entry{RequestID: "old", StartTime: now.Add(-20 * time.Minute)})
	e.logs.Begin(logs.Entry{RequestID: "busy", Namespace: "default", Function: "fn", StartTime: now.Add(-time.Second)})
	e.logs.Begin(logs.Entry{RequestID: "elsewhere", Namespace: "team", Function: "fn", StartTime: now.Add(-time.Second)})

	at := func(d time.Duration) string { return now.Add(d).UTC().Format(time.DateTime) }
	for _, tc := range []struct {
		name string
		req  api.GetRequestStatusRequest
		want []api.RequestStatus
	}{
		{"succeeded", api.GetRequestStatusRequest{FunctionRequestId: "ok"},
			[]api.RequestStatus{{RetMsg: "fine", StartTime: at(-time.Minute), RetCode: 0, Duration: 12.5, MemUsage: 3}}},
		{"failed", api.GetRequestStatusRequest{FunctionRequestId: "failed"},
			[]api.RequestStatus{{RetMsg: "timed out", StartTime: at(-2 * time.Minute), RetCode: -1, Duration: 3000}}},
		{"retried", api.GetRequestStatusRequest{FunctionRequestId: "retried"},
			[]api.RequestStatus{{RetMsg: "attempt", StartTime: at(-time.Minute), RetCode: 0, RetryNum: 2}}},
		{"running", api.GetRequestStatusRequest{FunctionRequestId: "busy"},
			[]api.RequestStatus{{StartTime: at(-time.Second), RetCode: 1}}},
		{"older than 15 minutes", api.GetRequestStatusRequest{FunctionRequestId: "old"}, []api.RequestStatus{}},
		{"in a range that holds it", api.GetRequestStatusRequest{FunctionRequestId: "old", StartTime: at(-time.Hour), EndTime: at(0)},
			[]api.RequestStatus{{StartTime: at(-20 * time.Minute)}}},
		{"unknown", api.GetRequestStatusRequest{FunctionRequestId: "nope"}, []api.RequestStatus{}},
		{"of another namespace's function", api.GetRequestStatusRequest{FunctionRequestId: "elsewhere"}, []api.RequestStatus{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.FunctionName = "fn"
			for i := range tc.want {
				tc.want[i].FunctionName, tc.want[i].RequestId = "fn", tc.req.FunctionRequestId
			}
			var resp api.GetRequestStatusResponse
			call(t, e.admin, "GetRequestStatus", tc.req, &resp)
			if diff := cmp.Diff(tc.want, resp.Data); diff != "" || resp.TotalCount != int64(len(tc.want)) {
				t.Errorf("TotalCount %d, Data (-want +got):\n%s", resp.TotalCount, diff)
			}
		})
	}

	team := e.client(teamCred)
	for _, tc := range []struct {
		name string
		c    interface {
			Call(context.Context, string, any, any) error
		}
		req  api.GetRequestStatusRequest
		want string
	}{
		{"no request id", e.admin, api.GetRequestStatusRequest{FunctionName: "fn"}, "MissingParameter"},
		{"unknown function", e.admin, api.GetRequestStatusRequest{FunctionName: "ghost", FunctionRequestId: "ok"}, "ResourceNotFound.Function"},
		{"StartTime without EndTime", e.admin, api.GetRequestStatusRequest{FunctionName: "fn", FunctionRequestId: "ok", StartTime: at(-time.Hour)}, "InvalidParameterValue.StartTimeOrEndTime"},
		{"EndTime before StartTime", e.admin, api.GetRequestStatusRequest{FunctionName: "fn", FunctionRequestId: "ok", StartTime: at(0), EndTime: at(-time.Hour)}, "InvalidParameterValue.StartTimeOrEndTime"},
		{"another namespace's key", team, api.GetRequestStatusRequest{FunctionName: "fn", FunctionRequestId: "ok"}, "UnauthorizedOperation.CAM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := code(tc.c.Call(ctx, "GetRequestStatus", tc.req, nil)); got != tc.want {
				t.Errorf("code %q, want %q", got, tc.want)
			}
		})
	}
	// A key of the team namespace sees its own request, not default's.
	var resp api.GetRequestStatusResponse
	call(t, team, "GetRequestStatus", api.GetRequestStatusRequest{FunctionName: "fn", Namespace: "team", FunctionRequestId: "ok"}, &resp)
	if resp.TotalCount != 0 {
		t.Errorf("team sees default's request: %+v", resp)
	}
	call(t, team, "GetRequestStatus", api.GetRequestStatusRequest{FunctionName: "fn", Namespace: "team", FunctionRequestId: "elsewhere"}, &resp)
	if resp.TotalCount != 1 || resp.Data[0].RetCode != 1 {
		t.Errorf("team's running request: %+v", resp)
	}
}
