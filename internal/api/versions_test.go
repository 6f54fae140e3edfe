package api_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/scfd/scfd/internal/api"
)

func TestVersionsAndAliases(t *testing.T) {
	e := setup(t, false, func(e *env, o *api.Options) { o.Versions = e.store })
	ctx := context.Background()
	img := &api.Code{ImageConfig: &api.ImageConfig{ImageType: "personal", ImageUri: "127.0.0.1:5000/a/b:1"}}
	call(t, e.admin, "CreateFunction", api.CreateFunctionRequest{FunctionName: "hello", Code: img}, nil)

	var v1, v2 api.PublishVersionResponse
	call(t, e.admin, "PublishVersion", api.PublishVersionRequest{FunctionName: "hello", Description: "one"}, &v1)
	mem := int64(512)
	call(t, e.admin, "UpdateFunctionConfiguration", api.UpdateFunctionConfigurationRequest{FunctionName: "hello", MemorySize: &mem}, nil)
	call(t, e.admin, "PublishVersion", api.PublishVersionRequest{FunctionName: "hello"}, &v2)
	if v1.FunctionVersion != "1" || v2.FunctionVersion != "2" || v1.MemorySize != 128 || v2.MemorySize != 512 {
		t.Errorf("published %+v and %+v", v1, v2)
	}
	var got api.GetFunctionResponse
	call(t, e.admin, "GetFunction", api.GetFunctionRequest{FunctionName: "hello", Qualifier: "1"}, &got)
	if got.FunctionVersion != "1" || got.MemorySize != 128 || got.Description != "one" {
		t.Errorf("GetFunction of version 1: version %s memory %d description %q", got.FunctionVersion, got.MemorySize, got.Description)
	}
	var list api.ListVersionByFunctionResponse
	call(t, e.admin, "ListVersionByFunction", api.ListVersionByFunctionRequest{FunctionName: "hello"}, &list)
	if diff := cmp.Diff([]string{"$LATEST", "1", "2"}, list.FunctionVersion); diff != "" || list.TotalCount != 3 {
		t.Errorf("ListVersionByFunction (-want +got):\n%s", diff)
	}

	weights := &api.RoutingConfig{AdditionalVersionWeights: []api.VersionWeight{{Version: "2", Weight: 0.3}}}
	call(t, e.admin, "CreateAlias", api.AliasRequest{Name: "prod", FunctionName: "hello", FunctionVersion: "1", RoutingConfig: weights}, nil)
	var alias api.Alias
	call(t, e.admin, "GetAlias", api.AliasKey{FunctionName: "hello", Name: "prod"}, &alias)
	if alias.FunctionVersion != "1" || len(alias.RoutingConfig.AdditionalVersionWeights) != 1 || alias.RoutingConfig.AdditionalVersionWeights[0].Weight != 0.3 {
		t.Errorf("GetAlias: %+v", alias)
	}
	for _, tc := range []struct {
		action string
		req    any
		want   string
	}{
		{"DeleteFunctionVersion", api.DeleteFunctionVersionRequest{FunctionName: "hello", Qualifier: "2"}, "UnsupportedOperation.AliasBind"},
		{"DeleteFunction", api.DeleteFunctionRequest{FunctionName: "hello", Qualifier: "1"}, "UnsupportedOperation.AliasBind"},
		{"DeleteFunctionVersion", api.DeleteFunctionVersionRequest{FunctionName: "hello", Qualifier: "$LATEST"}, "InvalidParameterValue.Qualifier"},
		{"DeleteFunctionVersion", api.DeleteFunctionVersionRequest{FunctionName: "hello", Qualifier: "7"}, "ResourceNotFound.Version"},
		{"CreateAlias", api.AliasRequest{Name: "prod", FunctionName: "hello", FunctionVersion: "1"}, "ResourceInUse.Alias"},
		{"CreateAlias", api.AliasRequest{Name: "x", FunctionName: "hello", FunctionVersion: "9"}, "ResourceNotFound.FunctionVersion"},
		{"CreateAlias", api.AliasRequest{Name: "1bad", FunctionName: "hello", FunctionVersion: "1"}, "InvalidParameterValue.Name"},
		{"CreateAlias", api.AliasRequest{Name: "heavy", FunctionName: "hello", FunctionVersion: "1",
			RoutingConfig: &api.RoutingConfig{AdditionalVersionWeights: []api.VersionWeight{{Version: "2", Weight: 2}}}}, "InvalidParameterValue.RoutingConfig"},
		{"GetAlias", api.AliasKey{FunctionName: "hello", Name: "ghost"}, "ResourceNotFound.Alias"},
		{"GetAlias", api.AliasKey{FunctionName: "ghost", Name: "prod"}, "ResourceNotFound.Function"},
		{"PublishVersion", api.PublishVersionRequest{FunctionName: "ghost"}, "ResourceNotFound.Function"},
	} {
		if err := e.admin.Call(ctx, tc.action, tc.req, nil); code(err) != tc.want {
			t.Errorf("%s %+v: %v, want %s", tc.action, tc.req, err, tc.want)
		}
	}

	rules := &api.RoutingConfig{AddtionVersionMatchs: []api.VersionMatch{{Version: "1", Key: "invoke.headers.User", Method: "exact", Expression: "Bob"}}}
	call(t, e.admin, "UpdateAlias", api.AliasRequest{Name: "prod", FunctionName: "hello", FunctionVersion: "2", RoutingConfig: rules}, nil)
	var aliases api.ListAliasesResponse
	call(t, e.admin, "ListAliases", api.ListAliasesRequest{FunctionName: "hello", FunctionVersion: "1"}, &aliases)
	if aliases.TotalCount != 1 || aliases.Aliases[0].FunctionVersion != "2" || aliases.Aliases[0].RoutingConfig.AddtionVersionMatchs[0].Expression != "Bob" {
		t.Errorf("ListAliases after the move: %+v", aliases)
	}
	call(t, e.admin, "UpdateAlias", api.AliasRequest{Name: "prod", FunctionName: "hello", FunctionVersion: "2"}, nil)
	call(t, e.admin, "DeleteFunction", api.DeleteFunctionRequest{FunctionName: "hello", Qualifier: "1"}, nil)
	call(t, e.admin, "DeleteAlias", api.AliasKey{FunctionName: "hello", Name: "prod"}, nil)
	call(t, e.admin, "DeleteFunctionVersion", api.DeleteFunctionVersionRequest{FunctionName: "hello", Qualifier: "2"}, nil)
	call(t, e.admin, "ListVersionByFunction", api.ListVersionByFunctionRequest{FunctionName: "hello"}, &list)
	if diff := cmp.Diff([]string{"$LATEST"}, list.FunctionVersion); diff != "" {
		t.Errorf("versions after deletes (-want +got):\n%s", diff)
	}
}
