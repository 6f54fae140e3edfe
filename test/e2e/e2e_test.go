// Package e2e runs scfd end to end: the real `scfd serve` binary, a real
// registry with authentication, and the official Tencent Cloud SCF Node.js
// SDK as the client. The Go side builds the binary and the images; the
// Node.js tests in this directory drive the server.
package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/scfd/scfd/internal/netns/netnstest"
	"github.com/scfd/scfd/internal/testenv"
)

func TestNodeSDK(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests are not short")
	}
	node := testenv.NodeSDK(t, ".")
	bin := buildScfd(t)

	reg := testenv.StartRegistry(t)
	hello := testenv.BinaryImage(t, "../../examples/hello")
	reg.Push(t, "e2e/echo:v1", hello)
	reg.Push(t, "e2e/echo:v2", withFile(t, hello, "version", "2"))
	testfunc := testenv.BinaryImage(t, "testfunc")
	reg.Push(t, "e2e/testfunc:v1", testfunc)
	reg.Push(t, "e2e/testfunc:cmd", withCmd(t, testfunc, "-mode=exit"))

	// A network namespace standing for the outside world, for the
	// functions' outbound traffic: nothing leaves the machine.
	world := ""
	if os.Geteuid() == 0 {
		world = netnstest.World(t, 4)
	}

	// A PostgreSQL database that postgres.test.mjs's servers share
	// (skipped without one, except in CI where it must run).
	database := ""
	if os.Getenv(testenv.EnvDatabaseURL) != "" || os.Getenv("CI") == "true" {
		database = testenv.NewDatabase(t)
	}

	// SCFD_E2E_ONLY names test files to run instead of all, as
	// "invoke.test.mjs usage.test.mjs".
	files := []string{"."}
	if only := os.Getenv("SCFD_E2E_ONLY"); only != "" {
		files = strings.Fields(only)
	}
	cmd := exec.Command(node, append([]string{"--test", "--test-reporter=spec"}, files...)...)
	cmd.Env = append(os.Environ(),
		"SCFD_BIN="+bin,
		"SCFD_E2E_IMAGE_ECHO="+reg.Ref("e2e/echo:v1"),
		"SCFD_E2E_IMAGE_ECHO2="+reg.Ref("e2e/echo:v2"),
		"SCFD_E2E_IMAGE_TESTFUNC="+reg.Ref("e2e/testfunc:v1"),
		"SCFD_E2E_IMAGE_TESTFUNCCMD="+reg.Ref("e2e/testfunc:cmd"),
		// OCI layouts, for `scfd push` to the server's own registry.
		"SCFD_E2E_OCI_ECHO="+ociLayout(t, hello),
		"SCFD_E2E_OCI_TESTFUNC="+ociLayout(t, testfunc),
		"SCFD_INSECURE_REGISTRIES="+reg.Addr, "SCFD_ALLOWED_REGISTRIES="+reg.Addr,
		"DOCKER_CONFIG="+reg.DockerConfigDir,
		"SCFD_E2E_WORLD="+world,
		"SCFD_E2E_DATABASE_URL="+database,
	)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("Node.js SDK tests failed: %v", err)
	}
}

// buildScfd builds the scfd binary into the test's temporary directory.
func buildScfd(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "scfd")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/scfd")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// withFile returns img with one more layer holding a file, so that it has
// another digest.
func withFile(t *testing.T, img v1.Image, name, body string) v1.Image {
	t.Helper()
	out, err := mutate.AppendLayers(img, testenv.Layer(t, []testenv.File{{Name: name, Body: body}}))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// withCmd returns img with its CMD set to cmd.
func withCmd(t *testing.T, img v1.Image, cmd ...string) v1.Image {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config.DeepCopy()
	c.Cmd = cmd
	out, err := mutate.Config(img, *c)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// ociLayout writes img as an OCI image layout and returns its directory.
func ociLayout(t *testing.T, img v1.Image) string {
	t.Helper()
	dir := t.TempDir()
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	return dir
}
