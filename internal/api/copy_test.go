package api_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/scfd/scfd/internal/api"
)

func TestCopyFunction(t *testing.T) {
	e := setup(t, true)
	ctx := t.Context()
	call(t, e.admin, "CreateNamespace", api.CreateNamespaceRequest{Namespace: "team"}, nil)
	call(t, e.admin, "CreateFunction", api.CreateFunctionRequest{
		FunctionName: "src", Type: "HTTP", Description: "the original", MemorySize: 512, Timeout: 30, InitTimeout: 20,
		Environment: &api.Environment{Variables: []api.Variable{{Key: "A", Value: "1"}}},
		Tags:        []api.Tag{{Key: "env", Value: "prod"}},
		Code: &api.Code{ImageConfig: &api.ImageConfig{ImageType: "personal", ImageUri: "127.0.0.1:5000/a/b:1",
			Command: "/app/server", Args: "--port 9001", ImagePort: 9001}},
		InstanceConcurrencyConfig: &api.InstanceConcurrencyConfig{MaxConcurrency: 8},
		PublicNetConfig:           &api.PublicNetConfigIn{PublicNetStatus: "DISABLE"},
		ProtocolType:              "WS",
		ProtocolParams:            &api.ProtocolParams{WSParams: &api.WSParams{IdleTimeOut: 60}},
	}, nil)
	e.deployer.take()
	get := func(ns, name string) api.GetFunctionResponse {
		t.Helper()
		var g api.GetFunctionResponse
		call(t, e.admin, "GetFunction", api.GetFunctionRequest{Namespace: ns, FunctionName: name}, &g)
		return g
	}
	src := get("default", "src")
	// What a copy must keep of the source, and what it must not.
	same := func(g api.GetFunctionResponse) api.GetFunctionResponse {
		g.FunctionName, g.Namespace, g.FunctionId, g.AddTime, g.ModTime = "", "", "", "", ""
		return g
	}

	call(t, e.admin, "CopyFunction", api.CopyFunctionRequest{FunctionName: "src", NewFunctionName: "dup", TargetNamespace: "team"}, nil)
	dup := get("team", "dup")
	if diff := cmp.Diff(same(src), same(dup)); diff != "" {
		t.Errorf("copy with its configuration (-source +copy):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"Deploy team/dup"}, e.deployer.take()); diff != "" {
		t.Errorf("deployer calls (-want +got):\n%s", diff)
	}

	no := false
	desc := "a bare copy"
	call(t, e.admin, "CopyFunction", api.CopyFunctionRequest{FunctionName: "src", NewFunctionName: "bare", CopyConfiguration: &no, Description: &desc}, nil)
	bare := get("default", "bare")
	if bare.Type != "HTTP" || bare.ImageConfig.Command != "/app/server" || bare.ImageConfig.ImagePort != 9001 ||
		bare.MemorySize != 128 || bare.Timeout != 3 || len(bare.Environment.Variables) != 0 || len(bare.Tags) != 0 || bare.Description != desc {
		t.Errorf("copy without configuration: %+v", bare)
	}

	// Override replaces the function of the new name.
	yes := true
	call(t, e.admin, "CopyFunction", api.CopyFunctionRequest{FunctionName: "bare", NewFunctionName: "dup", TargetNamespace: "team", Override: &yes}, nil)
	if g := get("team", "dup"); g.MemorySize != 128 || g.Description != desc {
		t.Errorf("overridden copy: %d MB %q, want the bare one's", g.MemorySize, g.Description)
	}
	if diff := cmp.Diff([]string{"Deploy default/bare", "Forget team/dup", "Deploy team/dup"}, e.deployer.take()); diff != "" {
		t.Errorf("deployer calls (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		name string
		key  string
		req  api.CopyFunctionRequest
		want string
	}{
		{"existing without Override", "admin", api.CopyFunctionRequest{FunctionName: "src", NewFunctionName: "dup", TargetNamespace: "team"}, "ResourceInUse.FunctionName"},
		{"Override false", "admin", api.CopyFunctionRequest{FunctionName: "src", NewFunctionName: "dup", TargetNamespace: "team", Override: &no}, "ResourceInUse.FunctionName"},
		{"onto itself", "admin", api.CopyFunctionRequest{FunctionName: "src", NewFunctionName: "src", Override: &yes}, "InvalidParameterValue.FunctionName"},
		{"unknown source", "admin", api.CopyFunctionRequest{FunctionName: "ghost", NewFunctionName: "g2"}, "ResourceNotFound.Function"},
		{"unknown target namespace", "admin", api.CopyFunctionRequest{FunctionName: "src", NewFunctionName: "xx", TargetNamespace: "nowhere"}, "ResourceNotFound.Namespace"},
		{"invalid new name", "admin", api.CopyFunctionRequest{FunctionName: "src", NewFunctionName: "1bad"}, "InvalidParameterValue.FunctionName"},
		{"no new name", "admin", api.CopyFunctionRequest{FunctionName: "src"}, "MissingParameter"},
		{"another region", "admin", api.CopyFunctionRequest{FunctionName: "src", NewFunctionName: "xx", TargetRegion: "ap-shanghai"}, "UnsupportedOperation.Region"},
		// A key of namespace team reaches neither default's source nor default as a target.
		{"team key, source in default", "team", api.CopyFunctionRequest{FunctionName: "src", NewFunctionName: "mine", TargetNamespace: "team"}, "UnauthorizedOperation.CAM"},
		{"team key, target default", "team", api.CopyFunctionRequest{FunctionName: "dup", Namespace: "team", NewFunctionName: "theirs", Override: &yes}, "UnauthorizedOperation.CAM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.admin
			if tc.key == "team" {
				c = e.team
			}
			if got := code(c.Call(ctx, "CopyFunction", tc.req, nil)); got != tc.want {
				t.Errorf("code %q, want %q", got, tc.want)
			}
		})
	}
	// Nothing of the refused copies was made or removed.
	var list api.ListFunctionsResponse
	call(t, e.admin, "ListFunctions", api.ListFunctionsRequest{Orderby: "FunctionName", Order: "ASC"}, &list)
	if list.TotalCount != 2 || list.Functions[0].FunctionName != "bare" || list.Functions[1].FunctionName != "src" {
		t.Errorf("default holds %+v, want bare and src", list.Functions)
	}
	// A team key copies within its namespace.
	call(t, e.team, "CopyFunction", api.CopyFunctionRequest{FunctionName: "dup", Namespace: "team", NewFunctionName: "dup2", TargetNamespace: "team"}, nil)
}
