package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/scfd/scfd/internal/api"
	"github.com/scfd/scfd/internal/client"
	"github.com/scfd/scfd/internal/scf"
	"github.com/scfd/scfd/internal/tc3"
)

// withTenantKeys serves the key actions from the test's store and
// accepts its tenant keys.
func withTenantKeys(e *env, o *api.Options) {
	o.TenantKeys = e.store
	o.Keys = api.WithTenantKeys(o.Keys, e.store)
	o.Registries = []string{"127.0.0.1:9300", "localhost:9300"}
}

func TestEveryActionHasARight(t *testing.T) {
	e := setup(t, true, withTenantKeys, func(e *env, o *api.Options) {
		o.Invoker, o.Queue, o.Async, o.Logs, o.Triggers = nil, nil, nil, nil, nil
	})
	for _, a := range e.api.Actions() {
		if _, ok := api.ActionRights[a]; !ok {
			t.Errorf("action %s is missing from actionRights: say which role may call it", a)
		}
	}
}

func TestRolesPermit(t *testing.T) {
	for _, tt := range []struct {
		role   scf.Role
		action string
		want   bool
	}{
		{scf.RoleReadOnly, "GetFunction", true},
		{scf.RoleReadOnly, "GetFunctionLogs", true},
		{scf.RoleReadOnly, "Invoke", false},
		{scf.RoleReadOnly, "UpdateFunctionConfiguration", false},
		{scf.RoleInvoke, "Invoke", true},
		{scf.RoleInvoke, "RetryAsyncEvent", true},
		{scf.RoleInvoke, "CreateFunction", false},
		{scf.RoleInvoke, "PutReservedConcurrencyConfig", false},
		{scf.RoleFullControl, "CreateFunction", true},
		{scf.RoleFullControl, "CreateNamespace", false},
		{scf.RoleFullControl, "PutTotalConcurrencyConfig", false},
		{scf.RoleFullControl, "CreateKey", false},
		{scf.RoleFullControl, "NoSuchAction", false},
		{"", "DeleteFunction", true}, // temporary credentials
	} {
		s := api.Scope{Namespaces: []string{"team"}, Role: tt.role}
		if got := s.Permits(tt.action); got != tt.want {
			t.Errorf("role %q Permits(%s) = %v, want %v", tt.role, tt.action, got, tt.want)
		}
	}
	if !(api.Scope{Admin: true}).Permits("CreateKey") {
		t.Error("the administrator may not call CreateKey")
	}
}

