package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// buildahStorage points buildah at a storage of the test's own, so that
// tests neither see nor leave images in the machine's.
func buildahStorage(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("buildah"); err != nil {
		t.Skip("buildah not installed (scripts/deps.sh installs it)")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "storage.conf")
	body := fmt.Sprintf("[storage]\ndriver = \"overlay\"\ngraphroot = %q\nrunroot = %q\n", filepath.Join(dir, "root"), filepath.Join(dir, "run"))
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CONTAINERS_STORAGE_CONF", conf)
	t.Cleanup(func() {
		// Layers buildah mounted while building are unmounted by now;
		// make sure, so that the temporary directory can go.
		exec.Command("buildah", "rmi", "--all", "--force").Run()
	})
}

// functionSource writes a Go event function answering {"version":VERSION}
// and its Dockerfile (FROM scratch, the binary copied in) to dir.
func functionSource(t *testing.T, dir, version string) {
	t.Helper()
	src := fmt.Sprintf(`package main

import (
	"io"
	"net/http"
)

func main() {
	http.HandleFunc("/event-invoke", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, %q)
	})
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "web "+r.URL.Path)
	})
	http.ListenAndServe(":9000", nil)
}
`, `{"version":"`+version+`"}`)
	build := filepath.Join(t.TempDir(), "src")
	if err := os.MkdirAll(build, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"go.mod":  "module fn\n\ngo 1.22\n",
		"main.go": src,
	} {
		if err := os.WriteFile(filepath.Join(build, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, "server"), ".")
	cmd.Dir = build
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dockerfile := "FROM scratch\nCOPY server /server\nENTRYPOINT [\"/server\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDeploy builds a Dockerfile with buildah, deploys it, invokes it,
// deploys unchanged sources (nothing happens), edits the source, deploys
// again and sees the new version answer; then a build whose FROM names an
// unreachable registry fails saying so.
func TestDeploy(t *testing.T) {
	needRoot(t)
	buildahStorage(t)
	env, _ := serve(t)
	dir := filepath.Join(t.TempDir(), "hello")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	functionSource(t, dir, "v1")

	out := mustRun(t, env, "deploy", dir, "-n", "team", "--memory", "128")
	for _, want := range []string{
		"building " + filepath.Join(dir, "Dockerfile"),
		"STEP 1/3: FROM scratch",
		"STEP 2/3: COPY server /server",
		"pushed " + env["SCFD_REGISTRY_ADDR"] + "/team/hello:",
		"created namespace team",
		"creating team/hello",
		"Creating",
		"team/hello: Active",
		"invoke it: scfd invoke hello -n team --event '{}'",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("first deploy: output lacks %q:\n%s", want, out)
		}
	}
	if out := mustRun(t, env, "invoke", "hello", "-n", "team"); !strings.Contains(out, `{"version":"v1"}`) {
		t.Errorf("invoke after the first deploy:\n%s", out)
	}

	out = mustRun(t, env, "deploy", dir, "-n", "team")
	if !strings.Contains(out, "sources unchanged") || !strings.Contains(out, "team/hello: Active, unchanged") || strings.Contains(out, "STEP") {
		t.Errorf("deploy of unchanged sources:\n%s", out)
	}

	functionSource(t, dir, "v2")
	out = mustRun(t, env, "deploy", dir, "-n", "team", "-o", "json")
	var res DeployResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("deploy -o json is not JSON: %v\n%s", err, out)
	}
	if res.Status != "Active" || res.Created || !res.Changed || res.ImageDigest == "" || res.Invoke == "" {
		t.Errorf("second deploy: %+v", res)
	}
	if out := mustRun(t, env, "invoke", "hello", "-n", "team"); !strings.Contains(out, `{"version":"v2"}`) {
		t.Errorf("invoke after the edit:\n%s", out)
	}

	// Only the configuration changes: no build, one update.
	out = mustRun(t, env, "deploy", dir, "-n", "team", "--memory", "256", "--env", "K=v")
	if !strings.Contains(out, "sources unchanged") || !strings.Contains(out, "updated the configuration of team/hello") ||
		strings.Contains(out, "updating team/hello to") || !strings.Contains(out, "team/hello: Active") {
		t.Errorf("deploy of a new configuration:\n%s", out)
	}
	if out := mustRun(t, env, "fn", "get", "hello", "-n", "team"); !strings.Contains(out, "256 MB") || !strings.Contains(out, "K=v") {
		t.Errorf("fn get after the configuration deploy:\n%s", out)
	}
	// A built image by its tag: the server looks again, finds the same.
	out = mustRun(t, env, "deploy", "--name", "hello", "-n", "team", "--image", res.ImageUri)
	if !strings.Contains(out, "team/hello: Active, unchanged: "+res.ImageUri+" still names the image it ran") {
		t.Errorf("deploy --image of the image it runs:\n%s", out)
	}

	// A base image in scfd's registry: push the function's image there
	// from buildah's storage, and build FROM it.
	mustRun(t, env, "push", "localhost/scfd-deploy/team/hello:latest", "team/base:1")
	base := filepath.Join(t.TempDir(), "onbase")
	os.Mkdir(base, 0o755)
	os.WriteFile(filepath.Join(base, "Dockerfile"), []byte("FROM "+env["SCFD_REGISTRY_ADDR"]+"/team/base:1\nCOPY note /note\n"), 0o644)
	os.WriteFile(filepath.Join(base, "note"), []byte("on a base image\n"), 0o644)
	out = mustRun(t, env, "deploy", base, "-n", "team", "--name", "onbase", "--type", "HTTP")
	if !strings.Contains(out, "team/onbase: Active") || !strings.Contains(out, "call it:   curl http://"+env["SCFD_GATEWAY_ADDR"]+"/team/onbase/") {
		t.Errorf("deploy FROM scfd's registry:\n%s", out)
	}

	bad := filepath.Join(t.TempDir(), "bad")
	os.Mkdir(bad, 0o755)
	os.WriteFile(filepath.Join(bad, "Dockerfile"), []byte("FROM 127.0.0.1:1/base/img:1\nCOPY . /\n"), 0o644)
	out, err := run(t, env, "deploy", bad, "-n", "team")
	if err == nil || !strings.Contains(err.Error(), "the registry 127.0.0.1:1, named in FROM, cannot be reached") ||
		!strings.Contains(err.Error(), "scfd push") || strings.Contains(oneLine(err), "\n") {
		t.Errorf("deploy FROM an unreachable registry: %v\n%s", err, out)
	}
	if _, err := run(t, env, "fn", "get", "bad", "-n", "team"); err == nil {
		t.Error("a failed build created its function")
	}
}

