package cli

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/scfd/scfd/internal/config"
	"github.com/scfd/scfd/internal/daemon"
)

// announcements collects what scfd serve tells the person who started it.
type announcements struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (a *announcements) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.buf.Write(p)
}

var listening = regexp.MustCompile(`scfd: (.+) listening on (\S+)`)

// addrs returns the listeners announced so far, by server name.
func (a *announcements) addrs() map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]string{}
	for _, m := range listening.FindAllStringSubmatch(a.buf.String(), -1) {
		out[m[1]] = m[2]
	}
	return out
}

// serve starts a real `scfd serve` (in process, with runc) on ephemeral
// ports from an empty data dir, stopped when the test ends. It returns
// the CLI's environment for it and its listeners by name ("SCF API",
// "gateway", "registry").
func serve(t *testing.T) (cliEnv, addrs map[string]string) {
	t.Helper()
	dir := t.TempDir()
	env := map[string]string{
		"SCFD_DATA_DIR":      dir,
		"SCFD_API_ADDR":      "127.0.0.1:0",
		"SCFD_GATEWAY_ADDR":  "127.0.0.1:0",
		"SCFD_REGISTRY_ADDR": "127.0.0.1:0",
	}
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	config.Flags(fs, func(k string) string { return env[k] })
	c, err := config.Load(fs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ann := &announcements{}
	done := make(chan error, 1)
	go func() { done <- daemon.Run(ctx, c, slog.New(slog.DiscardHandler), ann) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("scfd serve: %v", err)
			}
		case <-time.After(time.Minute):
			t.Error("scfd serve did not stop in a minute")
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		addrs = ann.addrs()
		if len(addrs) == 3 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("scfd serve stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("scfd serve did not listen in 30 s; it said:\n%s", ann.buf.String())
		}
	}
	return map[string]string{
		"SCFD_DATA_DIR":      dir,
		"SCFD_ENDPOINT":      "http://" + addrs["SCF API"],
		"SCFD_REGISTRY_ADDR": addrs["registry"],
		"SCFD_GATEWAY_ADDR":  addrs["gateway"],
	}, addrs
}

// needRoot skips a test that runs containers unless it runs as root with
// runc installed.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("this test runs containers, which needs root")
	}
	if _, err := exec.LookPath("runc"); err != nil {
		t.Skip("runc not installed")
	}
}

// TestDemo runs the quick start against a real server: `scfd serve` (in
// process, with runc) from an empty data dir, then `scfd demo` twice (the
// second run updates what the first created).
func TestDemo(t *testing.T) {
	needRoot(t)
	cliEnv, addrs := serve(t)
	for run := 1; run <= 2; run++ {
		out := mustRun(t, cliEnv, "demo", "--source", "../../examples/hello")
		for _, want := range []string{
			"2. pushed " + addrs["registry"] + "/demo/hello:latest",
			"demo/hello-event: Active",
			"demo/hello-web: Active",
			`"message":"hello from scfd"`,
			`"event":{"from":"scfd demo"}`,
			`"X-Scf-Secret-Key":"(hidden)"`,
			"event-invoke ",
			"scfd invoke hello-event -n demo",
			"6. called the HTTP function demo/hello-web through the gateway",
			"hello from scfd from GET /hello?from=demo",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("run %d: output lacks %q:\n%s", run, want, out)
			}
		}
	}
	// Functions pin the demo image: GC keeps it (and nothing is old
	// enough to go).
	if out := mustRun(t, cliEnv, "registry", "gc", "--registry", addrs["registry"]); !strings.Contains(out, "removed 0 blobs, 0 manifests") {
		t.Errorf("registry gc: %s", out)
	}
	if out := mustRun(t, cliEnv, "registry", "gc", "--registry", addrs["registry"], "-o", "json"); !strings.Contains(out, `"Blobs": 0`) {
		t.Errorf("registry gc -o json: %s", out)
	}
}
