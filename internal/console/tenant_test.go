package console_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/scfd/scfd/internal/api"
	"github.com/scfd/scfd/internal/console"
	"github.com/scfd/scfd/internal/scf"
	"github.com/scfd/scfd/internal/store"
)

// TestTenantKeySessions signs in with tenant keys of the store: the
// session names the key's namespaces, role and actions, and a key
// disabled or deleted since sign-in ends its sessions at the next request.
func TestTenantKeySessions(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	lookup := api.WithTenantKeys(api.KeyLookupFunc(keys), st)
	a := api.New(api.Options{Store: st, Keys: lookup, TenantKeys: st, Logger: quiet()})
	mux := http.NewServeMux()
	mux.Handle(console.Prefix, console.New(console.Options{API: a, Keys: lookup, SessionTTL: time.Hour, Logger: quiet()}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e := &env{srv: srv, store: st}
	for _, ns := range []string{"team", "other"} {
		if err := st.CreateNamespace(ctx, scf.Namespace{Name: ns}); err != nil {
			t.Fatal(err)
		}
	}
	reader, err := st.CreateKey(ctx, scf.Key{SecretID: "AKIDreader", SecretKey: "reader-secret", Namespaces: []string{"team"}, Role: scf.RoleReadOnly})
	if err != nil {
		t.Fatal(err)
	}

	b := e.browser(t)
	status, out := b.signIn(reader.SecretID, reader.SecretKey)
	if status != http.StatusOK {
		t.Fatalf("sign-in: %d %v", status, out)
	}
	if out["Role"] != "ReadOnly" || out["Admin"] != false {
		t.Errorf("session %v, want Role ReadOnly", out)
	}
	var actions []string
	for _, a := range out["Actions"].([]any) {
		actions = append(actions, a.(string))
	}
	if !slices.Contains(actions, "GetFunction") || slices.Contains(actions, "Invoke") || slices.Contains(actions, "UpdateFunctionConfiguration") || slices.Contains(actions, "ListKeys") {
		t.Errorf("a read-only key's actions: %v", actions)
	}
	_, out = b.action("ListNamespaces", `{}`)
	resp := out["Response"].(map[string]any)
	if nss := resp["Namespaces"].([]any); len(nss) != 1 || nss[0].(map[string]any)["Name"] != "team" {
		t.Errorf("a team key lists %v, want team only", nss)
	}
	if _, out := b.action("CreateFunction", `{"Namespace":"team","FunctionName":"app","Code":{"ImageConfig":{"ImageUri":"127.0.0.1:5000/team/app:1"}}}`); errorCode(out) != "UnauthorizedOperation.CAM" {
		t.Errorf("a read-only key creating a function: %v", out)
	}

	if _, err := st.UpdateKey(ctx, reader.SecretID, func(k *scf.Key) error { k.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if status, out := b.action("ListNamespaces", `{}`); status != http.StatusUnauthorized {
		t.Errorf("after the key was disabled: %d %v, want 401", status, out)
	}
	if _, err := st.UpdateKey(ctx, reader.SecretID, func(k *scf.Key) error { k.Disabled = false; return nil }); err != nil {
		t.Fatal(err)
	}
	if status, out := b.action("ListNamespaces", `{}`); status != http.StatusUnauthorized {
		t.Errorf("the session came back with the key: %d %v, want 401", status, out)
	}
	if status, out := b.signIn(reader.SecretID, reader.SecretKey); status != http.StatusOK {
		t.Fatalf("sign-in again: %d %v", status, out)
	}
	if err := st.DeleteKey(ctx, reader.SecretID); err != nil {
		t.Fatal(err)
	}
	if status, out := b.action("ListNamespaces", `{}`); status != http.StatusUnauthorized {
		t.Errorf("after the key was deleted: %d %v, want 401", status, out)
	}
}
