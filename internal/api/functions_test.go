package api_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/scfd/scfd/internal/api"
	"github.com/scfd/scfd/internal/scf"
)

func TestListFunctionsFilters(t *testing.T) {
	e := setup(t, false)
	for _, f := range []struct {
		name, typ string
		tags      []api.Tag
	}{
		{"web-prod", "HTTP", []api.Tag{{Key: "env", Value: "prod"}, {Key: "team", Value: "a"}}},
		{"web-dev", "HTTP", []api.Tag{{Key: "env", Value: "dev"}}},
		{"job-prod", "Event", []api.Tag{{Key: "env", Value: "prod"}, {Key: "team", Value: "b"}}},
		{"untagged", "", nil},
	} {
		call(t, e.admin, "CreateFunction", api.CreateFunctionRequest{FunctionName: f.name, Type: f.typ, Tags: f.tags, Code: imageCode("127.0.0.1:5000/a/b:1")}, nil)
	}
	var fn api.GetFunctionResponse
	call(t, e.admin, "GetFunction", api.GetFunctionRequest{FunctionName: "web-prod"}, &fn)
	if diff := cmp.Diff([]api.Tag{{Key: "env", Value: "prod"}, {Key: "team", Value: "a"}}, fn.Tags); diff != "" {
		t.Errorf("GetFunction Tags (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		name    string
		filters []api.Filter
		want    []string
	}{
		{"Type HTTP", []api.Filter{{Name: "Type", Values: []string{"HTTP"}}}, []string{"web-dev", "web-prod"}},
		{"Type Event", []api.Filter{{Name: "Type", Values: []string{"Event"}}}, []string{"job-prod", "untagged"}},
		{"a tag", []api.Filter{{Name: "tag-env", Values: []string{"prod"}}}, []string{"job-prod", "web-prod"}},
		{"a tag, two values", []api.Filter{{Name: "tag-env", Values: []string{"prod", "dev"}}}, []string{"job-prod", "web-dev", "web-prod"}},
		{"two tags", []api.Filter{{Name: "tag-env", Values: []string{"prod"}}, {Name: "tag-team", Values: []string{"b"}}}, []string{"job-prod"}},
		{"a tag and a type", []api.Filter{{Name: "tag-env", Values: []string{"prod"}}, {Name: "Type", Values: []string{"HTTP"}}}, []string{"web-prod"}},
		{"a tag nobody has", []api.Filter{{Name: "tag-owner", Values: []string{"prod"}}}, []string{}},
		{"a value of another key", []api.Filter{{Name: "tag-team", Values: []string{"prod"}}}, []string{}},
		{"a tag value with SQL", []api.Filter{{Name: "tag-env", Values: []string{"prod') OR 1=1 --"}}}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var list api.ListFunctionsResponse
			call(t, e.admin, "ListFunctions", api.ListFunctionsRequest{Filters: tc.filters, Orderby: "FunctionName", Order: "ASC"}, &list)
			got := []string{}
			for _, f := range list.Functions {
				got = append(got, f.FunctionName)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" || list.TotalCount != int64(len(tc.want)) {
				t.Errorf("TotalCount %d, functions (-want +got):\n%s", list.TotalCount, diff)
			}
		})
	}

	for _, tc := range []struct {
		name    string
		filters []api.Filter
		want    string
	}{
		{"no values", []api.Filter{{Name: "tag-env"}}, "InvalidParameterValue.Filters"},
		{"six values", []api.Filter{{Name: "Type", Values: []string{"1", "2", "3", "4", "5", "6"}}}, "InvalidParameterValue.Filters"},
		{"eleven filters", func() []api.Filter {
			var fs []api.Filter
			for range 11 {
				fs = append(fs, api.Filter{Name: "Type", Values: []string{"HTTP"}})
			}
			return fs
		}(), "InvalidParameterValue.Filters"},
		{"tag- without a key", []api.Filter{{Name: "tag-", Values: []string{"x"}}}, "InvalidParameterValue.Filters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.admin.Call(t.Context(), "ListFunctions", api.ListFunctionsRequest{Filters: tc.filters}, nil)
			if got := code(err); got != tc.want {
				t.Errorf("code %q (%v), want %q", got, err, tc.want)
			}
		})
	}
}

