package cli

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scfd/scfd/internal/api"
	"github.com/scfd/scfd/internal/credentials"
	"github.com/scfd/scfd/internal/invocation"
	"github.com/scfd/scfd/internal/logs"
	"github.com/scfd/scfd/internal/store"
	"github.com/scfd/scfd/internal/tc3"
)

// echoInvoker answers with the event, and fails for events asking to.
type echoInvoker struct{ got []invocation.Request }

func (e *echoInvoker) Invoke(ctx context.Context, req invocation.Request) (*invocation.Result, error) {
	e.got = append(e.got, req)
	if strings.Contains(string(req.Event), "fail") {
		return &invocation.Result{RequestID: "r-fail", RetCode: 433, InvokeResult: 433, ErrMsg: "timed out", Log: "START RequestId:r-fail\n"}, nil
	}
	return &invocation.Result{RequestID: "r-1", RetMsg: string(req.Event), Duration: 1.5, BillDuration: 2, MemUsage: 1 << 20, Log: "START RequestId:r-1\nEND RequestId:r-1\n"}, nil
}

func invokeServer(t *testing.T) (map[string]string, *echoInvoker, *logs.Store) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ls, err := logs.Open(context.Background(), st, logs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ls.Close() })
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
	inv := &echoInvoker{}
	srv := api.New(api.Options{Store: st, Keys: keys, Invoker: inv, Logs: ls})
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return map[string]string{"SCFD_ENDPOINT": hs.URL, "SCFD_DATA_DIR": dir}, inv, ls
}

func TestInvokeCommand(t *testing.T) {
	env, inv, _ := invokeServer(t)
	out, err := run(t, env, "invoke", "hello", "--event", `{"a":1}`)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, `{"a":1}`+"\n") || !strings.Contains(out, "RequestId r-1") || !strings.Contains(out, "END RequestId:r-1") {
		t.Errorf("output:\n%s", out)
	}
	file := filepath.Join(t.TempDir(), "event.json")
	os.WriteFile(file, []byte(`{"from":"file"}`), 0o600)
	if _, err := run(t, env, "invoke", "hello", "-n", "team", "--event", "@"+file); err != nil {
		t.Fatal(err)
	}
	if got := inv.got[1]; string(got.Event) != `{"from":"file"}` || got.Namespace != "team" || !got.LogTail {
		t.Errorf("second request %+v", got)
	}
	out, err = run(t, env, "invoke", "hello", "--event", `{"fail":true}`)
	if err == nil || !strings.Contains(err.Error(), "status 433") || !strings.Contains(out, "error (433): timed out") {
		t.Errorf("failed invocation: err %v, output:\n%s", err, out)
	}
}

func TestLogsCommand(t *testing.T) {
	env, _, ls := invokeServer(t)
	now := time.Now()
	for i, id := range []string{"old", "new"} {
		ls.Put(context.Background(), logs.Entry{RequestID: id, Namespace: "default", Function: "hello", Qualifier: "$LATEST",
			StartTime: now.Add(time.Duration(i-2) * time.Minute), Log: "START RequestId:" + id + "\n", InvokeFinished: 1})
	}
	out, err := run(t, env, "logs", "hello")
	if err != nil {
		t.Fatal(err)
	}
	if i, j := strings.Index(out, "RequestId:old"), strings.Index(out, "RequestId:new"); i < 0 || j < i {
		t.Errorf("want both, oldest first:\n%s", out)
	}
	out, err = run(t, env, "logs", "hello", "--request-id", "new")
	if err != nil || strings.Contains(out, "old") || !strings.Contains(out, "RequestId:new") {
		t.Errorf("--request-id: err %v\n%s", err, out)
	}
}
