package api_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/scfd/scfd/internal/api"
	"github.com/scfd/scfd/internal/images"
	"github.com/scfd/scfd/internal/pool"
	"github.com/scfd/scfd/internal/sandbox"
)

// noRuntime is a sandbox driver that cannot start anything: provisioned
// instances fail, and report why.
type noRuntime struct{}

func (noRuntime) Start(ctx context.Context, spec sandbox.Spec) (sandbox.Instance, error) {
	return nil, errors.New("no runtime in this test")
}

type noImages struct{}

func (noImages) Get(ctx context.Context, digest string) (*images.Image, error) {
	return &images.Image{Digest: digest, Layers: []string{"/nonexistent"}}, nil
}

func setupConcurrency(t *testing.T) *env {
	t.Helper()
	e := setup(t, false, func(e *env, o *api.Options) {
		p, err := pool.New(context.Background(), pool.Options{Driver: noRuntime{}, Images: noImages{}, Store: e.store})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close(context.Background()) })
		o.Concurrency = p
	})
	call(t, e.admin, "CreateFunction", api.CreateFunctionRequest{FunctionName: "fn", Code: imageCode("127.0.0.1:5000/a/b:1")}, nil)
	return e
}

func ptr[T any](v T) *T { return &v }

func TestReservedConcurrencyActions(t *testing.T) {
	e := setupConcurrency(t)
	ctx := context.Background()
	get := func() *int64 {
		var resp api.GetReservedConcurrencyConfigResponse
		call(t, e.admin, "GetReservedConcurrencyConfig", api.FunctionRef{FunctionName: "fn"}, &resp)
		return resp.ReservedMem
	}
	if got := get(); got != nil {
		t.Errorf("ReservedMem before any setting = %d, want null", *got)
	}
	call(t, e.admin, "PutReservedConcurrencyConfig", api.PutReservedConcurrencyConfigRequest{FunctionName: "fn", ReservedConcurrencyMem: ptr[int64](1024)}, nil)
	if got := get(); got == nil || *got != 1024 {
		t.Errorf("ReservedMem = %v, want 1024", got)
	}

	errs := []struct {
		name   string
		action string
		req    any
		want   string
	}{
		{"above total minus 12800", "PutReservedConcurrencyConfig",
			api.PutReservedConcurrencyConfigRequest{FunctionName: "fn", ReservedConcurrencyMem: ptr[int64](128000 - 12800 + 1)},
			"LimitExceeded.FunctionReservedConcurrencyMemory"},
		{"missing quota", "PutReservedConcurrencyConfig",
			api.PutReservedConcurrencyConfigRequest{FunctionName: "fn"}, "MissingParameter"},
		{"negative quota", "PutReservedConcurrencyConfig",
			api.PutReservedConcurrencyConfigRequest{FunctionName: "fn", ReservedConcurrencyMem: ptr[int64](-1)},
			"InvalidParameterValue.ReservedConcurrencyMem"},
		{"unknown function", "GetReservedConcurrencyConfig", api.FunctionRef{FunctionName: "nope"}, "ResourceNotFound.Function"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			err := e.admin.Call(ctx, tc.action, tc.req, nil)
			if got := code(err); got != tc.want {
				t.Errorf("code %q (%v), want %q", got, err, tc.want)
			}
		})
	}
	// Another namespace's key may not touch it.
	err := e.team.Call(ctx, "GetReservedConcurrencyConfig", api.FunctionRef{FunctionName: "fn"}, nil)
	if got := code(err); got != "UnauthorizedOperation.CAM" {
		t.Errorf("team key: code %q, want UnauthorizedOperation.CAM", got)
	}

	call(t, e.admin, "DeleteReservedConcurrencyConfig", api.FunctionRef{FunctionName: "fn"}, nil)
	if got := get(); got != nil {
		t.Errorf("ReservedMem after delete = %d, want null", *got)
	}
}

func TestTotalConcurrencyAndGetAccount(t *testing.T) {
	e := setupConcurrency(t)
	ctx := context.Background()
	call(t, e.admin, "PutReservedConcurrencyConfig", api.PutReservedConcurrencyConfigRequest{FunctionName: "fn", ReservedConcurrencyMem: ptr[int64](2048)}, nil)
	call(t, e.admin, "PutTotalConcurrencyConfig", api.PutTotalConcurrencyConfigRequest{TotalConcurrencyMem: ptr[int64](20000)}, nil)
	var acct api.GetAccountResponse
	call(t, e.admin, "GetAccount", struct{}{}, &acct)
	got := []int64{acct.AccountUsage.TotalConcurrencyMem, acct.AccountUsage.UserConcurrencyMemLimit,
		acct.AccountUsage.TotalAllocatedConcurrencyMem, acct.AccountLimit.Namespace[0].ConcurrentExecutions}
	if diff := cmp.Diff([]int64{20000, 20000, 2048, 20000}, got); diff != "" {
		t.Errorf("GetAccount quotas (-want +got):\n%s", diff)
	}
	if ns := acct.AccountUsage.Namespace[0]; ns.Namespace != "default" || ns.TotalAllocatedConcurrencyMem != 2048 || ns.TotalAllocatedProvisionedMem != 0 {
		t.Errorf("GetAccount namespace usage %+v, want default with 2048 MB reserved", ns)
	}
	var list api.ListFunctionsResponse
	call(t, e.admin, "ListFunctions", api.ListFunctionsRequest{}, &list)
	if f := list.Functions[0]; f.ReservedConcurrencyMem != 2048 {
		t.Errorf("ListFunctions ReservedConcurrencyMem %d, want 2048", f.ReservedConcurrencyMem)
	}
	err := e.admin.Call(ctx, "PutTotalConcurrencyConfig", api.PutTotalConcurrencyConfigRequest{TotalConcurrencyMem: ptr[int64](2048 + 12800 - 1)}, nil)
	if got := code(err); got != "FailedOperation.ReservedExceedTotal" {
		t.Errorf("total below reserved+12800: code %q, want FailedOperation.ReservedExceedTotal", got)
	}
	err = e.team.Call(ctx, "PutTotalConcurrencyConfig", api.PutTotalConcurrencyConfigRequest{TotalConcurrencyMem: ptr[int64](50000)}, nil)
	if got := code(err); got != "UnauthorizedOperation.CAM" {
		t.Errorf("team key: code %q, want UnauthorizedOperation.CAM", got)
	}
}