func TestUpdatesWithPublish(t *testing.T) {
	e := setup(t, false, func(e *env, o *api.Options) { o.Versions = e.store })
	ctx := t.Context()
	call(t, e.admin, "CreateFunction", api.CreateFunctionRequest{FunctionName: "fn", Code: imageCode("127.0.0.1:5000/a/b:1")}, nil)
	mem := int64(256)
	call(t, e.admin, "UpdateFunctionConfiguration", api.UpdateFunctionConfigurationRequest{FunctionName: "fn", MemorySize: &mem, Publish: "TRUE"}, nil)
	call(t, e.admin, "UpdateFunctionConfiguration", api.UpdateFunctionConfigurationRequest{FunctionName: "fn", Publish: "FALSE"}, nil)
	// Without a deployer the new code is Active at once, and published.
	call(t, e.admin, "UpdateFunctionCode", api.UpdateFunctionCodeRequest{FunctionName: "fn", Code: imageCode("127.0.0.1:5000/a/b:2"), Publish: "TRUE"}, nil)
	var list api.ListVersionByFunctionResponse
	call(t, e.admin, "ListVersionByFunction", api.ListVersionByFunctionRequest{FunctionName: "fn"}, &list)
	if diff := cmp.Diff([]string{"$LATEST", "1", "2"}, list.FunctionVersion); diff != "" {
		t.Fatalf("versions (-want +got):\n%s", diff)
	}
	for v, want := range map[string]api.GetFunctionResponse{
		"1": {MemorySize: 256, ImageConfig: &api.ImageConfig{ImageUri: "127.0.0.1:5000/a/b:1"}},
		"2": {MemorySize: 256, ImageConfig: &api.ImageConfig{ImageUri: "127.0.0.1:5000/a/b:2"}},
	} {
		var got api.GetFunctionResponse
		call(t, e.admin, "GetFunction", api.GetFunctionRequest{FunctionName: "fn", Qualifier: v}, &got)
		if got.MemorySize != want.MemorySize || got.ImageConfig.ImageUri != want.ImageConfig.ImageUri {
			t.Errorf("version %s: %d MB of %s, want %d MB of %s", v, got.MemorySize, got.ImageConfig.ImageUri, want.MemorySize, want.ImageConfig.ImageUri)
		}
	}
	err := e.admin.Call(ctx, "UpdateFunctionCode", api.UpdateFunctionCodeRequest{FunctionName: "fn", Code: imageCode("127.0.0.1:5000/a/b:3"), Publish: "YES"}, nil)
	if got := code(err); got != "InvalidParameterValue.Publish" {
		t.Errorf("Publish YES: code %q", got)
	}
}

