package invoke

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scfd/scfd/internal/credentials"
	"github.com/scfd/scfd/internal/invocation"
	"github.com/scfd/scfd/internal/localrt"
	"github.com/scfd/scfd/internal/localrt/localrttest"
	"github.com/scfd/scfd/internal/logs"
	"github.com/scfd/scfd/internal/pool"
	"github.com/scfd/scfd/internal/sandbox"
	"github.com/scfd/scfd/internal/scf"
	"github.com/scfd/scfd/internal/store"
)

// The real tests run the test function (test/e2e/testfunc) in runc
// containers through localrt and the real pool.
const (
	testFuncPackage = "github.com/scfd/scfd/test/e2e/testfunc"
	testDigest      = "sha256:0000000000000000000000000000000000000000000000000000000000000001"
	testSubnet      = "10.209.249.0/24"
	testNetwork     = "scfdtinv"
)

var (
	testLayer  string // the test function's unpacked layer; "" when not root
	testDriver *localrt.Driver
	testImages localrttest.ImageFunc // the test function's image, whatever its digest
)

func TestMain(m *testing.M) {
	os.Exit(localrttest.Main(m, localrttest.Options{Name: testNetwork, Subnet: testSubnet, Package: testFuncPackage, Pool: 1}, func(e *localrttest.Env) {
		testLayer, testDriver, testImages = e.Layer, e.Driver, e.Images()
	}))
}

// shortStartup gives instances of functions named "short..." a short
// start-up check, so that the start-up failure test does not wait 30 s.
type shortStartup struct {
	sandbox.Driver
	timeout time.Duration
}

func (d shortStartup) Start(ctx context.Context, spec sandbox.Spec) (sandbox.Instance, error) {
	if strings.HasPrefix(spec.Function, "short") {
		spec.StartupTimeout = d.timeout
	}
	return d.Driver.Start(ctx, spec)
}

// realEnv is an Invoker over the real pool, store and logs.
type realEnv struct {
	iv     *Invoker
	st     *store.Store
	logs   *logs.Store
	pool   *pool.Pool
	issuer *credentials.Issuer
	n      atomic.Int64
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
	ls, err := logs.Open(ctx, st, logs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ls.Close() })
	p, err := pool.New(ctx, pool.Options{
		Driver: shortStartup{testDriver, 2 * time.Second},
		Images: testImages,
		Store:  st,
		InstanceLog: func(fn *scf.Function, l sandbox.LogLine) {
			ls.Instance(fn.Namespace, fn.Name, fn.Version, l)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(context.Background()); err != nil {
			t.Errorf("pool Close: %v", err)
		}
	})
	iss := credentials.NewIssuer(credentials.IssuerOptions{})
	iv := New(Options{Functions: st, Instances: p, Logs: ls, Credentials: iss, Account: acct})
	return &realEnv{iv: iv, st: st, logs: ls, pool: p, issuer: iss}
}

