package localrt

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/scfd/scfd/internal/netns"
	"github.com/scfd/scfd/internal/sandbox"
	"github.com/scfd/scfd/internal/sandbox/sandboxtest"
)

var (
	testImage sandboxtest.Image
	testAcct  = sandbox.Account{Region: "ap-guangzhou", AppID: "1250000000", UIN: "100000000001"}
)

const (
	testSubnet       = "10.209.251.0/24"
	testNetwork      = "scfdtrt"
	testCgroupParent = "scfdtest"
)

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Println("localrt: tests need root (runc, mounts, namespaces); skipping")
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "localrt-image")
	if err != nil {
		panic(err)
	}
	testImage, err = sandboxtest.BuildImage(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func testOptions(dataDir string) Options {
	return Options{
		DataDir:      dataDir,
		Account:      testAcct,
		CgroupParent: testCgroupParent,
		Network:      netns.Options{Name: testNetwork, Subnet: testSubnet},
	}
}

// newDriver returns a driver over a fresh data directory, closed and
// checked for leftovers when the test ends.
func newDriver(t *testing.T) *Driver {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs runc containers")
	}
	return newDriverAt(t, filepath.Join(t.TempDir(), "data"))
}

func newDriverAt(t *testing.T, dir string) *Driver {
	t.Helper()
	d, err := New(context.Background(), testOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
		if left := d.Leftovers(context.Background()); len(left) > 0 {
			t.Errorf("left after Close: %q", left)
		}
		d.Network().RemoveFirewall()
	})
	return d
}

func TestConformance(t *testing.T) {
	d := newDriver(t)
	sandboxtest.Run(t, d, testImage, sandboxtest.Options{Account: testAcct, FullStartupTimeout: true})
}
