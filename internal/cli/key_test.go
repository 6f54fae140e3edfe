package cli

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/scfd/scfd/internal/api"
	"github.com/scfd/scfd/internal/credentials"
	"github.com/scfd/scfd/internal/store"
	"github.com/scfd/scfd/internal/tc3"
)

// TestKeyCommands creates, lists, disables, enables and deletes a tenant
// key with `scfd key`, and uses it with the CLI in between.
func TestKeyCommands(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	admin, _, err := credentials.EnsureAdmin(dir, credentials.Key{})
	if err != nil {
		t.Fatal(err)
	}
	keys := api.WithTenantKeys(api.KeyLookupFunc(func(id string) (string, api.Scope, error) {
		if id != admin.SecretID {
			return "", api.Scope{}, tc3.ErrSecretIDNotFound
		}
		return admin.SecretKey, api.Scope{Admin: true}, nil
	}), st)
	srv := httptest.NewServer(api.New(api.Options{Store: st, Keys: keys, TenantKeys: st, Logger: slog.New(slog.DiscardHandler)}))
	t.Cleanup(srv.Close)
	env := map[string]string{"SCFD_ENDPOINT": srv.URL, "SCFD_DATA_DIR": dir}

	mustRun(t, env, "ns", "create", "team")
	mustRun(t, env, "ns", "create", "other")
	out := mustRun(t, env, "key", "create", "-n", "team", "--role", "InvokeAndRead", "--description", "ci", "-o", "json")
	var created api.CreateKeyResponse
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.Key.SecretKey == "" {
		t.Fatalf("key create -o json: %v\n%s", err, out)
	}
	id := created.Key.SecretId
	if out := mustRun(t, env, "key", "create", "-n", "team,other", "--role", "ReadOnly"); !strings.Contains(out, "SecretKey:") || !strings.Contains(out, "not shown again") {
		t.Errorf("key create:\n%s", out)
	}
	out = mustRun(t, env, "key", "ls", "-n", "team")
	if !strings.Contains(out, id) || !strings.Contains(out, "InvokeAndRead") || !strings.Contains(out, "other,team") || strings.Contains(out, created.Key.SecretKey) {
		t.Errorf("key ls:\n%s", out)
	}
	var list api.ListKeysResponse
	if err := json.Unmarshal([]byte(mustRun(t, env, "key", "ls", "-o", "json")), &list); err != nil || list.TotalCount != 2 {
		t.Errorf("key ls -o json: %v %+v", err, list)
	}

	tenant := map[string]string{"SCFD_ENDPOINT": srv.URL, "SCFD_SECRET_ID": id, "SCFD_SECRET_KEY": created.Key.SecretKey}
	if out := mustRun(t, tenant, "ns", "ls"); !strings.Contains(out, "team") || strings.Contains(out, "other") {
		t.Errorf("the tenant key lists:\n%s", out)
	}
	for _, args := range [][]string{
		{"fn", "create", "app", "-n", "team", "--image", "127.0.0.1:5000/team/app:1"},
		{"key", "ls"},
		{"fn", "ls", "-n", "other"},
	} {
		if _, err := run(t, tenant, args...); err == nil || !strings.Contains(err.Error(), "UnauthorizedOperation") {
			t.Errorf("scfd %s with an invoking key: %v, want UnauthorizedOperation", strings.Join(args, " "), err)
		}
	}

	if out := mustRun(t, env, "key", "update", id, "--role", "ReadOnly", "-n", "team,other"); !strings.Contains(out, "ReadOnly") || !strings.Contains(out, "other,team") {
		t.Errorf("key update:\n%s", out)
	}
	if _, err := run(t, tenant, "invoke", "app", "-n", "team"); err == nil || !strings.Contains(err.Error(), "UnauthorizedOperation") {
		t.Errorf("invoke with a key made read-only: %v", err)
	}
	mustRun(t, tenant, "fn", "ls", "-n", "other")
	if out := mustRun(t, env, "key", "disable", id); !strings.Contains(out, "Disabled") {
		t.Errorf("key disable:\n%s", out)
	}
	if _, err := run(t, tenant, "fn", "ls", "-n", "team"); err == nil || !strings.Contains(err.Error(), "AuthFailure.SecretIdNotFound") {
		t.Errorf("a disabled key: %v", err)
	}
	mustRun(t, env, "key", "enable", id)
	mustRun(t, tenant, "fn", "ls", "-n", "team")
	mustRun(t, env, "key", "rm", id)
	if _, err := run(t, tenant, "fn", "ls", "-n", "team"); err == nil || !strings.Contains(err.Error(), "AuthFailure.SecretIdNotFound") {
		t.Errorf("a deleted key: %v", err)
	}
	if _, err := run(t, env, "key", "rm", id); err == nil || !strings.Contains(err.Error(), "ResourceNotFound") {
		t.Errorf("key rm twice: %v", err)
	}
}
