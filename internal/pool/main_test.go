package pool

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/scfd/scfd/internal/images"
	"github.com/scfd/scfd/internal/localrt"
	"github.com/scfd/scfd/internal/netns"
	"github.com/scfd/scfd/internal/sandbox"
	"github.com/scfd/scfd/internal/scf"
)

// The real tests run the event test function (test/e2e/testfunc) in runc
// containers through localrt.
const (
	testFuncPackage  = "github.com/scfd/scfd/test/e2e/testfunc"
	testSubnet       = "10.209.248.0/24"
	testNetwork      = "scfdtpool"
	testCgroupParent = "scfdtpool"
)

var (
	testLayer  string // the test function's unpacked layer; "" when not root
	testDriver *localrt.Driver
	testAcct   = sandbox.Account{Region: "ap-guangzhou", AppID: "1250000000", UIN: "100000000001"}
)

func TestMain(m *testing.M) {
	code := func() int {
		if os.Geteuid() != 0 {
			return m.Run()
		}
		dir, err := os.MkdirTemp("", "pool-test")
		if err != nil {
			panic(err)
		}
		defer os.RemoveAll(dir)
		testLayer, err = buildLayer(filepath.Join(dir, "layer"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		// A fixed directory: the next run's localrt.New removes whatever a
		// crashed run left there.
		testDriver, err = localrt.New(context.Background(), localrt.Options{
			DataDir:      filepath.Join(os.TempDir(), "scfd-pool-test-rt"),
			Account:      testAcct,
			CgroupParent: testCgroupParent,
			Network:      netns.Options{Name: testNetwork, Subnet: testSubnet},
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		code := m.Run()
		if err := testDriver.Close(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "close driver:", err)
			code = 1
		}
		if left := testDriver.Leftovers(context.Background()); len(left) > 0 {
			fmt.Fprintln(os.Stderr, "left behind:", left)
			code = 1
		}
		testDriver.Network().RemoveFirewall()
		return code
	}()
	os.Exit(code)
}

// buildLayer compiles the test function into dir/server, with /tmp.
func buildLayer(dir string) (string, error) {
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o1777); err != nil {
		return "", err
	}
	cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, "server"), testFuncPackage)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build test function: %v: %s", err, out)
	}
	return dir, nil
}

// layerImages finds the test function's layer for any digest.
type layerImages struct{}

func (layerImages) Get(ctx context.Context, digest string) (*images.Image, error) {
	return &images.Image{Digest: digest, Layers: []string{testLayer}, Config: images.ImageConfig{
		Entrypoint: []string{"/server"}, Env: []string{"PATH=/bin"},
	}}, nil
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
	opts := Options{Driver: testDriver, Images: layerImages{}, Store: e.st, Clock: e.clock, IdleTimeout: time.Minute}
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