func TestTenantKeys(t *testing.T) {
	e := setup(t, true, withTenantKeys)
	ctx := context.Background()
	call(t, e.admin, "CreateNamespace", api.CreateNamespaceRequest{Namespace: "team"}, nil)
	call(t, e.admin, "CreateNamespace", api.CreateNamespaceRequest{Namespace: "other"}, nil)

	create := func(role string, ns ...string) (api.Key, *client.Client) {
		t.Helper()
		var resp api.CreateKeyResponse
		call(t, e.admin, "CreateKey", api.CreateKeyRequest{Namespaces: ns, Role: role, Description: role}, &resp)
		if resp.Key.SecretKey == "" || resp.Key.Status != api.KeyEnabled {
			t.Fatalf("CreateKey = %+v", resp.Key)
		}
		return resp.Key, client.New(e.srv.URL, tc3.Credential{SecretID: resp.Key.SecretId, SecretKey: resp.Key.SecretKey}, client.WithClock(func() time.Time { return now }))
	}
	full, fullC := create("FullControl", "team")
	_, runC := create("invokeandread", "team")
	_, readC := create("ReadOnly", "team")

	// Refusals of the key actions themselves.
	for name, tt := range map[string]struct {
		c    *client.Client
		req  api.CreateKeyRequest
		want string
	}{
		"a tenant key cannot create keys": {fullC, api.CreateKeyRequest{Namespaces: []string{"team"}, Role: "ReadOnly"}, "UnauthorizedOperation.CAM"},
		"no namespace":                    {e.admin, api.CreateKeyRequest{Role: "ReadOnly"}, "MissingParameter"},
		"unknown namespace":               {e.admin, api.CreateKeyRequest{Namespaces: []string{"nope"}, Role: "ReadOnly"}, "ResourceNotFound.Namespace"},
		"unknown role":                    {e.admin, api.CreateKeyRequest{Namespaces: []string{"team"}, Role: "Root"}, "InvalidParameterValue.Role"},
	} {
		if err := tt.c.Call(ctx, "CreateKey", tt.req, nil); code(err) != tt.want {
			t.Errorf("%s: %v, want %s", name, err, tt.want)
		}
	}

	// The secret is shown once.
	var list api.ListKeysResponse
	call(t, e.admin, "ListKeys", api.ListKeysRequest{Namespace: "team"}, &list)
	if list.TotalCount != 3 {
		t.Fatalf("ListKeys = %+v, want 3 keys", list)
	}
	for _, k := range list.Keys {
		if k.SecretKey != "" {
			t.Errorf("ListKeys shows the secret of %s", k.SecretId)
		}
	}

	fn := api.CreateFunctionRequest{FunctionName: "app", Namespace: "team", Code: imageCode("127.0.0.1:5000/team/app:1")}
	// Each role calls what it may and is refused the rest.
	for _, tt := range []struct {
		who    string
		c      *client.Client
		action string
		req    any
		want   string
	}{
		{"read-only", readC, "CreateFunction", fn, "UnauthorizedOperation.CAM"},
		{"invoking", runC, "CreateFunction", fn, "UnauthorizedOperation.CAM"},
		{"full", fullC, "CreateFunction", fn, ""},
		{"full", fullC, "CreateFunction", api.CreateFunctionRequest{FunctionName: "app", Namespace: "other", Code: imageCode("127.0.0.1:5000/x/app:1")}, "UnauthorizedOperation.CAM"},
		{"full, another namespace's image in scfd's registry", fullC, "CreateFunction",
			api.CreateFunctionRequest{FunctionName: "b2", Namespace: "team", Code: imageCode("127.0.0.1:9300/other/app:1")}, "UnauthorizedOperation.CAM"},
		{"full, same through localhost", fullC, "UpdateFunctionCode",
			api.UpdateFunctionCodeRequest{FunctionName: "app", Namespace: "team", Code: imageCode("localhost:9300/other/app@sha256:" + zeros)}, "UnauthorizedOperation.CAM"},
		{"full, its own namespace's image in scfd's registry", fullC, "UpdateFunctionCode",
			api.UpdateFunctionCodeRequest{FunctionName: "app", Namespace: "team", Code: imageCode("127.0.0.1:9300/team/app:2")}, ""},
		{"read-only", readC, "GetFunction", api.GetFunctionRequest{FunctionName: "app", Namespace: "team"}, ""},
		{"read-only", readC, "ListNamespaces", api.ListNamespacesRequest{}, ""},
		{"read-only", readC, "UpdateFunctionConfiguration", api.UpdateFunctionConfigurationRequest{FunctionName: "app", Namespace: "team", Description: new(string)}, "UnauthorizedOperation.CAM"},
		{"read-only", readC, "DeleteFunction", api.DeleteFunctionRequest{FunctionName: "app", Namespace: "team"}, "UnauthorizedOperation.CAM"},
		{"invoking", runC, "DeleteFunction", api.DeleteFunctionRequest{FunctionName: "app", Namespace: "team"}, "UnauthorizedOperation.CAM"},
		{"invoking", runC, "GetFunction", api.GetFunctionRequest{FunctionName: "app", Namespace: "team"}, ""},
		{"full", fullC, "CreateNamespace", api.CreateNamespaceRequest{Namespace: "mine"}, "UnauthorizedOperation.CAM"},
	} {
		if err := tt.c.Call(ctx, tt.action, tt.req, nil); code(err) != tt.want {
			t.Errorf("%s key, %s: %v, want %q", tt.who, tt.action, err, tt.want)
		}
	}
	var ns api.ListNamespacesResponse
	call(t, readC, "ListNamespaces", api.ListNamespacesRequest{}, &ns)
	if len(ns.Namespaces) != 1 || ns.Namespaces[0].Name != "team" {
		t.Errorf("a tenant key lists %+v, want only team", ns.Namespaces)
	}

	// Disabling, enabling, changing and deleting hold from the next request.
	get := api.GetFunctionRequest{FunctionName: "app", Namespace: "team"}
	disabled := api.KeyDisabled
	call(t, e.admin, "UpdateKey", api.UpdateKeyRequest{SecretId: full.SecretId, Status: &disabled}, nil)
	if err := fullC.Call(ctx, "GetFunction", get, nil); code(err) != "AuthFailure.SecretIdNotFound" {
		t.Errorf("disabled key: %v, want AuthFailure.SecretIdNotFound", err)
	}
	enabled, readOnly := api.KeyEnabled, "ReadOnly"
	call(t, e.admin, "UpdateKey", api.UpdateKeyRequest{SecretId: full.SecretId, Status: &enabled, Role: &readOnly}, nil)
	if err := fullC.Call(ctx, "GetFunction", get, nil); err != nil {
		t.Errorf("enabled key: %v", err)
	}
	if err := fullC.Call(ctx, "DeleteFunction", api.DeleteFunctionRequest{FunctionName: "app", Namespace: "team"}, nil); code(err) != "UnauthorizedOperation.CAM" {
		t.Errorf("key made read-only: %v, want UnauthorizedOperation", err)
	}
	call(t, e.admin, "DeleteKey", api.DeleteKeyRequest{SecretId: full.SecretId}, nil)
	if err := fullC.Call(ctx, "GetFunction", get, nil); code(err) != "AuthFailure.SecretIdNotFound" {
		t.Errorf("deleted key: %v, want AuthFailure.SecretIdNotFound", err)
	}
	if err := e.admin.Call(ctx, "DeleteKey", api.DeleteKeyRequest{SecretId: full.SecretId}, nil); code(err) != "ResourceNotFound.SecretId" {
		t.Errorf("DeleteKey twice: %v", err)
	}
}

const zeros = "0000000000000000000000000000000000000000000000000000000000000000"
