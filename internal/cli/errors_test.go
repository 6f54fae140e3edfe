package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/scfd/scfd/internal/client"
)

func TestExplain(t *testing.T) {
	api := func(code string) error { return &client.APIError{Code: code, Message: "m", RequestID: "r"} }
	for _, tc := range []struct {
		name string
		err  error
		want string // "" means: the error as it was
	}{
		{"auth", api("AuthFailure.SecretIdNotFound"), "check the key"},
		{"no namespace", api("ResourceNotFound.Namespace"), "`scfd ns create NAME` creates one"},
		{"no function", api("ResourceNotFound.Function"), "`scfd fn ls -n NAMESPACE` lists the functions"},
		{"no alias", api("ResourceNotFound.Alias"), "`scfd alias ls FUNCTION`"},
		{"function exists", api("ResourceInUse.Function"), "`scfd fn update` or `scfd deploy`"},
		{"not active", api("FailedOperation.FunctionStatus"), "`scfd fn get FUNCTION`"},
		{"unsupported", api("UnsupportedOperation.Code"), "Where scfd differs from SCF"},
		{"invalid value: the message says it", api("InvalidParameterValue.MemorySize"), ""},
		{"no server", fmt.Errorf("client: x: %w", syscall.ECONNREFUSED), "is `scfd serve` running there?"},
		{"other", errors.New("boom"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := explain(tc.err)
			if tc.want == "" {
				if got != tc.err {
					t.Errorf("explain(%v) = %v, want it unchanged", tc.err, got)
				}
				return
			}
			if !strings.HasPrefix(got.Error(), tc.err.Error()+": ") || !strings.Contains(got.Error(), tc.want) {
				t.Errorf("explain(%v) = %q, want it followed by %q", tc.err, got, tc.want)
			}
			if !errors.Is(got, tc.err) {
				t.Errorf("explain(%v) does not wrap it", tc.err)
			}
			if again := explain(got); again != got {
				t.Errorf("explain twice: %v", again)
			}
		})
	}
}

func TestOneLine(t *testing.T) {
	err := errors.New("go build in x: exit status 1\n# hello\n./main.go:3: undefined: y\n\n")
	if got, want := oneLine(err), "go build in x: exit status 1 | # hello | ./main.go:3: undefined: y"; got != want {
		t.Errorf("oneLine = %q, want %q", got, want)
	}
}

func TestBuildFailure(t *testing.T) {
	for _, tc := range []struct {
		name string
		tail []string
		want []string
	}{
		{"connection refused", []string{
			"STEP 1/2: FROM 127.0.0.1:1/base/img:1",
			`time="x" level=warning msg="Failed, retrying in 2s ... (1/3). Error: ..."`,
			`Error: creating build container: initializing source docker://127.0.0.1:1/base/img:1: pinging container registry 127.0.0.1:1: Get "https://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused`,
		}, []string{"the registry 127.0.0.1:1, named in FROM, cannot be reached", "connection refused", "scfd push"}},
		{"no such host", []string{
			`Error: creating build container: initializing source docker://registry.invalid/base/img:1: pinging container registry registry.invalid: Get "https://registry.invalid/v2/": dial tcp: lookup registry.invalid on 10.0.0.53:53: no such host`,
		}, []string{"the registry registry.invalid, named in FROM, cannot be reached"}},
		{"short name", []string{
			`Error: creating build container: short-name "golang:1.26" did not resolve to an alias and no unqualified-search registries are defined in "/etc/containers/registries.conf"`,
		}, []string{`short-name "golang:1.26"`, "name the base image in full"}},
		{"a RUN step", []string{"STEP 2/2: RUN false", `Error: building at STEP "RUN false": exit status 1`}, []string{`the build failed: building at STEP "RUN false": exit status 1`, "output above"}},
		{"no Error line", []string{"something odd"}, []string{"the build failed: something odd"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := buildFailure(tc.tail, errors.New("exit status 125")).Error()
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("buildFailure = %q, want %q in it", got, w)
				}
			}
		})
	}
}

func TestContentTag(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("Dockerfile", "FROM scratch\nCOPY . /\n")
	write("a/b.txt", "one")
	o := buildOptions{dir: dir}
	tag := func(o buildOptions) string {
		t.Helper()
		s, err := contentTag(o)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	first := tag(o)
	if len(first) != 16 {
		t.Errorf("tag %q: want 16 hex digits", first)
	}
	if again := tag(o); again != first {
		t.Errorf("the same sources gave %s, then %s", first, again)
	}
	write(".git/HEAD", "ref: x")
	if got := tag(o); got != first {
		t.Errorf(".git changed the tag")
	}
	write(".dockerignore", "*.md\nbuild/\n")
	first = tag(o)
	write("README.md", "docs")
	write("build/out", "x")
	if got := tag(o); got != first {
		t.Errorf("files .dockerignore excludes changed the tag")
	}
	for _, change := range []struct {
		name string
		do   func() buildOptions
	}{
		{"a build argument", func() buildOptions { return buildOptions{dir: dir, buildArgs: []string{"A=1"}} }},
		{"a file's contents", func() buildOptions { write("a/b.txt", "two"); return o }},
		{"a new file", func() buildOptions { write("c", ""); return o }},
		{"a mode", func() buildOptions { os.Chmod(filepath.Join(dir, "c"), 0o755); return o }},
		{"the Dockerfile", func() buildOptions { write("Dockerfile", "FROM scratch\n"); return o }},
	} {
		before := tag(o)
		if got := tag(change.do()); got == before {
			t.Errorf("changing %s kept the tag %s", change.name, got)
		}
	}
	if _, err := contentTag(buildOptions{dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "write a Dockerfile there") {
		t.Errorf("no Dockerfile: %v", err)
	}
}

func TestDestination(t *testing.T) {
	for _, tc := range []struct{ ref, want string }{
		{"team/app:1", "127.0.0.1:9300/team/app:1"},
		{"127.0.0.1:9300/team/app:1", "127.0.0.1:9300/team/app:1"},
		{"localhost/team/app:1", "localhost/team/app:1"},
		{"registry.example.com/team/app", "registry.example.com/team/app"},
	} {
		if got := destination(tc.ref, "127.0.0.1:9300"); got != tc.want {
			t.Errorf("destination(%q) = %q, want %q", tc.ref, got, tc.want)
		}
	}
	for _, tc := range []struct{ ref, want string }{
		{"localhost/team/app:1", "team/app:1"},
		{"docker.io/team/app:1", "team/app:1"},
		{"team/app:1", "team/app:1"},
	} {
		if got := stripHost(tc.ref); got != tc.want {
			t.Errorf("stripHost(%q) = %q, want %q", tc.ref, got, tc.want)
		}
	}
}
