package daemon

import (
	"go/build"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/scfd/scfd/internal/"

// The data flows one way: api → store → pool → sandbox → instance →
// invoke/gateway, with images feeding the sandbox. These rules keep each
// room to what it may touch; daemon, the composition root, is the only
// package that knows every concrete type.
var (
	// only lists the sole internal packages a package may import.
	only = map[string][]string{
		"errdefs":    {},
		"scf":        {"errdefs"},
		"store":      {"errdefs", "scf"},
		"sandbox":    {"errdefs", "scf"},
		"tc3":        {},
		"userns":     {},
		"nice":       {},
		"monitor":    {"errdefs", "store"},
		"invocation": {"errdefs", "scf", "sandbox", "credentials"},
		"console":    {"api"},
	}
	// forbidden lists internal packages a package must not import.
	forbidden = map[string][]string{
		"api":     {"sandbox", "localrt", "netns", "rootfs", "pool", "images", "gateway", "k8srt", "invoke"},
		"invoke":  {"localrt", "netns", "rootfs", "images", "api", "store", "k8srt"},
		"pool":    {"localrt", "netns", "rootfs", "invoke", "api", "gateway", "async", "k8srt"},
		"gateway": {"localrt", "netns", "rootfs", "api", "store", "k8srt", "invoke", "pool", "logs", "sandbox"},
		"async":   {"localrt", "netns", "rootfs", "pool", "api", "gateway", "invoke"},
		"localrt": {"pool", "invoke", "api", "gateway", "images", "store"},
		"k8srt":   {"pool", "invoke", "api", "gateway", "localrt", "store"},
		"images":  {"sandbox", "pool", "api", "store"},
		"trigger": {"sandbox", "pool", "localrt", "api", "invoke"},
		"cluster": {"localrt", "netns", "rootfs", "pool", "invoke", "api", "gateway", "store", "k8srt", "async", "trigger"},
	}
)

func TestDependenciesFlowOneWay(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	var pkgs []string
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && !strings.Contains(path, "testdata") {
			rel, _ := filepath.Rel(root, path)
			if rel != "." {
				pkgs = append(pkgs, filepath.ToSlash(rel))
			}
		}
		return nil
	})
	for _, pkg := range pkgs {
		p, err := build.ImportDir(filepath.Join(root, pkg), 0)
		if err != nil {
			continue // no Go files
		}
		var internal []string
		for _, imp := range p.Imports {
			if rest, ok := strings.CutPrefix(imp, module); ok {
				internal = append(internal, rest)
			}
		}
		for _, imp := range internal {
			if imp == "daemon" || imp == "cli" {
				if !((pkg == "cli" || pkg == "daemon/daemontest") && imp == "daemon") {
					t.Errorf("%s imports %s: only cmd/scfd and cli may", pkg, imp)
				}
			}
			if allowed, ok := only[pkg]; ok && !slices.Contains(allowed, imp) {
				t.Errorf("%s imports %s: it may import only %v", pkg, imp, allowed)
			}
			if slices.Contains(forbidden[pkg], imp) {
				t.Errorf("%s imports %s, which it must not", pkg, imp)
			}
		}
	}
}
