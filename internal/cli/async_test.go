package cli

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scfd/scfd/internal/api"
	"github.com/scfd/scfd/internal/async"
	"github.com/scfd/scfd/internal/credentials"
	"github.com/scfd/scfd/internal/invocation"
	"github.com/scfd/scfd/internal/store"
	"github.com/scfd/scfd/internal/tc3"
)

// flakyInvoker fails every attempt with a function error until ok is set.
type flakyInvoker struct{ ok atomic.Bool }

func (f *flakyInvoker) Invoke(ctx context.Context, req invocation.Request) (*invocation.Result, error) {
	if f.ok.Load() {
		return &invocation.Result{RequestID: req.RequestID}, nil
	}
	return &invocation.Result{RequestID: req.RequestID, RetCode: 430, InvokeResult: 430, ErrMsg: "it broke"}, nil
}

func TestAsyncCommands(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := store.Open(ctx, dir)
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
	iv := &flakyInvoker{}
	q, err := async.Open(ctx, async.Options{Store: st, Functions: st, Invoker: iv})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	s := api.New(api.Options{Store: st, Keys: keys, Async: q})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	env := map[string]string{"SCFD_ENDPOINT": srv.URL, "SCFD_DATA_DIR": dir}

	mustRun(t, env, "fn", "create", "job", "--image", "127.0.0.1:5000/a/b:v1")
	if err := q.SetConfig(ctx, "default", "job", async.Policy{RetryNum: 0, MsgTTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	id, err := q.Enqueue(ctx, invocation.Request{Function: "job"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor := func(status string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			if e, _ := q.Get(ctx, id); e.Status == status {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("event %s never %s", id, status)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor(async.StatusFailed)
	out := mustRun(t, env, "async", "ls", "--dead")
	if !strings.Contains(out, id) || !strings.Contains(out, "FAILED") || !strings.Contains(out, "it broke") {
		t.Errorf("async ls --dead:\n%s", out)
	}
	iv.ok.Store(true)
	mustRun(t, env, "async", "retry", id)
	waitFor(async.StatusFinished)
	if out := mustRun(t, env, "async", "ls", "--dead"); strings.Contains(out, id) {
		t.Errorf("async ls --dead after the retry still lists it:\n%s", out)
	}
	if out := mustRun(t, env, "async", "ls", "-f", "job"); !strings.Contains(out, "FINISHED") {
		t.Errorf("async ls:\n%s", out)
	}
	if _, err := run(t, env, "async", "terminate", id, "-f", "job"); err == nil || !strings.Contains(err.Error(), "ended") {
		t.Errorf("terminating an ended event: %v", err)
	}
}
