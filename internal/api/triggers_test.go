package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/scfd/scfd/internal/api"
	"github.com/scfd/scfd/internal/invocation"
	"github.com/scfd/scfd/internal/trigger"
)

type nopQueue struct{}

func (nopQueue) Enqueue(context.Context, invocation.Request) (string, error) { return "", nil }

func TestTriggerActions(t *testing.T) {
	e := setup(t, false, func(e *env, o *api.Options) {
		svc, err := trigger.Open(context.Background(), trigger.Options{DB: e.store, Functions: e.store, Queue: nopQueue{}, GatewayURL: "http://gw"})
		if err != nil {
			t.Fatal(err)
		}
		o.Triggers = svc
	})
	ctx := context.Background()
	img := &api.Code{ImageConfig: &api.ImageConfig{ImageType: "personal", ImageUri: "127.0.0.1:5000/a/b:1"}}
	call(t, e.admin, "CreateFunction", api.CreateFunctionRequest{FunctionName: "hello", Code: img}, nil)

	var created api.CreateTriggerResponse
	call(t, e.admin, "CreateTrigger", api.CreateTriggerRequest{FunctionName: "hello", TriggerName: "nightly", Type: "timer",
		TriggerDesc: "0 0 2 * * * *", CustomArgument: "go"}, &created)
	if ti := created.TriggerInfo; ti.Enable != 1 || ti.Qualifier != "$LATEST" || ti.TriggerDesc != "0 0 2 * * * *" || ti.CustomArgument != "go" {
		t.Errorf("CreateTrigger answered %+v", ti)
	}
	call(t, e.admin, "CreateTrigger", api.CreateTriggerRequest{FunctionName: "hello", TriggerName: "web", Type: "apigw"}, &created)
	if !strings.HasPrefix(created.TriggerInfo.TriggerDesc, "http://gw/default/hello/apigw/web/") {
		t.Errorf("apigw TriggerDesc %q", created.TriggerInfo.TriggerDesc)
	}
	for _, tc := range []struct {
		action string
		req    any
		want   string
	}{
		{"CreateTrigger", api.CreateTriggerRequest{FunctionName: "hello", TriggerName: "nightly", Type: "timer", TriggerDesc: "0 0 2 * * * *"}, "ResourceInUse.Trigger"},
		{"CreateTrigger", api.CreateTriggerRequest{FunctionName: "hello", TriggerName: "bad", Type: "timer", TriggerDesc: "every night"}, "InvalidParameterValue.TriggerDesc"},
		{"CreateTrigger", api.CreateTriggerRequest{FunctionName: "hello", TriggerName: "cos", Type: "cos"}, "InvalidParameterValue.Type"},
		{"CreateTrigger", api.CreateTriggerRequest{FunctionName: "ghost", TriggerName: "t", Type: "timer", TriggerDesc: "0 0 2 * * * *"}, "ResourceNotFound.Function"},
		{"CreateTrigger", api.CreateTriggerRequest{FunctionName: "hello", TriggerName: "t", Type: "timer", TriggerDesc: "0 0 2 * * * *", Enable: "MAYBE"}, "InvalidParameterValue.Enable"},
		{"DeleteTrigger", api.DeleteTriggerRequest{FunctionName: "hello", TriggerName: "ghost", Type: "timer"}, "ResourceNotFound.Trigger"},
		{"UpdateTrigger", api.UpdateTriggerRequest{FunctionName: "hello", TriggerName: "ghost", Type: "timer"}, "ResourceNotFound.Trigger"},
	} {
		if err := e.admin.Call(ctx, tc.action, tc.req, nil); code(err) != tc.want {
			t.Errorf("%s %+v: %v, want %s", tc.action, tc.req, err, tc.want)
		}
	}

	closed := "CLOSE"
	call(t, e.admin, "UpdateTriggerStatus", api.UpdateTriggerRequest{FunctionName: "hello", TriggerName: "nightly", Type: "timer", Enable: &closed}, nil)
	desc, about := "0 30 3 * * * *", "the nightly report"
	call(t, e.admin, "UpdateTrigger", api.UpdateTriggerRequest{FunctionName: "hello", TriggerName: "nightly", Type: "timer", TriggerDesc: &desc, Description: &about}, nil)
	var list api.ListTriggersResponse
	call(t, e.admin, "ListTriggers", api.ListTriggersRequest{FunctionName: "hello", Filters: []api.Filter{{Name: "Type", Values: []string{"timer"}}}}, &list)
	if list.TotalCount != 1 || list.Triggers[0].Enable != 0 || list.Triggers[0].TriggerDesc != desc {
		t.Errorf("ListTriggers: %+v", list)
	}
	names := func(l api.ListTriggersResponse) []string {
		var out []string
		for _, t := range l.Triggers {
			out = append(out, t.TriggerName)
		}
		return out
	}
	// nightly was added first and changed last.
	for _, tc := range []struct {
		name string
		req  api.ListTriggersRequest
		want []string
	}{
		{"by mod_time by default", api.ListTriggersRequest{FunctionName: "hello"}, []string{"nightly", "web"}},
		{"by add_time", api.ListTriggersRequest{FunctionName: "hello", OrderBy: "add_time"}, []string{"web", "nightly"}},
		{"by mod_time ascending", api.ListTriggersRequest{FunctionName: "hello", Order: "ASC"}, []string{"web", "nightly"}},
		{"TriggerName", api.ListTriggersRequest{FunctionName: "hello", Filters: []api.Filter{{Name: "TriggerName", Values: []string{"web", "other"}}}}, []string{"web"}},
		{"TriggerName is exact", api.ListTriggersRequest{FunctionName: "hello", Filters: []api.Filter{{Name: "TriggerName", Values: []string{"nigh"}}}}, nil},
		{"Description", api.ListTriggersRequest{FunctionName: "hello", Filters: []api.Filter{{Name: "Description", Values: []string{"night"}}}}, []string{"nightly"}},
	} {
		var l api.ListTriggersResponse
		call(t, e.admin, "ListTriggers", tc.req, &l)
		if diff := cmp.Diff(tc.want, names(l)); diff != "" || l.TotalCount != int64(len(tc.want)) {
			t.Errorf("ListTriggers %s: TotalCount %d, (-want +got):\n%s", tc.name, l.TotalCount, diff)
		}
	}
	if err := e.admin.Call(ctx, "ListTriggers", api.ListTriggersRequest{FunctionName: "hello", OrderBy: "name"}, nil); code(err) != "InvalidParameterValue.OrderBy" {
		t.Errorf("ListTriggers OrderBy name: %v", err)
	}
	var fn api.GetFunctionResponse
	call(t, e.admin, "GetFunction", api.GetFunctionRequest{FunctionName: "hello"}, &fn)
	if len(fn.Triggers) != 2 {
		t.Errorf("GetFunction lists %d triggers, want 2", len(fn.Triggers))
	}
	call(t, e.admin, "DeleteTrigger", api.DeleteTriggerRequest{FunctionName: "hello", TriggerName: "nightly", Type: "timer"}, nil)
	call(t, e.admin, "ListTriggers", api.ListTriggersRequest{FunctionName: "hello"}, &list)
	if list.TotalCount != 1 || list.Triggers[0].TriggerName != "web" {
		t.Errorf("after delete: %+v", list)
	}
}