// function stores an Active function and returns its name.
func (e *realEnv) function(t testing.TB, set func(*scf.Function)) string {
	t.Helper()
	fn := &scf.Function{
		Name: fmt.Sprintf("fn%d", e.n.Add(1)), Image: scf.ImageConfig{ImageUri: "reg.test/fn:1"},
		ImageDigest: testDigest, Status: scf.StatusActive,
	}
	scf.ApplyDefaults(fn)
	if set != nil {
		set(fn)
	}
	if err := e.st.CreateFunction(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
	return fn.Name
}

func (e *realEnv) invoke(t testing.TB, name, event string) *invocation.Result {
	t.Helper()
	res, err := e.iv.Invoke(context.Background(), invocation.Request{Function: name, Event: []byte(event), LogTail: true})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestRealInvocation(t *testing.T) {
	e := newRealEnv(t)
	name := e.function(t, func(fn *scf.Function) { fn.MemorySize = 256 })
	res := e.invoke(t, name, `{"print":["printed by the function"],"stderr":["to stderr"],"alloc_mb":20}`)
	if res.RetCode != 0 {
		t.Fatalf("result %+v", res)
	}
	var echo struct {
		Event   map[string]any
		Headers map[string]string
		Env     map[string]string
		Path    string
	}
	if err := json.Unmarshal([]byte(res.RetMsg), &echo); err != nil {
		t.Fatalf("RetMsg %q: %v", res.RetMsg, err)
	}
	if echo.Path != "/event-invoke" || echo.Headers["X-Scf-Request-Id"] != res.RequestID || echo.Headers["X-Scf-Memory"] != "256" ||
		echo.Env["SCF_FUNCTIONNAME"] != name || echo.Headers["X-Scf-Secret-Id"] == "" {
		t.Errorf("the function saw %+v", echo)
	}
	if !res.Cold || !strings.Contains(res.Log, "Init Report RequestId:"+res.RequestID) {
		t.Errorf("first call: Cold %v, log:\n%s", res.Cold, res.Log)
	}
	for _, want := range []string{"printed by the function", "to stderr", "END RequestId:" + res.RequestID} {
		if !strings.Contains(res.Log, want) {
			t.Errorf("log lacks %q:\n%s", want, res.Log)
		}
	}
	if res.MemUsage < 20<<20 || res.MemUsage > 256<<20 {
		t.Errorf("MemUsage = %d, want the peak of about 20 MB or more", res.MemUsage)
	}
	warm := e.invoke(t, name, `{}`)
	if warm.RetCode != 0 || warm.Cold || strings.Contains(warm.Log, "Init Report") {
		t.Errorf("second call: %+v", warm)
	}
	got, total, err := e.logs.Query(context.Background(), logs.Query{Function: name, RequestID: res.RequestID})
	if err != nil || total != 1 || !strings.Contains(got[0].Log, "printed by the function") {
		t.Errorf("stored log: %+v total %d err %v", got, total, err)
	}
}

func TestRealTimeoutDestroysInstance(t *testing.T) {
	e := newRealEnv(t)
	name := e.function(t, func(fn *scf.Function) { fn.Timeout = 1 })
	res := e.invoke(t, name, `{"print":["going to sleep"],"sleep_ms":5000}`)
	if res.RetCode != invocation.CodeTimeout || !strings.Contains(res.ErrMsg, "Invoking task timed out after 1 seconds") || res.Duration != 1000 {
		t.Fatalf("result %+v", res)
	}
	if !strings.Contains(res.Log, "going to sleep") {
		t.Errorf("log lacks the function's line:\n%s", res.Log)
	}
	next := e.invoke(t, name, `{}`)
	if next.RetCode != 0 || !next.Cold {
		t.Errorf("the call after a timeout: RetCode %d Cold %v (want 0 on a new instance)", next.RetCode, next.Cold)
	}
}

func TestRealCrash(t *testing.T) {
	e := newRealEnv(t)
	name := e.function(t, nil)
	res := e.invoke(t, name, `{"exit":2}`)
	if res.RetCode != invocation.CodeProcessExit || !strings.Contains(res.ErrMsg, "exited with code 2") {
		t.Fatalf("result %+v", res)
	}
	if next := e.invoke(t, name, `{}`); next.RetCode != 0 || !next.Cold {
		t.Errorf("the call after a crash: RetCode %d Cold %v", next.RetCode, next.Cold)
	}
}

func TestRealOutOfMemory(t *testing.T) {
	e := newRealEnv(t)
	name := e.function(t, func(fn *scf.Function) { fn.MemorySize = 64 })
	res := e.invoke(t, name, `{"alloc_mb":200}`)
	if res.RetCode != invocation.CodeMemory || !strings.Contains(res.ErrMsg, `"statusCode":434`) {
		t.Fatalf("result %+v", res)
	}
	if next := e.invoke(t, name, `{}`); next.RetCode != 0 {
		t.Errorf("the call after an OOM: %+v", next)
	}
}

func TestRealStartupFailures(t *testing.T) {
	e := newRealEnv(t)
	never := e.function(t, func(fn *scf.Function) { fn.Name, fn.Image.Args = "short-never", "-mode=never-listen" })
	res := e.invoke(t, never, `{}`)
	if res.RetCode != invocation.CodePortBinding || !strings.Contains(res.ErrMsg, `"errorMessage":"`+scf.StartupTimeoutMessage+`"`) {
		t.Errorf("never listening: %+v", res)
	}
	exits := e.function(t, func(fn *scf.Function) { fn.Image.Args = "-mode=exit" })
	start := time.Now()
	res = e.invoke(t, exits, `{}`)
	if res.RetCode != invocation.CodeInitError || !strings.Contains(res.ErrMsg, "exited with code 3 before listening") ||
		!strings.Contains(res.ErrMsg, "exiting at once on purpose") {
		t.Errorf("exiting at once: %+v", res)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("a server that exits at once took %v to report, want well under the start-up budget", d)
	}
}

// Lines printed between invocations are the instance's, and are kept.
func TestRealInstanceLog(t *testing.T) {
	e := newRealEnv(t)
	name := e.function(t, nil)
	if res := e.invoke(t, name, `{"later":"printed after the answer"}`); res.RetCode != 0 {
		t.Fatalf("result %+v", res)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		lines, err := e.logs.InstanceLines(context.Background(), logs.InstanceQuery{Namespace: "default", Function: name})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			if l.Text == "printed after the answer" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance lines %+v lack the line printed after the answer", lines)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A line printed just before the answer belongs to the invocation, with or
// without the log's tail, call after call.
func TestRealLinesPrintedBeforeTheAnswer(t *testing.T) {
	e := newRealEnv(t)
	name := e.function(t, nil)
	for i := range 30 {
		// Many lines, so that the last ones are still on their way when
		// the answer comes.
		var lines []string
		for j := range 200 {
			lines = append(lines, fmt.Sprintf("line %d of call %d", j, i))
		}
		line := lines[len(lines)-1]
		ev, _ := json.Marshal(map[string]any{"print": lines})
		res, err := e.iv.Invoke(context.Background(), invocation.Request{Function: name, Event: ev, LogTail: i%2 == 0})
		if err != nil || res.RetCode != 0 {
			t.Fatalf("call %d: %+v %v", i, res, err)
		}
		got, _, err := e.logs.Query(context.Background(), logs.Query{Function: name, RequestID: res.RequestID})
		if err != nil || len(got) != 1 {
			t.Fatalf("call %d: log %v %v", i, got, err)
		}
		if !strings.Contains(got[0].Log, line) {
			t.Fatalf("call %d: the log lacks %q:\n%s", i, line, got[0].Log)
		}
	}
}
