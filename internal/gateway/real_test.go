package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scfd/scfd/internal/credentials"
	"github.com/scfd/scfd/internal/gateway"
	"github.com/scfd/scfd/internal/invocation"
	"github.com/scfd/scfd/internal/invoke"
	"github.com/scfd/scfd/internal/localrt"
	"github.com/scfd/scfd/internal/localrt/localrttest"
	"github.com/scfd/scfd/internal/logs"
	"github.com/scfd/scfd/internal/pool"
	"github.com/scfd/scfd/internal/sandbox"
	"github.com/scfd/scfd/internal/scf"
	"github.com/scfd/scfd/internal/store"
)

// The real tests run the web function (./webfunc) in runc containers
// through localrt and the real pool.
const (
	webFuncPackage = "github.com/scfd/scfd/internal/gateway/webfunc"
	testDigest     = "sha256:00000000000000000000000000000000000000000000000000000000000000a1"
	testSubnet     = "10.209.244.0/24"
	testNetwork    = "scfdtgw"
)

var (
	acct       = sandbox.Account{Region: "ap-guangzhou", AppID: "1250000000", UIN: "100000000001"}
	testLayer  string // the web function's unpacked layer; "" when not root
	testDriver *localrt.Driver
	testImages localrttest.ImageFunc // the test function's image, whatever its digest
	webFuncBin string                // the web function built for the host
)

func TestMain(m *testing.M) {
	os.Exit(localrttest.Main(m, localrttest.Options{Name: testNetwork, Subnet: testSubnet, Package: webFuncPackage, Pool: 1}, func(e *localrttest.Env) {
		testLayer, testDriver, testImages = e.Layer, e.Driver, e.Images()
		webFuncBin = e.Server
	}))
}

// realEnv is a gateway over the real pool, store and logs, served on
// loopback.
type realEnv struct {
	st   *store.Store
	logs *logs.Store
	pool *pool.Pool
	gw   *gateway.Gateway
	rec  *recorder
	url  string
	n    atomic.Int64
}

// recorder keeps what the gateway meters, by request id.
type recorder struct {
	mu  sync.Mutex
	got map[string]invocation.Finished
}

func (r *recorder) Record(ctx context.Context, f invocation.Finished) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got[f.Result.RequestID] = f
}

func (r *recorder) of(id string) (invocation.Finished, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f, ok := r.got[id]
	return f, ok
}

func newRealEnv(t testing.TB) *realEnv {
	t.Helper()
	if testLayer == "" {
		t.Skip("needs root: runs runc containers")
	}
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ls, err := logs.Open(ctx, st, logs.Options{}) // as scfd serve writes them
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ls.Close() })
	p, err := pool.New(ctx, pool.Options{Driver: testDriver, Images: testImages, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(context.Background()); err != nil {
			t.Errorf("pool Close: %v", err)
		}
	})
	rec := &recorder{got: map[string]invocation.Finished{}}
	engine := invoke.New(invoke.Options{
		Functions: st, Aliases: st, Instances: p, Logs: ls, Account: acct, Recorder: rec,
		Credentials: credentials.NewIssuer(credentials.IssuerOptions{}),
	})
	gw := gateway.New(gateway.Options{Functions: st, Engine: engine})
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	return &realEnv{st: st, logs: ls, pool: p, gw: gw, rec: rec, url: srv.URL}
}

// function stores an Active web function and returns its name.
func (e *realEnv) function(t testing.TB, set func(*scf.Function)) string {
	t.Helper()
	fn := &scf.Function{
		Name: fmt.Sprintf("web%d", e.n.Add(1)), Type: scf.TypeHTTP, Image: scf.ImageConfig{ImageUri: "reg.test/web:1"},
		ImageDigest: testDigest, Status: scf.StatusActive,
	}
	scf.ApplyDefaults(fn)
	fn.Type = scf.TypeHTTP
	if set != nil {
		set(fn)
	}
	if err := e.st.CreateFunction(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
	return fn.Name
}

// get sends a GET and fails the test on a transport error.
func get(t testing.TB, url string) *http.Response {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// logOf waits for the stored log entry of a request: the gateway keeps
// it once the answer is sent, so it may come just after the client read
// the answer.
func (e *realEnv) logOf(t testing.TB, name, id string) logs.Entry {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, total, err := e.logs.Query(context.Background(), logs.Query{Function: name, RequestID: id})
		if err != nil {
			t.Fatal(err)
		}
		if total == 1 {
			return got[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("log of %s: %d entries", id, total)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