func TestPushSources(t *testing.T) {
	needRoot(t)
	buildahStorage(t)
	env, _ := serve(t)
	dir := filepath.Join(t.TempDir(), "app")
	os.Mkdir(dir, 0o755)
	functionSource(t, dir, "pushed")
	tmp := t.TempDir()
	if out, err := exec.Command("buildah", "build", "--isolation", "chroot", "-t", "localhost/team/app:1", dir).CombinedOutput(); err != nil {
		t.Fatalf("buildah build: %v\n%s", err, out)
	}
	layout, archive := filepath.Join(tmp, "layout"), filepath.Join(tmp, "app.tar")
	for _, dest := range []string{"oci:" + layout + ":1", "docker-archive:" + archive + ":team/app:1"} {
		if out, err := exec.Command("buildah", "push", "localhost/team/app:1", dest).CombinedOutput(); err != nil {
			t.Fatalf("buildah push %s: %v\n%s", dest, err, out)
		}
	}
	reg := env["SCFD_REGISTRY_ADDR"]
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"storage, its own name", []string{"localhost/team/app:1"}, reg + "/team/app:1"},
		{"storage, prefixed", []string{"containers-storage:localhost/team/app:1", "team/app:storage"}, reg + "/team/app:storage"},
		{"layout", []string{layout, "team/app:layout"}, reg + "/team/app:layout"},
		{"layout by ref", []string{"oci:" + layout + ":1", "team/app:ref"}, reg + "/team/app:ref"},
		{"archive, its own name", []string{archive}, reg + "/team/app:1"},
		{"archive, another name", []string{archive, reg + "/team/app:archive"}, reg + "/team/app:archive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := mustRun(t, env, append([]string{"push"}, tc.args...)...)
			if !strings.Contains(out, "pushed "+tc.want+"\n") {
				t.Errorf("push: %s", out)
			}
		})
	}
	mustRun(t, env, "ns", "create", "team")
	mustRun(t, env, "fn", "create", "app", "-n", "team", "--image", reg+"/team/app:layout", "--wait")
	if out := mustRun(t, env, "invoke", "app", "-n", "team"); !strings.Contains(out, `{"version":"pushed"}`) {
		t.Errorf("invoke of the pushed image:\n%s", out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"oci:" + layout + ":nope", "team/x:1"}, `has no image named "nope"`},
		{[]string{"no-such-image-anywhere:1", "team/x:1"}, "reading no-such-image-anywhere:1 from local image storage"},
		{[]string{filepath.Join(dir, "Dockerfile"), "team/x:1"}, "is not an image archive"},
		{[]string{layout}, "carries no image name"},
	} {
		if _, err := run(t, env, append([]string{"push"}, tc.args...)...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("push %v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

// cancelOn is an output that cancels a command once it has printed want.
type cancelOn struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	want   string
	cancel context.CancelFunc
}

func (c *cancelOn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf.Write(p)
	if strings.Contains(c.buf.String(), c.want) {
		c.cancel()
	}
	return len(p), nil
}

// TestDeployInterrupted interrupts a deploy in the middle of its build: the
// command ends at once, buildah leaves no build container behind, and the
// server has neither the function nor its namespace.
func TestDeployInterrupted(t *testing.T) {
	needRoot(t)
	buildahStorage(t)
	env, _ := serve(t)
	dir := t.TempDir()
	sleeper := filepath.Join(t.TempDir(), "sleeper")
	os.Mkdir(sleeper, 0o755)
	os.WriteFile(filepath.Join(sleeper, "go.mod"), []byte("module sleeper\n\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(sleeper, "main.go"), []byte("package main\n\nimport \"time\"\n\nfunc main() { println(\"sleeping\"); time.Sleep(5 * time.Minute) }\n"), 0o644)
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "sleeper"), ".")
	cmd.Dir = sleeper
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY sleeper /sleeper\nRUN [\"/sleeper\"]\n"), 0o644)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &cancelOn{want: "sleeping", cancel: cancel}
	root := NewRoot(func(k string) string { return env[k] }, out, io.Discard)
	root.SetArgs([]string{"deploy", dir, "-n", "team", "--name", "slow"})
	began := time.Now()
	err := root.ExecuteContext(ctx)
	if err == nil || !strings.Contains(err.Error(), "the build was interrupted") {
		t.Errorf("interrupted deploy: %v\n%s", err, out.buf.String())
	}
	if d := time.Since(began); d > time.Minute {
		t.Errorf("the interrupted deploy took %v", d)
	}
	for deadline := time.Now().Add(5 * time.Second); running("sleeper"); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Error("the RUN step's process outlived the interrupted deploy")
			break
		}
	}
	if c, err := exec.Command("buildah", "containers", "--quiet").CombinedOutput(); err != nil || len(bytes.TrimSpace(c)) != 0 {
		t.Errorf("buildah containers after the interrupted build: %v %q", err, c)
	}
	if _, err := run(t, env, "fn", "get", "slow", "-n", "team"); err == nil {
		t.Error("the interrupted deploy created its function")
	}
	if ls := mustRun(t, env, "ns", "ls"); strings.Contains(ls, "team") {
		t.Errorf("the interrupted deploy created its namespace:\n%s", ls)
	}
}

// running says whether a process named comm runs (zombies, dead but not
// yet reaped, do not count).
func running(comm string) bool {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(stat)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open || s[open+1:end] != comm {
			continue
		}
		if f := strings.Fields(s[end+1:]); len(f) > 0 && f[0] != "Z" {
			return true
		}
	}
	return false
}
