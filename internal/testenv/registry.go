// Package testenv holds helpers for scfd's tests: a real Docker registry
// with htpasswd authentication, started from the Debian docker-registry
// binary, and builders of function images (from files, from a Go main
// package), and the Node.js SDK the end-to-end tests drive scfd with
// (NodeSDK). It is imported only by _test.go files.
package testenv

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// RegistryBinary is the Debian docker-registry (distribution 2.x) binary.
const RegistryBinary = "/usr/bin/docker-registry"

// Registry is a running docker-registry on loopback that demands basic
// authentication. It stops when the test ends.
type Registry struct {
	Addr            string // "127.0.0.1:PORT", or the host given to StartRegistryOn
	User            string
	Password        string
	DockerConfigDir string // holds config.json with User and Password for Addr; point DOCKER_CONFIG here
}

// StartRegistry starts a docker-registry with filesystem storage in a
// temporary directory and an htpasswd (bcrypt) user, and waits until
// GET /v2/ answers 401. It skips the test when the binary is missing.
func StartRegistry(t testing.TB) *Registry {
	t.Helper()
	return StartRegistryOn(t, "127.0.0.1")
}

// StartRegistryOn is StartRegistry listening on an address of host, an
// IP address of this machine (one a test cluster's Pods reach, say).
func StartRegistryOn(t testing.TB, host string) *Registry {
	t.Helper()
	if _, err := os.Stat(RegistryBinary); err != nil {
		t.Skipf("%s is missing (apt-get install docker-registry): %v", RegistryBinary, err)
	}
	if _, err := exec.LookPath("htpasswd"); err != nil {
		t.Skipf("htpasswd is missing (apt-get install apache2-utils): %v", err)
	}
	dir := t.TempDir()
	r := &Registry{User: "scfd", Password: "s3cret-" + filepath.Base(dir)}
	out, err := exec.Command("htpasswd", "-Bbn", r.User, r.Password).Output()
	if err != nil {
		t.Fatalf("htpasswd: %v", err)
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	writeFile(t, htpasswd, strings.TrimSpace(string(out))+"\n")

	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		addr := freeAddr(t, host)
		cfg := filepath.Join(dir, "config.yml")
		writeFile(t, cfg, fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
auth:
  htpasswd:
    realm: scfd-test
    path: %s
`, filepath.Join(dir, "storage"), addr, htpasswd))
		cmd := exec.Command(RegistryBinary, "serve", cfg)
		logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("registry-%d.log", attempt)))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			logf.Close()
			t.Fatalf("start %s: %v", RegistryBinary, err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		stop := func() {
			cmd.Process.Kill()
			<-exited
			logf.Close()
		}
		if lastErr = waitReady(addr, exited, 10*time.Second); lastErr != nil {
			stop()
			log, _ := os.ReadFile(logf.Name())
			lastErr = fmt.Errorf("%w; log:\n%s", lastErr, log)
			continue
		}
		t.Cleanup(stop)
		r.Addr = addr
		break
	}
	if r.Addr == "" {
		t.Fatalf("docker-registry did not start: %v", lastErr)
	}

	r.DockerConfigDir = filepath.Join(dir, "docker")
	if err := os.Mkdir(r.DockerConfigDir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeDockerConfig(t, r.DockerConfigDir, r.Addr, r.User, r.Password)
	return r
}

// WriteDockerConfig writes dir/config.json holding user and password for
// the registry host, as `docker login` would.
func writeDockerConfig(t testing.TB, dir, host, user, password string) {
	t.Helper()
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	b, err := json.Marshal(map[string]any{"auths": map[string]any{host: map[string]string{"auth": auth}}})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "config.json"), string(b))
}

// DockerConfig writes a fresh DOCKER_CONFIG directory holding the given
// credentials for this registry (for wrong-credential tests) and returns it.
func (r *Registry) DockerConfig(t testing.TB, user, password string) string {
	t.Helper()
	dir := t.TempDir()
	writeDockerConfig(t, dir, r.Addr, user, password)
	return dir
}

// Auth is the registry's credentials as a go-containerregistry option.
func (r *Registry) Auth() remote.Option {
	return remote.WithAuth(&authn.Basic{Username: r.User, Password: r.Password})
}

// Ref returns "ADDR/repoTag".
func (r *Registry) Ref(repoTag string) string { return r.Addr + "/" + repoTag }

// Push uploads img as ADDR/repoTag and returns ADDR/repo@sha256:....
func (r *Registry) Push(t testing.TB, repoTag string, img v1.Image) string {
	t.Helper()
	ref, err := name.ParseReference(r.Ref(repoTag), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, r.Auth()); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return ref.Context().Digest(d.String()).String()
}

// PushIndex uploads idx and every image it holds as ADDR/repoTag and
// returns ADDR/repo@sha256:... of the index.
func (r *Registry) PushIndex(t testing.TB, repoTag string, idx v1.ImageIndex) string {
	t.Helper()
	ref, err := name.ParseReference(r.Ref(repoTag), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx, r.Auth()); err != nil {
		t.Fatalf("push index %s: %v", ref, err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return ref.Context().Digest(d.String()).String()
}

func freeAddr(t testing.TB, host string) string {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitReady polls GET /v2/ until it answers 401 (authentication is on),
// the process exits, or the deadline passes.
func waitReady(addr string, exited <-chan struct{}, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v2/", nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
			err = fmt.Errorf("GET /v2/ answered %s, want 401", resp.Status)
		}
		select {
		case <-exited:
			return fmt.Errorf("docker-registry exited: %v", err)
		case <-ctx.Done():
			return fmt.Errorf("docker-registry not ready on %s: %v", addr, err)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// ContainerdHosts tells a containerd whose registry configuration is in
// hostsDir (its config_path) to pull from r over plain HTTP, until the
// test ends.
func (r *Registry) ContainerdHosts(t testing.TB, hostsDir string) {
	t.Helper()
	dir := filepath.Join(hostsDir, r.Addr)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	hosts := fmt.Sprintf("server = \"http://%s\"\n\n[host.\"http://%s\"]\n  capabilities = [\"pull\", \"resolve\"]\n", r.Addr, r.Addr)
	writeFile(t, filepath.Join(dir, "hosts.toml"), hosts)
}
