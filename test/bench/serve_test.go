// Package bench measures scfd serve as a user meets it: a real server (in
// this process, with runc instances, the embedded registry, SQLite, logs
// and metering), a web function pushed to its registry and created
// through the SCF API, and load from wrk or a paced Go client, side by
// side with baselines run in the same benchmark (the function's server
// run directly on the host, Debian's nginx proxying to the same
// instance). `make bench` runs them; each prints a table and its ratios.
package bench

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/scfd/scfd/internal/api"
	"github.com/scfd/scfd/internal/client"
	"github.com/scfd/scfd/internal/credentials"
	"github.com/scfd/scfd/internal/daemon/daemontest"
	"github.com/scfd/scfd/internal/testenv"
)

// webFuncDir is the web function the benchmarks deploy.
const webFuncDir = "../../internal/gateway/webfunc"

// server is a running scfd serve.
type server struct {
	dir      string
	api      string // the SCF API's address
	gateway  string // the gateway's base URL
	registry string // the embedded registry's address
	key      credentials.Key
	client   *client.Client
}

// serve starts scfd serve in this process on a fresh data directory,
// with env added to its settings, and stops it when tb ends.
func serve(tb testing.TB, env map[string]string) *server {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root: scfd serve runs runc containers")
	}
	if _, err := exec.LookPath("runc"); err != nil {
		tb.Skip("runc is not installed")
	}
	all := map[string]string{"SCFD_LOG_LEVEL": "warn"}
	if a := os.Getenv("SCFD_DEBUG_ADDR"); a != "" {
		all["SCFD_DEBUG_ADDR"] = a // profile the server under load
	}
	for k, v := range env {
		all[k] = v
	}
	s := daemontest.Serve(tb, all)
	return &server{
		dir: s.Dir, api: s.Addrs["SCF API"], gateway: "http://" + s.Addrs["gateway"], registry: s.Addrs["registry"],
		key: s.Key, client: s.Client,
	}
}

// pushWebFunc pushes the web function's image to the server's registry
// as repoTag and returns its reference.
func (s *server) pushWebFunc(tb testing.TB, repoTag string) string {
	tb.Helper()
	ref, err := name.ParseReference(s.registry+"/"+repoTag, name.Insecure)
	if err != nil {
		tb.Fatal(err)
	}
	auth := remote.WithAuth(&authn.Basic{Username: s.key.SecretID, Password: s.key.SecretKey})
	if err := remote.Write(ref, testenv.BinaryImage(tb, webFuncDir), auth); err != nil {
		tb.Fatal(err)
	}
	return ref.String()
}

// createWeb creates the web function name from image in namespace
// default, with set applied to the request, and waits until it is Active.
func (s *server) createWeb(tb testing.TB, fn, image string, set func(*api.CreateFunctionRequest)) {
	tb.Helper()
	req := api.CreateFunctionRequest{
		FunctionName: fn, Type: "HTTP", MemorySize: 1024, Timeout: 30,
		Code: &api.Code{ImageConfig: &api.ImageConfig{ImageType: "personal", ImageUri: image}},
	}
	if set != nil {
		set(&req)
	}
	if err := s.client.Call(context.Background(), "CreateFunction", req, nil); err != nil {
		tb.Fatal(err)
	}
	s.waitActive(tb, fn)
}

// waitActive waits until fn is Active.
func (s *server) waitActive(tb testing.TB, fn string) {
	tb.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		var got api.GetFunctionResponse
		if err := s.client.Call(context.Background(), "GetFunction", api.GetFunctionRequest{FunctionName: fn}, &got); err != nil {
			tb.Fatal(err)
		}
		if got.Status == "Active" {
			return
		}
		if time.Now().After(deadline) || got.Status == "CreateFailed" || got.Status == "UpdateFailed" {
			tb.Fatalf("function %s is %s: %v", fn, got.Status, got.StatusReasons)
		}
	}
}

// get fetches url and returns its body, failing on a non-200 answer.
func get(tb testing.TB, url string) string {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	if resp.StatusCode != 200 {
		tb.Fatalf("GET %s: %d %s", url, resp.StatusCode, b.String())
	}
	return b.String()
}

// dbBytes is the size of the server's database, its WAL checkpointed.
func (s *server) dbBytes(tb testing.TB) int64 {
	tb.Helper()
	var n int64
	for _, f := range []string{"scfd.db", "scfd.db-wal"} {
		if st, err := os.Stat(filepath.Join(s.dir, f)); err == nil {
			n += st.Size()
		}
	}
	return n
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/(1<<20)) }
