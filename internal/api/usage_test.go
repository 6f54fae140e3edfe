package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/scfd/scfd/internal/api"
	"github.com/scfd/scfd/internal/meter"
)

func TestGetUsage(t *testing.T) {
	var m *meter.Meter
	e := setup(t, false, func(e *env, o *api.Options) {
		var err error
		m, err = meter.Open(context.Background(), meter.Options{DB: e.store})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		o.Usage, o.Prices = m, meter.DefaultPrices
	})
	at := time.Date(2026, 11, 27, 10, 30, 0, 0, time.UTC)
	for i, ns := range []string{"default", "team", "team"} {
		err := m.Record(context.Background(), meter.Invocation{RequestID: string(rune('a' + i)), Namespace: ns, Function: "f",
			Qualifier: "$LATEST", MemoryMB: 512, BillDuration: 2000, Time: at})
		if err != nil {
			t.Fatal(err)
		}
	}
	var all api.GetUsageResponse
	call(t, e.admin, "GetUsage", api.GetUsageRequest{}, &all)
	if len(all.Functions) != 2 || all.Total.Invocations != 3 || all.Total.GBSeconds != 3 {
		t.Errorf("all usage: %+v", all)
	}
	var team api.GetUsageResponse
	call(t, e.team, "GetUsage", api.GetUsageRequest{}, &team)
	if len(team.Functions) != 1 || team.Functions[0].Namespace != "team" || team.Total.Invocations != 2 {
		t.Errorf("a team key's usage: %+v", team)
	}
	var later api.GetUsageResponse
	call(t, e.admin, "GetUsage", api.GetUsageRequest{StartTime: "2026-11-27 11:00:00"}, &later)
	if len(later.Functions) != 0 || later.Total.Invocations != 0 {
		t.Errorf("usage after the hour: %+v", later)
	}
	ctx := context.Background()
	for req, want := range map[api.GetUsageRequest]string{
		{Namespace: "default"}:   "UnauthorizedOperation.CAM",
		{StartTime: "yesterday"}: "InvalidParameterValue.StartTime",
		{StartTime: "2026-11-27 10:00:00", EndTime: "2026-11-27 09:00:00"}: "InvalidParameterValue.EndTime",
	} {
		c := e.admin
		if want == "UnauthorizedOperation.CAM" {
			c = e.team
		}
		if err := c.Call(ctx, "GetUsage", req, nil); code(err) != want {
			t.Errorf("GetUsage %+v: %v, want %s", req, err, want)
		}
	}
}
