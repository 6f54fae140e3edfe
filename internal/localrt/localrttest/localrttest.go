// Package localrttest runs the local runc runtime for other packages'
// tests: it builds a Go main package into a one-layer function image,
// starts a driver on a network, subnet and cgroup of the test binary's
// own, and at the end fails the run when anything was left behind.
package localrttest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/scfd/scfd/internal/images"
	"github.com/scfd/scfd/internal/localrt"
	"github.com/scfd/scfd/internal/netns"
	"github.com/scfd/scfd/internal/sandbox"
)

// Account is what test functions see as region, app id and account.
var Account = sandbox.Account{Region: "ap-guangzhou", AppID: "1250000000", UIN: "100000000001"}

// Options name a test binary's runtime.
type Options struct {
	// Name is the CNI network, cgroup parent and data directory name
	// (letters and digits, at most 12): distinct per test binary, since
	// test binaries run at once.
	Name string
	// Subnet is the instances' subnet, distinct per test binary.
	Subnet string
	// Package is the Go main package built as the image's /server.
	Package string
	// Pool is how many writable layers and namespaces to prepare ahead;
	// 0 takes the driver's default.
	Pool int
	// Spares is how many containers to keep prepared per spec
	// (localrt.Options.Spares); 0 prepares none.
	Spares int
}

// Env is the runtime of a test binary run as root.
type Env struct {
	Driver *localrt.Driver
	// Layer is the image's one unpacked layer: /server and /tmp.
	Layer string
	// Server is the same binary, for running it on the host.
	Server string
}

// Images returns an image cache of one image, Env's layer, whatever the
// digest asked for.
func (e *Env) Images() ImageFunc {
	return func(_ context.Context, digest string) (*images.Image, error) {
		return &images.Image{Digest: digest, Layers: []string{e.Layer}, Config: images.ImageConfig{
			Entrypoint: []string{"/server"}, Env: []string{"PATH=/bin"},
		}}, nil
	}
}

// ImageFunc adapts a function to the image caches that pools and tests
// take.
type ImageFunc func(ctx context.Context, digest string) (*images.Image, error)

// Get calls f.
func (f ImageFunc) Get(ctx context.Context, digest string) (*images.Image, error) {
	return f(ctx, digest)
}

// Main runs m: as root with an Env (set before m.Run through set), else
// with none, so that the tests that need it skip. It returns the exit
// code for os.Exit.
func Main(m *testing.M, o Options, set func(*Env)) int {
	dir, err := os.MkdirTemp("", o.Name+"-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	layer := filepath.Join(dir, "layer")
	if err := Build(o.Package, filepath.Join(layer, "server")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	env := &Env{Layer: layer, Server: filepath.Join(layer, "server")}
	if os.Geteuid() != 0 {
		set(&Env{Server: env.Server})
		return m.Run()
	}
	// A fixed directory: a run that crashed leaves containers, mounts and
	// routes there, and the next run's localrt.New removes them.
	env.Driver, err = localrt.New(context.Background(), localrt.Options{
		DataDir:      filepath.Join(os.TempDir(), "scfd-"+o.Name+"-test-rt"),
		Account:      Account,
		CgroupParent: o.Name,
		Network:      netns.Options{Name: o.Name, Subnet: o.Subnet},
		Pool:         o.Pool,
		Spares:       o.Spares,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	set(env)
	code := m.Run()
	if err := env.Driver.Close(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "close driver:", err)
		code = 1
	}
	if left := env.Driver.Leftovers(context.Background()); len(left) > 0 {
		fmt.Fprintln(os.Stderr, "left behind:", left)
		code = 1
	}
	env.Driver.Network().RemoveFirewall()
	return code
}

// Build compiles the Go main package pkg, static, to out, next to an
// empty world-writable tmp directory.
func Build(pkg, out string) error {
	if err := os.MkdirAll(filepath.Join(filepath.Dir(out), "tmp"), 0o1777); err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s: %v: %s", pkg, err, b)
	}
	return nil
}
