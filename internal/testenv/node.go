package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// NodeSDK returns the path of node for the official Node.js SDK tests
// kept in dir (test/e2e, relative to the calling test's directory),
// running `npm ci` there first when the SDK is not installed. It fails
// tb without node: make deps-test installs it.
func NodeSDK(tb testing.TB, dir string) string {
	tb.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		tb.Fatalf("node is needed for the SDK tests (make deps-test installs it): %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "tencentcloud-sdk-nodejs-scf")); err != nil {
		npm := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
		npm.Dir = dir
		if out, err := npm.CombinedOutput(); err != nil {
			tb.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
		}
	}
	return node
}
