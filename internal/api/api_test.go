package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/scfd/scfd/internal/api"
	"github.com/scfd/scfd/internal/client"
	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/scf"
	"github.com/scfd/scfd/internal/store"
	"github.com/scfd/scfd/internal/tc3"
)

var (
	now       = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	adminCred = tc3.Credential{SecretID: "AKIDadmin", SecretKey: "admin-key"}
	teamCred  = tc3.Credential{SecretID: "AKIDteam", SecretKey: "team-key"}
)

// recorder is a Deployer that records its calls.
type recorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *recorder) Deploy(ns, name string) { r.record("Deploy " + ns + "/" + name) }
func (r *recorder) Forget(ns, name string) { r.record("Forget " + ns + "/" + name) }
func (r *recorder) record(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, s)
}
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

type env struct {
	srv      *httptest.Server
	api      *api.Server
	store    *store.Store
	deployer *recorder
	admin    *client.Client
	team     *client.Client
	more     map[string]api.HandlerFunc // actions added to the server's, by with
}

// with sets up the services of a test's server, given the store.
type with func(e *env, o *api.Options)

func keys(id string) (string, api.Scope, error) {
	switch id {
	case adminCred.SecretID:
		return adminCred.SecretKey, api.Scope{Admin: true}, nil
	case teamCred.SecretID:
		return teamCred.SecretKey, api.Scope{Namespaces: []string{"team"}}, nil
	}
	return "", api.Scope{}, errdefs.NotFound("SecretId", "no such key")
}

func setup(t *testing.T, withDeployer bool, services ...with) *env {
	t.Helper()
	st, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{store: st}
	opts := api.Options{
		Store:    st,
		Keys:     api.KeyLookupFunc(keys),
		Region:   "ap-guangzhou",
		Now:      func() time.Time { return now },
		Location: time.UTC,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if withDeployer {
		e.deployer = &recorder{}
		opts.Deployer = e.deployer
	}
	for _, s := range services {
		s(e, &opts)
	}
	e.api = api.NewWithActions(opts, e.more)
	e.srv = httptest.NewServer(e.api)
	t.Cleanup(e.srv.Close)
	clock := client.WithClock(func() time.Time { return now })
	e.admin = client.New(e.srv.URL, adminCred, clock, client.WithRegion("ap-guangzhou"))
	e.team = client.New(e.srv.URL, teamCred, clock)
	return e
}

func call(t *testing.T, c *client.Client, action string, req, resp any) {
	t.Helper()
	if err := c.Call(context.Background(), action, req, resp); err != nil {
		t.Fatalf("%s: %v", action, err)
	}
}

func code(err error) string {
	var apiErr *client.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code
	}
	if err == nil {
		return ""
	}
	return "not an API error: " + err.Error()
}

func imageCode(uri string) *api.Code {
	return &api.Code{ImageConfig: &api.ImageConfig{ImageType: "personal", ImageUri: uri}}
}

