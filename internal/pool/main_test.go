package pool

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/scfd/scfd/internal/localrt"
	"github.com/scfd/scfd/internal/localrt/localrttest"
	"github.com/scfd/scfd/internal/sandbox"
	"github.com/scfd/scfd/internal/scf"
)

// The real tests run the event test function (test/e2e/testfunc) in runc
// containers through localrt.
const (
	testFuncPackage = "github.com/scfd/scfd/test/e2e/testfunc"
	testSubnet      = "10.209.248.0/24"
	testNetwork     = "scfdtpool"
)

var (
	testLayer  string // the test function's unpacked layer; "" when not root
	testDriver *localrt.Driver
	testImages localrttest.ImageFunc // the test function's image, whatever its digest
	testAcct   = sandbox.Account{Region: "ap-guangzhou", AppID: "1250000000", UIN: "100000000001"}
)

func TestMain(m *testing.M) {
	os.Exit(localrttest.Main(m, localrttest.Options{Name: testNetwork, Subnet: testSubnet, Package: testFuncPackage, Spares: 1}, func(e *localrttest.Env) {
		testLayer, testDriver, testImages = e.Layer, e.Driver, e.Images()
	}))
}

// realEnv is a pool over the real driver, with a fake clock.
type realEnv struct {
	*fakeEnv
}

func newRealEnv(t testing.TB, tweak func(*Options)) *realEnv {
	t.Helper()
	if testLayer == "" {
		t.Skip("needs root: runs runc containers")
	}
	e := &fakeEnv{clock: newFakeClock(), st: openStore(t, t.TempDir())}
	opts := Options{Driver: testDriver, Images: testImages, Store: e.st, Clock: e.clock, IdleTimeout: time.Minute}
	if tweak != nil {
		tweak(&opts)
	}
	p, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	e.p = p
	return &realEnv{e}
}

func realFunction(name string) *scf.Function {
	fn := &scf.Function{
		Namespace: scf.DefaultNamespace, Name: name, Version: scf.Latest,
		ImageDigest: "sha256:0000000000000000000000000000000000000000000000000000000000000001",
		Image:       scf.ImageConfig{ImageUri: "reg.test/fn:1"},
		Status:      scf.StatusActive,
	}
	scf.ApplyDefaults(fn)
	return fn
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

// invoke posts an event to the lent instance and returns the answer.
func invoke(l Lease, event string) (string, error) {
	resp, err := httpClient.Post("http://"+l.Instance().Addr()+"/event-invoke", "application/json", bytes.NewBufferString(event))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("status %s: %s", resp.Status, b)
	}
	return string(b), err
}

// call acquires an instance of fn, invokes it with event and releases it.
func call(ctx context.Context, p *Pool, fn *scf.Function, event string) (Lease, error) {
	l, err := p.Acquire(ctx, fn)
	if err != nil {
		return nil, err
	}
	_, err = invoke(l, event)
	if err != nil {
		l.Release(Broken)
		return l, err
	}
	l.Release(Healthy)
	return l, nil
}
