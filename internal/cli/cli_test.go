package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/scfd/scfd/internal/api"
	"github.com/scfd/scfd/internal/credentials"
	"github.com/scfd/scfd/internal/store"
	"github.com/scfd/scfd/internal/tc3"
)

// server runs the real API over a real store and returns an environment
// pointing the CLI at it with the administrator key kept in a data dir.
func server(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key, _, err := credentials.EnsureAdmin(dir, credentials.Key{})
	if err != nil {
		t.Fatal(err)
	}
	keys := api.KeyLookupFunc(func(id string) (string, api.Scope, error) {
		if id != key.SecretID {
			return "", api.Scope{}, tc3.ErrSecretIDNotFound
		}
		return key.SecretKey, api.Scope{Admin: true}, nil
	})
	srv := httptest.NewServer(api.New(api.Options{Store: st, Keys: keys, Region: "ap-guangzhou", AppID: "1", UIN: "2"}))
	t.Cleanup(srv.Close)
	return map[string]string{"SCFD_ENDPOINT": srv.URL, "SCFD_DATA_DIR": dir}
}

func run(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := NewRoot(func(k string) string { return env[k] }, &out, &errOut)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func mustRun(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	out, err := run(t, env, args...)
	if err != nil {
		t.Fatalf("scfd %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func TestNamespaceAndFunctionCommands(t *testing.T) {
	env := server(t)
	mustRun(t, env, "ns", "create", "team", "--description", "the team")
	if out := mustRun(t, env, "ns", "ls"); !strings.Contains(out, "team") || !strings.Contains(out, "the team") {
		t.Errorf("ns ls:\n%s", out)
	}
	out := mustRun(t, env, "fn", "create", "hello", "-n", "team", "--image", "127.0.0.1:5000/a/b:v1",
		"--memory", "256", "--timeout", "5", "--env", "A=1", "--env", "B=x=y", "--command", "/server -v", "--args", "a 'b c'")
	if !strings.Contains(out, "team/hello: Active") {
		t.Errorf("fn create said:\n%s", out)
	}
	out = mustRun(t, env, "fn", "get", "hello", "-n", "team", "-o", "json")
	var f api.GetFunctionResponse
	if err := json.Unmarshal([]byte(out), &f); err != nil {
		t.Fatalf("fn get -o json is not JSON: %v\n%s", err, out)
	}
	if f.MemorySize != 256 || f.Timeout != 5 || f.ImageConfig.Command != "/server -v" || f.ImageConfig.Args != "a 'b c'" ||
		len(f.Environment.Variables) != 2 || f.Environment.Variables[1].Value != "x=y" {
		t.Errorf("fn get: %+v", f)
	}
	mustRun(t, env, "fn", "update", "hello", "-n", "team", "--memory", "512", "--image", "127.0.0.1:5000/a/b:v2")
	out = mustRun(t, env, "fn", "get", "hello", "-n", "team")
	for _, want := range []string{"512 MB", "127.0.0.1:5000/a/b:v2", "Command:", "/server -v", "A=1"} {
		if !strings.Contains(out, want) {
			t.Errorf("fn get after update lacks %q:\n%s", want, out)
		}
	}
	if out := mustRun(t, env, "fn", "ls", "-n", "team"); !strings.Contains(out, "hello") {
		t.Errorf("fn ls:\n%s", out)
	}
	if _, err := run(t, env, "ns", "rm", "team"); err == nil || !strings.Contains(err.Error(), "ResourceInUse.Namespace") {
		t.Errorf("ns rm of a namespace in use: %v", err)
	}
	mustRun(t, env, "fn", "rm", "hello", "-n", "team")
	mustRun(t, env, "ns", "rm", "team")
	if _, err := run(t, env, "fn", "get", "hello", "-n", "team"); err == nil || !strings.Contains(err.Error(), "ResourceNotFound") {
		t.Errorf("fn get after rm: %v", err)
	}
}

func TestErrorsAreClear(t *testing.T) {
	env := server(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"fn", "create", "x", "--image", "a/b"}, "InvalidParameterValue.FunctionName"},
		{[]string{"fn", "create", "hello"}, "--image is required"},
		{[]string{"fn", "create", "hello", "--image", "a/b", "--env", "novalue"}, `want K=V`},
		{[]string{"ns", "ls", "-o", "yaml"}, "unknown output format"},
		{[]string{"deploy", ".", "--name", "9lives"}, "name the function with --name"},
		{[]string{"deploy", ".", "--name", "ok", "-n", "Team"}, "use a lower-case namespace"},
		{[]string{"deploy", "no-such-dir", "--name", "ok"}, "no-such-dir is not a directory"},
		{[]string{"deploy", ".", "--name", "ok"}, "write a Dockerfile there"},
		{[]string{"push", "oci:" + t.TempDir(), "a/b:1"}, "is not an OCI image layout"},
		{[]string{"alias", "create", "f", "a", "--version", "1", "--match", "2:k"}, "want VERSION:KEY:exact:VALUE"},
	} {
		_, err := run(t, env, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("scfd %s: %v, want an error with %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
	bad := map[string]string{"SCFD_ENDPOINT": env["SCFD_ENDPOINT"], "SCFD_SECRET_ID": "AKIDnobody", "SCFD_SECRET_KEY": "x"}
	if _, err := run(t, bad, "ns", "ls"); err == nil || !strings.Contains(err.Error(), "AuthFailure.SecretIdNotFound") {
		t.Errorf("unknown key: %v", err)
	}
	nokey := map[string]string{"SCFD_ENDPOINT": env["SCFD_ENDPOINT"], "SCFD_DATA_DIR": t.TempDir()}
	if _, err := run(t, nokey, "ns", "ls"); err == nil || !strings.Contains(err.Error(), "no key given") {
		t.Errorf("no key: %v", err)
	}
}