func TestNamespaces(t *testing.T) {
	e := setup(t, false)
	ctx := context.Background()
	call(t, e.admin, "CreateNamespace", api.CreateNamespaceRequest{Namespace: "team", Description: "the team"}, nil)
	call(t, e.admin, "CreateNamespace", api.CreateNamespaceRequest{Namespace: "zeta"}, nil)
	call(t, e.admin, "UpdateNamespace", api.UpdateNamespaceRequest{Namespace: "zeta", Description: "last"}, nil)

	ignoreTimes := cmpopts.IgnoreFields(api.Namespace{}, "AddTime", "ModTime")
	for _, tc := range []struct {
		name string
		c    *client.Client
		req  api.ListNamespacesRequest
		want api.ListNamespacesResponse
	}{
		{"all", e.admin, api.ListNamespacesRequest{}, api.ListNamespacesResponse{TotalCount: 3, Namespaces: []api.Namespace{
			{Name: "default", Type: "default"},
			{Name: "team", Description: "the team", Type: "custom"},
			{Name: "zeta", Description: "last", Type: "custom"},
		}}},
		{"descending page", e.admin, api.ListNamespacesRequest{Order: "DESC", Limit: 2}, api.ListNamespacesResponse{TotalCount: 3, Namespaces: []api.Namespace{
			{Name: "zeta", Description: "last", Type: "custom"},
			{Name: "team", Description: "the team", Type: "custom"},
		}}},
		{"search description", e.admin, api.ListNamespacesRequest{SearchKey: []api.SearchKey{{Key: "Description", Value: "TEAM"}}}, api.ListNamespacesResponse{TotalCount: 1, Namespaces: []api.Namespace{
			{Name: "team", Description: "the team", Type: "custom"},
		}}},
		{"scoped key sees its namespaces", e.team, api.ListNamespacesRequest{}, api.ListNamespacesResponse{TotalCount: 1, Namespaces: []api.Namespace{
			{Name: "team", Description: "the team", Type: "custom"},
		}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got api.ListNamespacesResponse
			call(t, tc.c, "ListNamespaces", tc.req, &got)
			if diff := cmp.Diff(tc.want, got, ignoreTimes); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	var got api.ListNamespacesResponse
	call(t, e.admin, "ListNamespaces", nil, &got)
	if _, err := time.Parse(api.TimeFormat, got.Namespaces[0].AddTime); err != nil {
		t.Errorf("AddTime %q: %v", got.Namespaces[0].AddTime, err)
	}

	call(t, e.admin, "CreateFunction", api.CreateFunctionRequest{FunctionName: "fn", Namespace: "team", Code: imageCode("127.0.0.1:5000/a/b:1")}, nil)
	for _, tc := range []struct {
		name   string
		c      *client.Client
		action string
		req    any
		want   string
	}{
		{"duplicate", e.admin, "CreateNamespace", api.CreateNamespaceRequest{Namespace: "team"}, "ResourceInUse.Namespace"},
		{"invalid name", e.admin, "CreateNamespace", api.CreateNamespaceRequest{Namespace: "-bad"}, "InvalidParameterValue.Namespace"},
		{"missing name", e.admin, "CreateNamespace", api.CreateNamespaceRequest{}, "MissingParameter"},
		{"in use", e.admin, "DeleteNamespace", api.DeleteNamespaceRequest{Namespace: "team"}, "ResourceInUse.Namespace"},
		{"default", e.admin, "DeleteNamespace", api.DeleteNamespaceRequest{Namespace: "default"}, "FailedOperation.DeleteNamespace"},
		{"missing", e.admin, "DeleteNamespace", api.DeleteNamespaceRequest{Namespace: "nope"}, "ResourceNotFound.Namespace"},
		{"update missing", e.admin, "UpdateNamespace", api.UpdateNamespaceRequest{Namespace: "nope"}, "ResourceNotFound.Namespace"},
		{"not admin", e.team, "CreateNamespace", api.CreateNamespaceRequest{Namespace: "mine"}, "UnauthorizedOperation.CAM"},
		{"bad order", e.admin, "ListNamespaces", api.ListNamespacesRequest{Orderby: "Size"}, "InvalidParameterValue.OrderBy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := code(tc.c.Call(ctx, tc.action, tc.req, nil)); got != tc.want {
				t.Errorf("%s: code %q, want %q", tc.action, got, tc.want)
			}
		})
	}
	call(t, e.admin, "DeleteFunction", api.DeleteFunctionRequest{Namespace: "team", FunctionName: "fn"}, nil)
	call(t, e.admin, "DeleteNamespace", api.DeleteNamespaceRequest{Namespace: "team"}, nil)
	if _, err := e.store.GetNamespace(ctx, "team"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("namespace still stored: %v", err)
	}
}

func TestFunctionLifecycle(t *testing.T) {
	e := setup(t, true)
	ctx := context.Background()
	call(t, e.admin, "CreateFunction", api.CreateFunctionRequest{
		FunctionName: "hello",
		Description:  "says hello",
		Code: &api.Code{ImageConfig: &api.ImageConfig{
			ImageType: "personal",
			ImageUri:  "127.0.0.1:5000/fn/hello:1",
			Command:   "/app/server",
			Args:      "-v",
		}},
		MemorySize:  256,
		Timeout:     10,
		Environment: &api.Environment{Variables: []api.Variable{{Key: "GREETING", Value: "hi"}}},
		Type:        "HTTP",
		Tags:        []api.Tag{{Key: "team", Value: "a"}},
		InstanceConcurrencyConfig: &api.InstanceConcurrencyConfig{
			DynamicEnabled: "FALSE", MaxConcurrency: 4,
		},
	}, nil)
	if diff := cmp.Diff([]string{"Deploy default/hello"}, e.deployer.take()); diff != "" {
		t.Errorf("deployer calls (-want +got):\n%s", diff)
	}

	var got api.GetFunctionResponse
	call(t, e.admin, "GetFunction", api.GetFunctionRequest{FunctionName: "hello"}, &got)
	stored, err := e.store.GetFunction(ctx, "default", "hello", "")
	if err != nil {
		t.Fatal(err)
	}
	want := api.GetFunctionResponse{
		ModTime:           stored.ModTime.Format(api.TimeFormat),
		Description:       "says hello",
		Triggers:          []api.Trigger{},
		Timeout:           10,
		FunctionVersion:   "$LATEST",
		MemorySize:        256,
		Runtime:           "CustomImage",
		FunctionName:      "hello",
		UseGpu:            "FALSE",
		Environment:       api.Environment{Variables: []api.Variable{{Key: "GREETING", Value: "hi"}}},
		CodeResult:        "success",
		Namespace:         "default",
		InstallDependency: "FALSE",
		Status:            "Creating",
		FunctionId:        stored.FunctionID,
		Tags:              []api.Tag{{Key: "team", Value: "a"}},
		EipConfig:         api.EipOutConfig{EipFixed: "FALSE", Eips: []string{}},
		Type:              "HTTP",
		L5Enable:          "FALSE",
		Layers:            []api.LayerVersionInfo{},
		AddTime:           stored.AddTime.Format(api.TimeFormat),
		PublicNetConfig: api.PublicNetConfigOut{
			PublicNetStatus: "ENABLE",
			EipConfig:       api.EipConfigOut{EipStatus: "DISABLE", EipAddress: []string{}},
		},
		OnsEnable:       "FALSE",
		CfsConfig:       api.CfsConfig{CfsInsList: []struct{}{}},
		AvailableStatus: "Unavailable",
		Qualifier:       "$LATEST",
		InitTimeout:     90,
		StatusReasons:   []api.StatusReason{},
		AsyncRunEnable:  "FALSE",
		TraceEnable:     "FALSE",
		ImageConfig: &api.ImageConfig{
			ImageType: "personal",
			ImageUri:  "127.0.0.1:5000/fn/hello:1",
			Command:   "/app/server",
			Args:      "-v",
			ImagePort: 9000,
		},
		DnsCache:                  "FALSE",
		IntranetConfig:            api.IntranetConfigOut{IpFixed: "DISABLE"},
		InstanceConcurrencyConfig: &api.InstanceConcurrencyConfig{DynamicEnabled: "FALSE", MaxConcurrency: 4},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetFunction (-want +got):\n%s", diff)
	}
	if len(stored.FunctionID) != 12 || !strings.HasPrefix(stored.FunctionID, "lam-") || stored.CodeRevision != 1 {
		t.Errorf("stored = %+v", stored)
	}

	// The deployer finishes: the function becomes Active.
	if _, err := e.store.UpdateFunction(ctx, "default", "hello", "", func(f *scf.Function) error {
		f.Status, f.ImageDigest = scf.StatusActive, "sha256:1111"
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// Only the fields present change.
	call(t, e.admin, "UpdateFunctionConfiguration", map[string]any{
		"FunctionName": "hello",
		"Timeout":      20,
		"Environment":  map[string]any{"Variables": []map[string]string{{"Key": "B", "Value": "2"}}},
	}, nil)
	after, err := e.store.GetFunction(ctx, "default", "hello", "")
	if err != nil {
		t.Fatal(err)
	}
	wantAfter := *stored
	wantAfter.Timeout = 20
	wantAfter.Environment = []scf.Variable{{Key: "B", Value: "2"}}
	wantAfter.Status, wantAfter.ImageDigest = scf.StatusActive, "sha256:1111"
	if diff := cmp.Diff(&wantAfter, after, cmpopts.IgnoreFields(scf.Function{}, "ModTime")); diff != "" {
		t.Errorf("after UpdateFunctionConfiguration (-want +got):\n%s", diff)
	}
	if len(e.deployer.take()) != 0 {
		t.Error("a configuration update called the deployer")
	}

	call(t, e.admin, "UpdateFunctionCode", api.UpdateFunctionCodeRequest{
		FunctionName: "hello",
		Code:         imageCode("127.0.0.1:5000/fn/hello:2"),
	}, nil)
	after, err = e.store.GetFunction(ctx, "default", "hello", "")
	if err != nil {
		t.Fatal(err)
	}
	if after.Status != scf.StatusUpdating || after.CodeRevision != 2 || after.ImageDigest != "" || after.Image.ImageUri != "127.0.0.1:5000/fn/hello:2" || after.Timeout != 20 {
		t.Errorf("after UpdateFunctionCode = %+v", after)
	}
	if diff := cmp.Diff([]string{"Deploy default/hello"}, e.deployer.take()); diff != "" {
		t.Errorf("deployer calls (-want +got):\n%s", diff)
	}

	var list api.ListFunctionsResponse
	call(t, e.admin, "ListFunctions", api.ListFunctionsRequest{}, &list)
	wantList := api.ListFunctionsResponse{TotalCount: 1, Functions: []api.Function{{
		ModTime:        after.ModTime.Format(api.TimeFormat),
		AddTime:        after.AddTime.Format(api.TimeFormat),
		Runtime:        "CustomImage",
		FunctionName:   "hello",
		FunctionId:     after.FunctionID,
		Namespace:      "default",
		Status:         "Updating",
		Description:    "says hello",
		Tags:           []api.Tag{{Key: "team", Value: "a"}},
		Type:           "HTTP",
		StatusReasons:  []api.StatusReason{},
		AsyncRunEnable: "FALSE",
		TraceEnable:    "FALSE",
	}}}
	if diff := cmp.Diff(wantList, list); diff != "" {
		t.Errorf("ListFunctions (-want +got):\n%s", diff)
	}

	call(t, e.admin, "DeleteFunction", api.DeleteFunctionRequest{FunctionName: "hello"}, nil)
	if diff := cmp.Diff([]string{"Forget default/hello"}, e.deployer.take()); diff != "" {
		t.Errorf("deployer calls (-want +got):\n%s", diff)
	}
	if got := code(e.admin.Call(ctx, "GetFunction", api.GetFunctionRequest{FunctionName: "hello"}, nil)); got != "ResourceNotFound.Function" {
		t.Errorf("GetFunction after delete: %q", got)
	}
}

func TestWithoutDeployerFunctionsAreActiveAtOnce(t *testing.T) {
	e := setup(t, false)
	call(t, e.admin, "CreateFunction", api.CreateFunctionRequest{FunctionName: "now", Code: imageCode("127.0.0.1:5000/a/b:1")}, nil)
	var got api.GetFunctionResponse
	call(t, e.admin, "GetFunction", api.GetFunctionRequest{FunctionName: "now"}, &got)
	if got.Status != "Active" || got.AvailableStatus != "Available" {
		t.Errorf("Status = %q/%q, want Active/Available", got.Status, got.AvailableStatus)
	}
	call(t, e.admin, "UpdateFunctionCode", api.UpdateFunctionCodeRequest{FunctionName: "now", Code: imageCode("127.0.0.1:5000/a/b:2")}, nil)
	call(t, e.admin, "GetFunction", api.GetFunctionRequest{FunctionName: "now"}, &got)
	if got.Status != "Active" || got.ImageConfig.ImageUri != "127.0.0.1:5000/a/b:2" {
		t.Errorf("after UpdateFunctionCode: %q %q", got.Status, got.ImageConfig.ImageUri)
	}
}

// raw signs and posts body as it is, after mutate has its way with the
// request, and returns the Response object.
func raw(t *testing.T, e *env, cred tc3.Credential, action, body string, at time.Time, mutate func(*http.Request)) map[string]any {
	t.Helper()
	r, err := http.NewRequest(http.MethodPost, e.srv.URL, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-TC-Action", action)
	r.Header.Set("X-TC-Version", api.Version)
	if err := tc3.Sign(r, []byte(body), cred, "127", at); err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(r)
	}
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("HTTP %d, want 200", res.StatusCode)
	}
	data, _ := io.ReadAll(res.Body)
	var envelope struct{ Response map[string]any }
	if err := json.Unmarshal(data, &envelope); err != nil {
		t.Fatalf("response %q: %v", data, err)
	}
	if id, _ := envelope.Response["RequestId"].(string); len(id) != 36 {
		t.Errorf("RequestId = %q, want a UUID", id)
	}
	return envelope.Response
}

func errOf(resp map[string]any) (code, msg string) {
	e, _ := resp["Error"].(map[string]any)
	code, _ = e["Code"].(string)
	msg, _ = e["Message"].(string)
	return code, msg
}

func TestUnsupportedFieldsAtTheirDefaultsAreAccepted(t *testing.T) {
	e := setup(t, true)
	img := `"Code":{"ImageConfig":{"ImageType":"personal","ImageUri":"127.0.0.1:5000/a/b:1"}}`
	body := `{"FunctionName":"plain",` + img + `,"VpcConfig":{"VpcId":"","SubnetId":""},"Role":"","ClsLogsetId":"","Layers":[],` +
		`"DeadLetterConfig":{"Type":"","Name":""},"TraceEnable":"FALSE","IntranetConfig":{"IpFixed":"DISABLE"},"CfsConfig":{"CfsInsList":[]},` +
		`"InstanceConcurrencyConfig":{"Type":"Request-Based","InstanceIsolationEnabled":"FALSE","SessionConfig":{}}}`
	if code, msg := errOf(raw(t, e, adminCred, "CreateFunction", body, now, nil)); code != "" {
		t.Fatalf("CreateFunction with every unsupported field at its default: %s (%s)", code, msg)
	}
	update := `{"FunctionName":"plain","VpcConfig":{},"TraceEnable":"FALSE","IntranetConfig":{"IpFixed":""},"DeadLetterConfig":{}}`
	if code, msg := errOf(raw(t, e, adminCred, "UpdateFunctionConfiguration", update, now, nil)); code != "" {
		t.Fatalf("UpdateFunctionConfiguration with defaults: %s (%s)", code, msg)
	}
	var got api.GetFunctionResponse
	call(t, e.admin, "GetFunction", api.GetFunctionRequest{FunctionName: "plain"}, &got)
	if got.VpcConfig != (api.VpcConfig{}) || got.Role != "" || got.ClsTopicId != "" || len(got.Layers) != 0 || got.TraceEnable != "FALSE" {
		t.Errorf("GetFunction reports %+v %q %q %v %q, want the defaults", got.VpcConfig, got.Role, got.ClsTopicId, got.Layers, got.TraceEnable)
	}
}

func TestErrors(t *testing.T) {
	e := setup(t, true)
	call(t, e.admin, "CreateFunction", api.CreateFunctionRequest{FunctionName: "exists", Code: imageCode("127.0.0.1:5000/a/b:1")}, nil)
	call(t, e.admin, "CreateNamespace", api.CreateNamespaceRequest{Namespace: "team"}, nil)
	e.deployer.take()

	img := `"Code":{"ImageConfig":{"ImageType":"personal","ImageUri":"127.0.0.1:5000/a/b:1"}}`
	for _, tc := range []struct {
		name      string
		cred      tc3.Credential
		action    string
		body      string
		at        time.Time
		mutate    func(*http.Request)
		wantCode  string
		wantInMsg string
	}{
		{name: "missing function", action: "GetFunction", body: `{"FunctionName":"nope"}`, wantCode: "ResourceNotFound.Function"},
		{name: "missing namespace", action: "GetFunction", body: `{"FunctionName":"exists","Namespace":"nope"}`, wantCode: "ResourceNotFound.Function"},
		{name: "list in missing namespace", action: "ListFunctions", body: `{"Namespace":"nope"}`, wantCode: "ResourceNotFound.Namespace"},
		{name: "create in missing namespace", action: "CreateFunction", body: `{"FunctionName":"f1","Namespace":"nope",` + img + `}`, wantCode: "ResourceNotFound.Namespace"},
		{name: "duplicate function", action: "CreateFunction", body: `{"FunctionName":"exists",` + img + `}`, wantCode: "ResourceInUse.Function"},
		{name: "invalid function name", action: "CreateFunction", body: `{"FunctionName":"9lives",` + img + `}`, wantCode: "InvalidParameterValue.FunctionName"},
		{name: "missing function name", action: "CreateFunction", body: `{` + img + `}`, wantCode: "MissingParameter"},
		{name: "invalid memory", action: "CreateFunction", body: `{"FunctionName":"f1","MemorySize":100,` + img + `}`, wantCode: "InvalidParameterValue.MemorySize"},
		{name: "zip code", action: "CreateFunction", body: `{"FunctionName":"f1","Code":{"ZipFile":"UEsDBA=="}}`, wantCode: "UnsupportedOperation.Code", wantInMsg: "Code.ImageConfig"},
		{name: "zip update", action: "UpdateFunctionCode", body: `{"FunctionName":"exists","ZipFile":"UEsDBA=="}`, wantCode: "UnsupportedOperation.Code"},
		{name: "vpc", action: "CreateFunction", body: `{"FunctionName":"f1",` + img + `,"VpcConfig":{"VpcId":"vpc-1","SubnetId":"subnet-1"}}`, wantCode: "UnsupportedOperation.VpcConfig"},
		{name: "role", action: "UpdateFunctionConfiguration", body: `{"FunctionName":"exists","Role":"SCF_QcsRole"}`, wantCode: "UnsupportedOperation.Role"},
		{name: "cls", action: "UpdateFunctionConfiguration", body: `{"FunctionName":"exists","ClsLogsetId":"ls","ClsTopicId":"tp"}`, wantCode: "UnsupportedOperation.ClsLogsetId"},
		{name: "cls topic", action: "CreateFunction", body: `{"FunctionName":"f1",` + img + `,"ClsTopicId":"tp"}`, wantCode: "UnsupportedOperation.ClsTopicId"},
		{name: "layers", action: "CreateFunction", body: `{"FunctionName":"f1",` + img + `,"Layers":[{"LayerName":"l","LayerVersion":1}]}`, wantCode: "UnsupportedOperation.Layers"},
		{name: "dead letters", action: "CreateFunction", body: `{"FunctionName":"f1",` + img + `,"DeadLetterConfig":{"Type":"CMQ-QUEUE","Name":"q"}}`, wantCode: "UnsupportedOperation.DeadLetterConfig"},
		{name: "cfs", action: "UpdateFunctionConfiguration", body: `{"FunctionName":"exists","CfsConfig":{"CfsInsList":[{"CfsId":"cfs-1"}]}}`, wantCode: "UnsupportedOperation.CfsConfig"},
		{name: "tracing", action: "CreateFunction", body: `{"FunctionName":"f1",` + img + `,"TraceEnable":"TRUE"}`, wantCode: "UnsupportedOperation.TraceEnable"},
		{name: "fixed intranet ip", action: "UpdateFunctionConfiguration", body: `{"FunctionName":"exists","IntranetConfig":{"IpFixed":"ENABLE"}}`, wantCode: "UnsupportedOperation.IntranetConfig"},
		{name: "session concurrency", action: "CreateFunction", body: `{"FunctionName":"f1",` + img + `,"Type":"HTTP","InstanceConcurrencyConfig":{"Type":"Session-Based","MaxConcurrency":2}}`, wantCode: "UnsupportedOperation.InstanceConcurrencyConfig.Type"},
		{name: "session config", action: "CreateFunction", body: `{"FunctionName":"f1",` + img + `,"Type":"HTTP","InstanceConcurrencyConfig":{"SessionConfig":{"SessionSource":"HEADER","SessionName":"sess1"}}}`, wantCode: "UnsupportedOperation.SessionConfig"},
		{name: "instance isolation", action: "UpdateFunctionConfiguration", body: `{"FunctionName":"exists","InstanceConcurrencyConfig":{"InstanceIsolationEnabled":"TRUE"}}`, wantCode: "UnsupportedOperation.InstanceIsolationEnabled"},
		{name: "no image", action: "CreateFunction", body: `{"FunctionName":"f1","Code":{}}`, wantCode: "MissingParameter.Code"},
		{name: "no image uri", action: "CreateFunction", body: `{"FunctionName":"f1","Code":{"ImageConfig":{}}}`, wantCode: "MissingParameter.Code"},
		{name: "job image", action: "CreateFunction", body: `{"FunctionName":"f1","Code":{"ImageConfig":{"ImageUri":"r/a:1","ImagePort":-1}}}`, wantCode: "UnsupportedOperation.ImagePort"},
		{name: "body not JSON", action: "GetFunction", body: `{"FunctionName":`, wantCode: "InvalidParameter"},
		{name: "body not an object", action: "GetFunction", body: `[1]`, wantCode: "InvalidParameter"},
		{name: "field of the wrong type", action: "CreateFunction", body: `{"FunctionName":"f1","MemorySize":"big",` + img + `}`, wantCode: "InvalidParameter", wantInMsg: "MemorySize"},
		{name: "nested field of the wrong type", action: "CreateFunction", body: `{"FunctionName":"f1","Code":{"ImageConfig":{"ImageUri":"r/a:1","ImagePort":"x"}}}`, wantCode: "InvalidParameter", wantInMsg: "Code.ImageConfig.ImagePort"},
		{name: "unknown action", action: "LaunchRocket", body: `{}`, wantCode: "InvalidAction"},
		{name: "bad signature", action: "GetAccount", body: `{}`, mutate: func(r *http.Request) {
			h := r.Header.Get("Authorization")
			last := "0"
			if strings.HasSuffix(h, "0") {
				last = "1"
			}
			r.Header.Set("Authorization", h[:len(h)-1]+last)
		}, wantCode: "AuthFailure.SignatureFailure"},
		{name: "signature not hex", action: "GetAccount", body: `{}`, mutate: func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "Signature=", "Signature=zz", 1))
		}, wantCode: "AuthFailure.InvalidAuthorization"},
		{name: "wrong key", cred: tc3.Credential{SecretID: adminCred.SecretID, SecretKey: "guess"}, action: "GetAccount", body: `{}`, wantCode: "AuthFailure.SignatureFailure"},
		{name: "unknown SecretId", cred: tc3.Credential{SecretID: "AKIDnobody", SecretKey: "x"}, action: "GetAccount", body: `{}`, wantCode: "AuthFailure.SecretIdNotFound"},
		{name: "expired timestamp", action: "GetAccount", body: `{}`, at: now.Add(-6 * time.Minute), wantCode: "AuthFailure.SignatureExpire"},
		{name: "no signature", action: "GetAccount", body: `{}`, mutate: func(r *http.Request) { r.Header.Del("Authorization") }, wantCode: "AuthFailure.InvalidAuthorization"},
		{name: "not JSON content", action: "GetAccount", body: `{}`, mutate: func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") }, wantCode: "InvalidParameter"},
		{name: "delete the default namespace", action: "DeleteNamespace", body: `{"Namespace":"default"}`, wantCode: "FailedOperation.DeleteNamespace"},
		{name: "scoped key outside its namespaces", cred: teamCred, action: "GetFunction", body: `{"FunctionName":"exists"}`, wantCode: "UnauthorizedOperation.CAM"},
		{name: "dynamic concurrency", action: "UpdateFunctionConfiguration", body: `{"FunctionName":"exists","InstanceConcurrencyConfig":{"DynamicEnabled":"TRUE","MaxConcurrency":2}}`, wantCode: "UnsupportedOperation.InstanceConcurrencyConfig"},
		{name: "concurrency on an event function", action: "UpdateFunctionConfiguration", body: `{"FunctionName":"exists","InstanceConcurrencyConfig":{"MaxConcurrency":2}}`, wantCode: "InvalidParameterValue.InstanceConcurrencyConfig"},
		{name: "unsupported filter", action: "ListFunctions", body: `{"Filters":[{"Name":"VpcId","Values":["v"]}]}`, wantCode: "InvalidParameterValue.Filters"},
		{name: "bad list order", action: "ListFunctions", body: `{"Orderby":"Size"}`, wantCode: "InvalidParameterValue.OrderBy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cred := tc.cred
			if cred.SecretID == "" {
				cred = adminCred
			}
			at := tc.at
			if at.IsZero() {
				at = now
			}
			resp := raw(t, e, cred, tc.action, tc.body, at, tc.mutate)
			gotCode, msg := errOf(resp)
			if gotCode != tc.wantCode {
				t.Errorf("code = %q (%s), want %q", gotCode, msg, tc.wantCode)
			}
			if !strings.Contains(msg, tc.wantInMsg) {
				t.Errorf("message %q does not mention %q", msg, tc.wantInMsg)
			}
		})
	}
	if len(e.deployer.take()) != 0 {
		t.Error("failed requests called the deployer")
	}
}

