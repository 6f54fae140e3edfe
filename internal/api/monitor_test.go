package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/scfd/scfd/internal/api"
	"github.com/scfd/scfd/internal/monitor"
)

func TestGetFunctionMetrics(t *testing.T) {
	var m *monitor.Monitor
	e := setup(t, false, func(e *env, o *api.Options) {
		var err error
		m, err = monitor.Open(context.Background(), monitor.Options{DB: e.store, Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		o.Metrics = m
	})
	k := monitor.Key{Namespace: "team", Function: "fn", Qualifier: "$LATEST"}
	m.Record(monitor.Invocation{Key: k, Time: now.Add(-2 * time.Minute), Duration: 20 * time.Millisecond, Cold: true, ColdStart: 250 * time.Millisecond})
	m.Record(monitor.Invocation{Key: k, Time: now.Add(-2 * time.Minute), Duration: 20 * time.Millisecond, Error: true, GBSeconds: 0.5})

	var got api.GetFunctionMetricsResponse
	call(t, e.team, "GetFunctionMetrics", api.GetFunctionMetricsRequest{Namespace: "team", FunctionName: "fn"}, &got)
	if got.Step != 60 || len(got.Timestamps) < 60 || len(got.Timestamps) > 61 {
		t.Fatalf("the last hour: step %d, %d points; want 60 s and about 60", got.Step, len(got.Timestamps))
	}
	var inv, errs, cold int64
	var gbs float64
	nulls := 0
	for i := range got.Timestamps {
		inv += got.Invocations[i]
		errs += got.Errors[i]
		cold += got.ColdStarts[i]
		gbs += got.GBSeconds[i]
		if got.DurationP50[i] == nil {
			nulls++
		} else if p := *got.DurationP95[i]; p < 16 || p > 25 {
			t.Errorf("p95 = %v ms, want about 20", p)
		}
		if got.ColdStartMax[i] != nil && *got.ColdStartMax[i] != 250 {
			t.Errorf("longest cold start = %v ms, want 250", *got.ColdStartMax[i])
		}
	}
	if inv != 2 || errs != 1 || cold != 1 || gbs != 0.5 || nulls != len(got.Timestamps)-1 {
		t.Errorf("totals: %d invocations, %d errors, %d cold, %v GB-s, %d empty steps of %d", inv, errs, cold, gbs, nulls, len(got.Timestamps))
	}
	var week api.GetFunctionMetricsResponse
	call(t, e.admin, "GetFunctionMetrics", api.GetFunctionMetricsRequest{Namespace: "team", FunctionName: "fn", Period: "week"}, &week)
	if week.Step != 3600 {
		t.Errorf("a week's step = %d s, want 3600", week.Step)
	}
	ctx := context.Background()
	for name, tc := range map[string]struct {
		req  api.GetFunctionMetricsRequest
		want string
	}{
		"other namespace": {api.GetFunctionMetricsRequest{Namespace: "default", FunctionName: "fn"}, "UnauthorizedOperation.CAM"},
		"bad period":      {api.GetFunctionMetricsRequest{Namespace: "team", FunctionName: "fn", Period: "year"}, "InvalidParameterValue.Period"},
		"half a range":    {api.GetFunctionMetricsRequest{Namespace: "team", FunctionName: "fn", StartTime: "2026-01-01 00:00:00"}, "MissingParameter"},
	} {
		if err := e.team.Call(ctx, "GetFunctionMetrics", tc.req, nil); code(err) != tc.want {
			t.Errorf("%s: %v, want %s", name, err, tc.want)
		}
	}
}

type instances []api.InstanceInfo

func (l instances) Instances() []api.InstanceInfo { return l }

func TestListInstances(t *testing.T) {
	e := setup(t, false, func(e *env, o *api.Options) {
		o.Instances = instances{
			{Namespace: "team", Function: "fn", Qualifier: "1", ID: "b", State: "idle", Started: now.Add(-time.Minute), LastUsed: now},
			{Namespace: "team", Function: "fn", Qualifier: "$LATEST", ID: "a", State: "busy", Requests: 1, Started: now.Add(-2 * time.Minute)},
			{Namespace: "team", Function: "gn", Qualifier: "$LATEST", ID: "c", State: "ready", Started: now},
		}
	})
	var got api.ListInstancesResponse
	call(t, e.team, "ListInstances", api.ListInstancesRequest{Namespace: "team", FunctionName: "fn"}, &got)
	if got.TotalCount != 2 || got.Instances[0].InstanceId != "a" || got.Instances[0].State != "busy" || got.Instances[1].LastUsedTime == "" {
		t.Errorf("instances of f: %+v", got)
	}
	call(t, e.team, "ListInstances", api.ListInstancesRequest{Namespace: "team", FunctionName: "fn", Qualifier: "1"}, &got)
	if got.TotalCount != 1 || got.Instances[0].InstanceId != "b" {
		t.Errorf("instances of f:1: %+v", got)
	}
	if err := e.team.Call(context.Background(), "ListInstances", api.ListInstancesRequest{FunctionName: "fn"}, nil); code(err) != "UnauthorizedOperation.CAM" {
		t.Errorf("another namespace's instances: %v", err)
	}
}

func TestServeActionAnswersWithTheEnvelope(t *testing.T) {
	e := setup(t, false)
	for name, tc := range map[string]struct {
		action, body string
		scope        api.Scope
		want         string
	}{
		"ok":            {"ListNamespaces", `{}`, api.Scope{Admin: true}, ""},
		"not allowed":   {"CreateNamespace", `{"Namespace":"x"}`, api.Scope{Namespaces: []string{"team"}}, "UnauthorizedOperation.CAM"},
		"no action":     {"Nope", `{}`, api.Scope{Admin: true}, "InvalidAction"},
		"bad parameter": {"GetFunction", `{"FunctionName":1}`, api.Scope{Admin: true}, "InvalidParameter"},
	} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/console/api", nil)
		e.api.ServeAction(w, r, tc.action, []byte(tc.body), "AKIDx", tc.scope)
		var env struct {
			Response struct {
				RequestId string
				Error     *struct{ Code string }
			}
		}
		if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil {
			t.Fatalf("%s: %v: %s", name, err, w.Body)
		}
		got := ""
		if env.Response.Error != nil {
			got = env.Response.Error.Code
		}
		if got != tc.want || env.Response.RequestId == "" {
			t.Errorf("%s: code %q, request id %q; want code %q", name, got, env.Response.RequestId, tc.want)
		}
	}
}
