package cli

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/scfd/scfd/internal/daemon/daemontest"
)

// serve starts a real `scfd serve` (in process, with runc) on ephemeral
// ports from an empty data dir, stopped when the test ends. It returns
// the CLI's environment for it and its listeners by name ("SCF API",
// "gateway", "registry").
func serve(t *testing.T) (cliEnv, addrs map[string]string) {
	t.Helper()
	s := daemontest.Serve(t, nil)
	return map[string]string{
		"SCFD_DATA_DIR":      s.Dir,
		"SCFD_ENDPOINT":      "http://" + s.Addrs["SCF API"],
		"SCFD_REGISTRY_ADDR": s.Addrs["registry"],
		"SCFD_GATEWAY_ADDR":  s.Addrs["gateway"],
	}, s.Addrs
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