func TestVersionHeader(t *testing.T) {
	e := setup(t, false)
	for _, tc := range []struct{ version, want string }{
		{"2099-01-01", "NoSuchVersion"},
		{"", "MissingParameter"},
	} {
		r, _ := http.NewRequest(http.MethodPost, e.srv.URL, strings.NewReader(`{}`))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-TC-Action", "GetAccount")
		if tc.version != "" {
			r.Header.Set("X-TC-Version", tc.version)
		}
		if err := tc3.Sign(r, []byte(`{}`), adminCred, "127", now); err != nil {
			t.Fatal(err)
		}
		res, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		var envelope struct{ Response map[string]any }
		json.NewDecoder(res.Body).Decode(&envelope)
		res.Body.Close()
		if got, _ := errOf(envelope.Response); got != tc.want {
			t.Errorf("version %q: code %q, want %q", tc.version, got, tc.want)
		}
	}
}

func TestUnknownFieldsAreIgnored(t *testing.T) {
	e := setup(t, false)
	resp := raw(t, e, adminCred, "CreateFunction", `{"FunctionName":"extra","Runtime":"CustomImage","VpcConfig":{"VpcId":""},"Brand":"new",
		"Code":{"ImageConfig":{"ImageType":"personal","ImageUri":"127.0.0.1:5000/a/b:1","EntryPoint":null,"Future":1}}}`, now, nil)
	if c, msg := errOf(resp); c != "" {
		t.Fatalf("CreateFunction with extra fields: %s %s", c, msg)
	}
}

