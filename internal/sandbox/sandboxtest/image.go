// Package sandboxtest is the conformance suite of sandbox drivers: Run
// starts real instances of a small test server (internal/sandbox/testdata
// /server) through a driver and checks what every driver must do —
// environment, command and arguments, disk and memory limits, start-up
// errors, output lines, exit reasons and stopping.
package sandboxtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/scfd/scfd/internal/sandbox"
)

// Image is the test server as an unpacked single-layer image.
type Image struct {
	Layers []string
	Config sandbox.ImageConfig
}

// ServerPackage is the import path of the test server.
const ServerPackage = "github.com/scfd/scfd/internal/sandbox/testdata/server"

// BuildImage compiles the test server (statically) into dir/layer/server
// and lays out a root file system around it: /etc/passwd and /etc/group
// with root and nobody, /tmp and /var/user. Call it once per test binary,
// from TestMain: it runs the go command.
func BuildImage(dir string) (Image, error) {
	layer := filepath.Join(dir, "layer")
	for _, d := range []string{"etc", "tmp", "var/user", "bin"} {
		if err := os.MkdirAll(filepath.Join(layer, d), 0o755); err != nil {
			return Image{}, err
		}
	}
	if err := os.Chmod(filepath.Join(layer, "tmp"), 0o1777|os.ModeSticky); err != nil {
		return Image{}, err
	}
	cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(layer, "server"), ServerPackage)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return Image{}, fmt.Errorf("build test server: %v: %s", err, out)
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
		"etc/group":  "root:x:0:\nnogroup:x:65534:\n",
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(layer, name), []byte(data), 0o644); err != nil {
			return Image{}, err
		}
	}
	return Image{
		Layers: []string{layer},
		Config: sandbox.ImageConfig{
			Entrypoint: []string{"/server"},
			Cmd:        []string{"-listen", ":9000"},
			Env:        []string{"PATH=/bin", "IMAGE_VAR=from-image", "SHARED=image"},
			WorkingDir: "/",
		},
	}, nil
}