func TestPublishWaitsForThePull(t *testing.T) {
	e := setup(t, true, func(e *env, o *api.Options) { o.Versions = e.store })
	ctx := t.Context()
	call(t, e.admin, "CreateFunction", api.CreateFunctionRequest{FunctionName: "fn", Code: imageCode("127.0.0.1:5000/a/b:1")}, nil)
	// Creating: the request waits for the deployer.
	mem := int64(256)
	call(t, e.admin, "UpdateFunctionConfiguration", api.UpdateFunctionConfigurationRequest{FunctionName: "fn", MemorySize: &mem, Publish: "TRUE"}, nil)
	fn, err := e.store.GetFunction(ctx, "default", "fn", "")
	if err != nil {
		t.Fatal(err)
	}
	if !fn.PublishOnActive || fn.Status != "Creating" {
		t.Errorf("after a configuration update with Publish while Creating: %s, PublishOnActive %v", fn.Status, fn.PublishOnActive)
	}
	// A later code update without Publish withdraws the request.
	call(t, e.admin, "UpdateFunctionCode", api.UpdateFunctionCodeRequest{FunctionName: "fn", Code: imageCode("127.0.0.1:5000/a/b:2")}, nil)
	if fn, _ := e.store.GetFunction(ctx, "default", "fn", ""); fn.PublishOnActive {
		t.Error("a code update without Publish kept the earlier request")
	}
	call(t, e.admin, "UpdateFunctionCode", api.UpdateFunctionCodeRequest{FunctionName: "fn", Code: imageCode("127.0.0.1:5000/a/b:3"), Publish: "TRUE"}, nil)
	if fn, _ := e.store.GetFunction(ctx, "default", "fn", ""); !fn.PublishOnActive || fn.Status != "Updating" {
		t.Errorf("after a code update with Publish: %s, PublishOnActive %v", fn.Status, fn.PublishOnActive)
	}
	if vs, _ := e.store.ListVersions(ctx, "default", "fn"); len(vs) != 1 {
		t.Errorf("%d versions before the pull ended, want $LATEST only", len(vs))
	}
	// A failed function cannot be published.
	if _, err := e.store.UpdateFunction(ctx, "default", "fn", "", func(f *scf.Function) error { f.Status = scf.StatusUpdateFailed; return nil }); err != nil {
		t.Fatal(err)
	}
	err = e.admin.Call(ctx, "UpdateFunctionConfiguration", api.UpdateFunctionConfigurationRequest{FunctionName: "fn", MemorySize: &mem, Publish: "TRUE"}, nil)
	if got := code(err); got != "FailedOperation.PublishVersion" {
		t.Errorf("Publish of an UpdateFailed function: code %q", got)
	}
}

func TestCommandAndArgsAreParsedWhenSet(t *testing.T) {
	e := setup(t, false)
	ctx := t.Context()
	withCommand := func(command, args string) *api.Code {
		return &api.Code{ImageConfig: &api.ImageConfig{ImageType: "personal", ImageUri: "127.0.0.1:5000/a/b:1", Command: command, Args: args}}
	}
	call(t, e.admin, "CreateFunction", api.CreateFunctionRequest{FunctionName: "fn", Code: withCommand(`/server -say "a b"`, "")}, nil)
	for _, tc := range []struct {
		name          string
		command, args string
		want          string
	}{
		{"unbalanced quote in Command", `sh -c "echo`, "", "InvalidParameterValue.Command"},
		{"trailing backslash in Args", "/server", `-x \`, "InvalidParameterValue.Args"},
		{"unbalanced quote in Args", "", `'a`, "InvalidParameterValue.Args"},
		{"NUL in Command", "/server\x00-x", "", "InvalidParameterValue.Command"},
		{"only spaces in Command", "   ", "", "InvalidParameterValue.Command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.admin.Call(ctx, "CreateFunction", api.CreateFunctionRequest{FunctionName: "other", Code: withCommand(tc.command, tc.args)}, nil)
			if got := code(err); got != tc.want {
				t.Errorf("CreateFunction: code %q, want %q", got, tc.want)
			}
			err = e.admin.Call(ctx, "UpdateFunctionCode", api.UpdateFunctionCodeRequest{FunctionName: "fn", Code: withCommand(tc.command, tc.args)}, nil)
			if got := code(err); got != tc.want {
				t.Errorf("UpdateFunctionCode: code %q, want %q", got, tc.want)
			}
		})
	}
	var g api.GetFunctionResponse
	call(t, e.admin, "GetFunction", api.GetFunctionRequest{FunctionName: "fn"}, &g)
	if g.ImageConfig.Command != `/server -say "a b"` {
		t.Errorf("a refused update changed Command to %q", g.ImageConfig.Command)
	}
}