func TestProvisionedConcurrencyActions(t *testing.T) {
	e := setupConcurrency(t)
	ctx := context.Background()
	if _, err := e.store.PublishVersion(ctx, "default", "fn", ""); err != nil {
		t.Fatal(err)
	}
	errs := []struct {
		name string
		req  api.PutProvisionedConcurrencyConfigRequest
		want string
	}{
		{"$LATEST", api.PutProvisionedConcurrencyConfigRequest{FunctionName: "fn", Qualifier: "$LATEST", VersionProvisionedConcurrencyNum: ptr[int64](1)},
			"InvalidParameterValue.Qualifier"},
		{"missing version", api.PutProvisionedConcurrencyConfigRequest{FunctionName: "fn", Qualifier: "9", VersionProvisionedConcurrencyNum: ptr[int64](1)},
			"ResourceNotFound.Version"},
		{"missing number", api.PutProvisionedConcurrencyConfigRequest{FunctionName: "fn", Qualifier: "1"}, "MissingParameter"},
		{"dynamic type", api.PutProvisionedConcurrencyConfigRequest{FunctionName: "fn", Qualifier: "1", VersionProvisionedConcurrencyNum: ptr[int64](0),
			ProvisionedType: "ConcurrencyUtilizationTracking"}, "UnsupportedOperation"},
		{"above the unreserved quota", api.PutProvisionedConcurrencyConfigRequest{FunctionName: "fn", Qualifier: "1", VersionProvisionedConcurrencyNum: ptr[int64](1001)},
			"FailedOperation.ProvisionedExceedAvailable"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			err := e.admin.Call(ctx, "PutProvisionedConcurrencyConfig", tc.req, nil)
			if got := code(err); got != tc.want {
				t.Errorf("code %q (%v), want %q", got, err, tc.want)
			}
		})
	}

	call(t, e.admin, "PutProvisionedConcurrencyConfig", api.PutProvisionedConcurrencyConfigRequest{
		FunctionName: "fn", Qualifier: "1", VersionProvisionedConcurrencyNum: ptr[int64](2)}, nil)
	var resp api.GetProvisionedConcurrencyConfigResponse
	for {
		call(t, e.admin, "GetProvisionedConcurrencyConfig", api.GetProvisionedConcurrencyConfigRequest{FunctionName: "fn"}, &resp)
		if len(resp.Allocated) == 1 && resp.Allocated[0].Status == "Failed" {
			break
		}
	}
	var list api.ListFunctionsResponse
	call(t, e.admin, "ListFunctions", api.ListFunctionsRequest{}, &list)
	if f := list.Functions[0]; f.TotalProvisionedConcurrencyMem != 2*128 || f.ReservedConcurrencyMem != 0 {
		t.Errorf("ListFunctions: provisioned %d MB, reserved %d MB; want 256 and 0", f.TotalProvisionedConcurrencyMem, f.ReservedConcurrencyMem)
	}
	var acct api.GetAccountResponse
	call(t, e.admin, "GetAccount", struct{}{}, &acct)
	if ns := acct.AccountUsage.Namespace[0]; ns.TotalAllocatedProvisionedMem != 2*128 {
		t.Errorf("GetAccount: namespace %s has %d MB provisioned, want 256", ns.Namespace, ns.TotalAllocatedProvisionedMem)
	}
	want := api.GetProvisionedConcurrencyConfigResponse{
		UnallocatedConcurrencyNum: (128000 - 2*128) / 128,
		Allocated: []api.VersionProvisionedConcurrencyInfo{{
			AllocatedProvisionedConcurrencyNum: 2, AvailableProvisionedConcurrencyNum: 0,
			Status: "Failed", StatusReason: "no runtime in this test", Qualifier: "1", TriggerActions: []api.TriggerAction{},
		}},
	}
	if diff := cmp.Diff(want, resp); diff != "" {
		t.Errorf("GetProvisionedConcurrencyConfig (-want +got):\n%s", diff)
	}

	call(t, e.admin, "DeleteProvisionedConcurrencyConfig", api.DeleteProvisionedConcurrencyConfigRequest{FunctionName: "fn", Qualifier: "1"}, nil)
	call(t, e.admin, "GetProvisionedConcurrencyConfig", api.GetProvisionedConcurrencyConfigRequest{FunctionName: "fn", Qualifier: "1"}, &resp)
	if len(resp.Allocated) != 0 || resp.UnallocatedConcurrencyNum != 1000 {
		t.Errorf("after delete: %+v", resp)
	}
}
