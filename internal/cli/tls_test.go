package cli

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/scfd/scfd/internal/config"
	"github.com/scfd/scfd/internal/daemon/daemontest"
	"github.com/scfd/scfd/internal/tlscert"
)

// TestOverTLS runs a server with SCFD_TLS=self-signed and the quick start
// against it: the CLI reaches the API, pushes to the registry and calls
// the gateway over HTTPS, trusting the authority in the data dir, found
// from the same settings as the server's.
func TestOverTLS(t *testing.T) {
	needRoot(t)
	s := daemontest.Serve(t, map[string]string{"SCFD_TLS": "self-signed"})
	cliEnv := map[string]string{
		"SCFD_TLS":           "self-signed",
		"SCFD_DATA_DIR":      s.Dir,
		"SCFD_API_ADDR":      s.Addrs["SCF API"],
		"SCFD_REGISTRY_ADDR": s.Addrs["registry"],
		"SCFD_GATEWAY_ADDR":  s.Addrs["gateway"],
	}
	out := mustRun(t, cliEnv, "demo", "--source", "../../examples/hello")
	for _, want := range []string{
		"2. pushed " + s.Addrs["registry"] + "/demo/hello:latest",
		"demo/hello-web: Active",
		"GET https://" + s.Addrs["gateway"] + "/demo/hello-web/hello?from=demo",
		"hello from scfd from GET /hello?from=demo",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if out := mustRun(t, cliEnv, "fn", "ls", "-n", "demo"); !strings.Contains(out, "hello-web") {
		t.Errorf("fn ls: %s", out)
	}
	if out := mustRun(t, cliEnv, "registry", "gc"); !strings.Contains(out, "removed 0 blobs") {
		t.Errorf("registry gc: %s", out)
	}

	// buildah builds FROM an image of scfd's registry over HTTPS, trusting
	// the authority too.
	buildahStorage(t)
	base := filepath.Join(t.TempDir(), "onbase")
	os.Mkdir(base, 0o755)
	os.WriteFile(filepath.Join(base, "Dockerfile"), []byte("FROM "+s.Addrs["registry"]+"/demo/hello:latest\nCOPY note /note\n"), 0o644)
	os.WriteFile(filepath.Join(base, "note"), []byte("on a base image\n"), 0o644)
	out = mustRun(t, cliEnv, "deploy", base, "-n", "demo", "--name", "onbase", "--type", "HTTP")
	if !strings.Contains(out, "demo/onbase: Active") || !strings.Contains(out, "https://"+s.Addrs["gateway"]+"/demo/onbase/") {
		t.Errorf("deploy FROM scfd's registry over HTTPS:\n%s", out)
	}

	// go-containerregistry pushes over HTTPS trusting ca.pem.
	ca := filepath.Join(config.TLSDir(s.Dir), tlscert.CAFile)
	pool, err := tlscert.Pool(ca)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(s.Addrs["registry"] + "/demo/random:1") // not Insecure: HTTPS only
	if err != nil {
		t.Fatal(err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig.RootCAs = pool
	auth := remote.WithAuth(&authn.Basic{Username: s.Key.SecretID, Password: s.Key.SecretKey})
	if err := remote.Write(ref, img, remote.WithTransport(tr), auth, remote.WithContext(context.Background())); err != nil {
		t.Fatalf("push over HTTPS: %v", err)
	}
	if _, err := remote.Head(ref, auth, remote.WithTransport(http.DefaultTransport)); err == nil {
		t.Error("a client without ca.pem trusted the registry")
	}

	// A client that does not trust the authority, or speaks plain HTTP,
	// is told what to do.
	_, err = run(t, map[string]string{"SCFD_TLS": "self-signed", "SCFD_DATA_DIR": t.TempDir(), "SCFD_API_ADDR": s.Addrs["SCF API"],
		"SCFD_SECRET_ID": s.Key.SecretID, "SCFD_SECRET_KEY": s.Key.SecretKey}, "ns", "ls")
	if err == nil || !strings.Contains(err.Error(), "--ca-file") {
		t.Errorf("without the authority: %v", err)
	}
	if out := mustRun(t, map[string]string{"SCFD_TLS": "self-signed", "SCFD_CA_FILE": ca, "SCFD_DATA_DIR": t.TempDir(), "SCFD_API_ADDR": s.Addrs["SCF API"],
		"SCFD_SECRET_ID": s.Key.SecretID, "SCFD_SECRET_KEY": s.Key.SecretKey}, "ns", "ls"); !strings.Contains(out, "demo") {
		t.Errorf("with --ca-file: %s", out)
	}
	_, err = run(t, map[string]string{"SCFD_DATA_DIR": s.Dir, "SCFD_API_ADDR": s.Addrs["SCF API"]}, "ns", "ls")
	if err == nil || !strings.Contains(err.Error(), "the server speaks HTTPS") {
		t.Errorf("plain HTTP to an HTTPS server: %v", err)
	}
}