func TestValidationFailureChangesNothing(t *testing.T) {
	e := setup(t, true)
	ctx := context.Background()
	call(t, e.admin, "CreateFunction", api.CreateFunctionRequest{FunctionName: "keep", Description: "before", Code: imageCode("127.0.0.1:5000/a/b:1")}, nil)
	before, err := e.store.GetFunction(ctx, "default", "keep", "")
	if err != nil {
		t.Fatal(err)
	}
	e.deployer.take()
	for _, tc := range []struct {
		action string
		req    any
		want   string
	}{
		{"UpdateFunctionConfiguration", map[string]any{"FunctionName": "keep", "Description": "after", "MemorySize": 100}, "InvalidParameterValue.MemorySize"},
		{"UpdateFunctionConfiguration", map[string]any{"FunctionName": "keep", "Description": "after", "Environment": map[string]any{"Variables": []map[string]string{{"Key": "1X", "Value": ""}}}}, "InvalidParameterValue.Environment"},
		{"UpdateFunctionCode", map[string]any{"FunctionName": "keep", "Code": map[string]any{"ImageConfig": map[string]any{"ImageUri": "r/a:2", "ImagePort": 70000}}}, "InvalidParameterValue.ImagePort"},
	} {
		if got := code(e.admin.Call(ctx, tc.action, tc.req, nil)); got != tc.want {
			t.Errorf("%s: code %q, want %q", tc.action, got, tc.want)
		}
	}
	after, err := e.store.GetFunction(ctx, "default", "keep", "")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("a refused update changed the function (-before +after):\n%s", diff)
	}
	if len(e.deployer.take()) != 0 {
		t.Error("a refused update called the deployer")
	}
}

func TestGetAccount(t *testing.T) {
	e := setup(t, false)
	call(t, e.admin, "CreateNamespace", api.CreateNamespaceRequest{Namespace: "team"}, nil)
	for _, f := range []struct{ ns, name string }{{"default", "b"}, {"default", "a"}, {"team", "c"}} {
		call(t, e.admin, "CreateFunction", api.CreateFunctionRequest{Namespace: f.ns, FunctionName: f.name + "fn", Code: imageCode("127.0.0.1:5000/a/b:1")}, nil)
	}
	var got api.GetAccountResponse
	call(t, e.admin, "GetAccount", nil, &got)
	limit := func(ns string) api.NamespaceLimit {
		return api.NamespaceLimit{
			FunctionsCount: 1000, Namespace: ns, ConcurrentExecutions: 128000, TimeoutLimit: 900,
			TestModelLimit: 10, InitTimeoutLimit: 900, RetryNumLimit: 2, MinMsgTTL: 60, MaxMsgTTL: 21600,
		}
	}
	want := api.GetAccountResponse{
		AccountUsage: api.UsageInfo{
			NamespacesCount: 2,
			Namespace: []api.NamespaceUsage{
				{Functions: []string{"afn", "bfn"}, Namespace: "default", FunctionsCount: 2, TotalConcurrencyMem: 128000},
				{Functions: []string{"cfn"}, Namespace: "team", FunctionsCount: 1, TotalConcurrencyMem: 128000},
			},
			TotalConcurrencyMem:     128000,
			UserConcurrencyMemLimit: 128000,
		},
		AccountLimit: api.LimitsInfo{NamespacesCount: 20, Namespace: []api.NamespaceLimit{limit("default"), limit("team")}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetAccount (-want +got):\n%s", diff)
	}
	call(t, e.team, "GetAccount", nil, &got)
	if got.AccountUsage.NamespacesCount != 1 || got.AccountUsage.Namespace[0].Namespace != "team" {
		t.Errorf("scoped GetAccount = %+v", got.AccountUsage)
	}
}

func TestLimits(t *testing.T) {
	st, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv := httptest.NewServer(api.New(api.Options{
		Store:  st,
		Keys:   api.KeyLookupFunc(keys),
		Limits: api.Limits{Namespaces: 2, FunctionsPerNamespace: 1},
	}))
	t.Cleanup(srv.Close)
	c := client.New(srv.URL, adminCred)
	ctx := context.Background()
	call(t, c, "CreateNamespace", api.CreateNamespaceRequest{Namespace: "second"}, nil)
	if got := code(c.Call(ctx, "CreateNamespace", api.CreateNamespaceRequest{Namespace: "third"}, nil)); got != "LimitExceeded.Namespace" {
		t.Errorf("third namespace: %q", got)
	}
	call(t, c, "CreateFunction", api.CreateFunctionRequest{FunctionName: "one", Code: imageCode("r/a:1")}, nil)
	if got := code(c.Call(ctx, "CreateFunction", api.CreateFunctionRequest{FunctionName: "two", Code: imageCode("r/a:1")}, nil)); got != "LimitExceeded.Function" {
		t.Errorf("second function: %q", got)
	}
}

func TestHandleAndEnvelope(t *testing.T) {
	var seen *api.Call
	e := setup(t, false, func(e *env, o *api.Options) {
		e.more = map[string]api.HandlerFunc{
			"Echo": func(ctx context.Context, c *api.Call) (any, error) {
				seen = c
				var req struct{ Say string }
				if err := c.Decode(&req); err != nil {
					return nil, err
				}
				return struct{ Said string }{req.Say}, nil
			},
			"Fail": func(ctx context.Context, c *api.Call) (any, error) {
				return nil, fmt.Errorf("disk on fire at /secret/path")
			},
		}
	})
	var got struct{ Said, RequestId string }
	call(t, e.admin, "Echo", map[string]string{"Say": "hi"}, &got)
	if got.Said != "hi" || len(got.RequestId) != 36 {
		t.Errorf("Echo = %+v", got)
	}
	if seen.SecretID != adminCred.SecretID || !seen.Scope.Admin || seen.Region != "ap-guangzhou" || seen.RequestID != got.RequestId {
		t.Errorf("Call = %+v", seen)
	}
	resp := raw(t, e, adminCred, "Fail", `{}`, now, nil)
	c, msg := errOf(resp)
	if c != "InternalError" || strings.Contains(msg, "secret") {
		t.Errorf("internal error shown as %q %q", c, msg)
	}

	// A body over the limit is refused before anything else.
	big := `{"Say":"` + strings.Repeat("x", api.MaxBodyBytes) + `"}`
	resp = raw(t, e, adminCred, "Echo", big, now, nil)
	if c, _ := errOf(resp); c != "RequestSizeLimitExceeded" {
		t.Errorf("oversized body: %q", c)
	}

	// Only POST.
	res, err := http.Get(e.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	var envelope struct{ Response map[string]any }
	json.NewDecoder(res.Body).Decode(&envelope)
	res.Body.Close()
	if c, _ := errOf(envelope.Response); c != "UnsupportedProtocol" {
		t.Errorf("GET: %q", c)
	}
}

// TestMissingServices: a server without a service answers its actions
// with UnsupportedOperation, and actions that do not exist with
// InvalidAction.
func TestMissingServices(t *testing.T) {
	e := setup(t, false)
	ctx := context.Background()
	call(t, e.admin, "CreateFunction", api.CreateFunctionRequest{FunctionName: "fn", Code: imageCode("r/a:1")}, nil)
	for _, tc := range []struct {
		action string
		req    any
		want   string
	}{
		{"Invoke", api.InvokeRequest{FunctionName: "fn"}, "UnsupportedOperation"},
		{"Invoke", api.InvokeRequest{FunctionName: "fn", InvocationType: "Event"}, "UnsupportedOperation.InvocationType"},
		{"InvokeFunction", api.InvokeFunctionRequest{FunctionName: "fn"}, "UnsupportedOperation"},
		{"GetFunctionLogs", api.GetFunctionLogsRequest{FunctionName: "fn"}, "UnsupportedOperation"},
		{"ListAsyncEvents", api.ListAsyncEventsRequest{}, "UnsupportedOperation"},
		{"ListTriggers", api.ListTriggersRequest{FunctionName: "fn"}, "UnsupportedOperation"},
		{"GetReservedConcurrencyConfig", api.FunctionRef{FunctionName: "fn"}, "UnsupportedOperation"},
		{"GetFunctionMetrics", api.GetFunctionMetricsRequest{FunctionName: "fn"}, "UnsupportedOperation"},
		{"ListInstances", api.ListInstancesRequest{FunctionName: "fn"}, "UnsupportedOperation"},
		{"GetUsage", api.GetUsageRequest{}, "UnsupportedOperation"},
		{"PublishVersion", api.PublishVersionRequest{FunctionName: "fn"}, "UnsupportedOperation"},
		{"NoSuchAction", struct{}{}, "InvalidAction"},
	} {
		t.Run(tc.action, func(t *testing.T) {
			if got := code(e.admin.Call(ctx, tc.action, tc.req, nil)); got != tc.want {
				t.Errorf("%s: %q, want %q", tc.action, got, tc.want)
			}
		})
	}
	// GetAccount reports Limits' quota without a concurrency service.
	var acct api.GetAccountResponse
	call(t, e.admin, "GetAccount", struct{}{}, &acct)
	if got := acct.AccountUsage.TotalConcurrencyMem; got != api.DefaultLimits.ConcurrencyMemoryMB {
		t.Errorf("GetAccount's quota = %d, want %d", got, api.DefaultLimits.ConcurrencyMemoryMB)
	}
}
