// Package console tests scfd's web console end to end: the real `scfd
// serve` binary, a function from a real registry running in a real runc
// container, and the console driven in a real headless Chromium through
// the DevTools protocol (chromedp). Screenshots of each page are written
// to $SCFD_SCREENSHOTS, or to the test's temporary directory.
package console

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/scfd/scfd/internal/api"
	"github.com/scfd/scfd/internal/client"
	"github.com/scfd/scfd/internal/tc3"
	"github.com/scfd/scfd/internal/testenv"
)

// Chromium is the Debian chromium binary (scripts/deps.sh --test installs it).
const Chromium = "/usr/bin/chromium"

var cred = tc3.Credential{SecretID: "AKIDscfdconsoletest0000000000000", SecretKey: "scfdconsolesecret000000000000000"}

func TestConsoleInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end tests are not short")
	}
	if os.Geteuid() != 0 {
		t.Skip("functions run in runc containers, which needs root")
	}
	if _, err := os.Stat(Chromium); err != nil {
		t.Fatalf("%s is needed (scripts/deps.sh --test installs it): %v", Chromium, err)
	}
	shots := os.Getenv("SCFD_SCREENSHOTS")
	if shots == "" {
		shots = filepath.Join(t.TempDir(), "screenshots")
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	reg := testenv.StartRegistry(t)
	image := reg.Ref("console/hello:v1")
	reg.Push(t, "console/hello:v1", testenv.BinaryImage(t, "../../examples/hello"))
	base := startServer(t, reg)
	sdk := client.New(base, cred)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := sdk.Call(ctx, "CreateFunction", api.CreateFunctionRequest{
		FunctionName: "hello", Description: "the console's test function", MemorySize: 256, Timeout: 10,
		Environment: &api.Environment{Variables: []api.Variable{{Key: "GREETING", Value: "bonjour"}}},
		Code:        &api.Code{ImageConfig: &api.ImageConfig{ImageType: "personal", ImageUri: image}},
	}, nil); err != nil {
		t.Fatal(err)
	}
	waitActive(t, ctx, sdk)

	browser := startChromium(t, ctx)
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			png, err := chromedp.FullScreenshot(100)(ctx, t)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644)
		})
	}
	run := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(browser, 60*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			page, _ := chromedp.Run(browser, chromedp.Text(chromedp.CSS("body")))
			t.Fatalf("%s: %v\npage text:\n%s", step, err, page)
		}
	}

	// A wrong key is refused.
	var refusal string
	run("wrong key",
		chromedp.Navigate(base+"/console/"),
		chromedp.WaitVisible(chromedp.CSS("#signin-form")),
		chromedp.SendKeys(chromedp.CSS("#secret-id"), cred.SecretID),
		chromedp.SendKeys(chromedp.CSS("#secret-key"), "not-the-secret"),
		chromedp.Click(chromedp.CSS("#signin-button")),
		chromedp.WaitVisible(chromedp.CSS("#signin-error:not(:empty)")),
		into(chromedp.Text(chromedp.CSS("#signin-error")), &refusal),
		shot("0-signin-refused"),
	)
	if !strings.Contains(refusal, "wrong") {
		t.Errorf("the refusal says %q", refusal)
	}

	// Sign in and see the function created through the SDK.
	var row string
	run("sign in",
		chromedp.SendKeys(chromedp.CSS("#secret-key"), cred.SecretKey),
		chromedp.Click(chromedp.CSS("#signin-button")),
		chromedp.WaitVisible(chromedp.CSS(`#functions tr[data-function="hello"]`)),
		into(chromedp.Text(chromedp.CSS(`#functions tr[data-function="hello"]`)), &row),
		shot("1-functions"),
	)
	for _, want := range []string{"hello", "Active", "console/hello", "sha256:", "256 MB", "10 s"} {
		if !strings.Contains(row, want) {
			t.Errorf("the function's row %q lacks %q", row, want)
		}
	}

	// Its page: configuration with the environment.
	var greeting string
	run("function page",
		chromedp.Click(chromedp.CSS(`#functions tr[data-function="hello"] a`)),
		chromedp.WaitVisible(chromedp.CSS("#instances")),
		into(chromedp.Value(chromedp.CSS("#env .env-value")), &greeting),
		shot("2-function"),
	)
	if greeting != "bonjour" {
		t.Errorf("the environment shows GREETING=%q, want bonjour", greeting)
	}

	// The test panel: a bad event is caught before sending; a good one runs.
	var badEvent, status, result, log, requestID, billed string
	run("test panel",
		chromedp.Click(chromedp.CSS("#tab-link-test")),
		chromedp.WaitVisible(chromedp.CSS("#event")),
		chromedp.SetValue(chromedp.CSS("#event"), `{"name": `),
		chromedp.Click(chromedp.CSS("#invoke")),
		into(chromedp.Text(chromedp.CSS("#event-error")), &badEvent),
		chromedp.SetValue(chromedp.CSS("#event"), `{"name": "console"}`),
		chromedp.Click(chromedp.CSS("#invoke")),
		chromedp.WaitVisible(chromedp.CSS("#result-status")),
		into(chromedp.Text(chromedp.CSS("#result-status")), &status),
		into(chromedp.Text(chromedp.CSS("#result-body")), &result),
		into(chromedp.Text(chromedp.CSS("#result-log")), &log),
		into(chromedp.Text(chromedp.CSS("#result-request-id")), &requestID),
		into(chromedp.Text(chromedp.CSS("#result-billed")), &billed),
		shot("3-test"),
	)
	if !strings.Contains(badEvent, "not valid JSON") {
		t.Errorf("a bad event: %q, want a JSON error", badEvent)
	}
	if status != "Succeeded" || !strings.Contains(result, `"bonjour"`) || !strings.Contains(result, `"console"`) {
		t.Errorf("invocation: %q, result %q", status, result)
	}
	if !strings.Contains(log, "event-invoke "+requestID) || !strings.HasSuffix(billed, " ms") {
		t.Errorf("log tail %q (request %s), billed %q", log, requestID, billed)
	}

	// Its logs, by request id.
	var entry string
	run("logs",
		chromedp.Click(chromedp.CSS("#result-request-id")),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#logs-list details[data-request-id="%s"][open] pre`, requestID))),
		into(chromedp.Text(chromedp.CSS(fmt.Sprintf(`#logs-list details[data-request-id="%s"]`, requestID))), &entry),
		shot("4-logs"),
	)
	if !strings.Contains(entry, "START RequestId") || !strings.Contains(entry, "event-invoke "+requestID) {
		t.Errorf("the log entry: %q", entry)
	}

	// More invocations through the SDK, then the plots.
	for range 5 {
		if err := sdk.Call(ctx, "Invoke", api.InvokeRequest{FunctionName: "hello", ClientContext: `{}`}, nil); err != nil {
			t.Fatal(err)
		}
	}
	// The sampler counts the instance within a second or so.
	for deadline := time.Now().Add(10 * time.Second); ; {
		var m api.GetFunctionMetricsResponse
		if err := sdk.Call(ctx, "GetFunctionMetrics", api.GetFunctionMetricsRequest{FunctionName: "hello"}, &m); err != nil {
			t.Fatal(err)
		}
		if slices.Max(m.ConcurrentInstances) >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no instance sampled in 10 s: %v", m.ConcurrentInstances)
		}
		time.Sleep(200 * time.Millisecond) // polling the server's sampler
	}
	var invocations float64
	var drawn int
	run("monitoring",
		chromedp.Click(chromedp.CSS("#tab-link-monitor")),
		chromedp.WaitVisible(chromedp.CSS("#chart-invocations canvas")),
		chromedp.WaitVisible(chromedp.CSS("#usage-table")),
		into(chromedp.Evaluate[float64](`scfdCharts.invocations.data[1].reduce((a, b) => a + (b || 0), 0)`), &invocations),
		// Coloured pixels of the invocations' line: blue, not grid grey.
		into(chromedp.Evaluate[int](`(() => {
			const c = document.querySelector("#chart-invocations canvas");
			const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
			let n = 0;
			for (let i = 0; i < d.length; i += 4) if (d[i+3] > 0 && d[i+2] > 150 && d[i] < 120) n++;
			return n;
		})()`), &drawn),
		shot("5-monitoring"),
	)
	if invocations != 6 {
		t.Errorf("the invocations plot holds %v invocations, want 6", invocations)
	}
	if drawn < 50 {
		t.Errorf("the invocations plot has %d blue pixels: nothing drawn", drawn)
	}

	// The administrator creates a read-only key for namespace default on
	// the keys page; its secret is shown once.
	if err := sdk.Call(ctx, "CreateNamespace", api.CreateNamespaceRequest{Namespace: "other"}, nil); err != nil {
		t.Fatal(err)
	}
	var keyID, keySecret string
	run("keys page",
		chromedp.Click(chromedp.CSS("#nav-keys")),
		chromedp.WaitVisible(chromedp.CSS("#key-create")),
		chromedp.SendKeys(chromedp.CSS("#key-namespaces"), "default"),
		chromedp.SetValue(chromedp.CSS("#key-role"), "ReadOnly"),
		chromedp.SendKeys(chromedp.CSS("#key-description"), "readers"),
		chromedp.Click(chromedp.CSS("#key-create")),
		chromedp.WaitVisible(chromedp.CSS("#new-key-secret")),
		into(chromedp.Text(chromedp.CSS("#new-key-id")), &keyID),
		into(chromedp.Text(chromedp.CSS("#new-key-secret")), &keySecret),
		shot("6-keys"),
	)
	if !strings.HasPrefix(keyID, "AKID") || len(keySecret) < 32 {
		t.Fatalf("the new key: %q %q", keyID, keySecret)
	}

	// Signed in with it: its namespace only, and no button its role may
	// not use.
	var who string
	var namespaces []string
	var hidden bool
	run("tenant sign-in",
		chromedp.Click(chromedp.CSS("#signout")),
		chromedp.WaitVisible(chromedp.CSS("#signin-form")),
		chromedp.SetValue(chromedp.CSS("#secret-id"), keyID),
		chromedp.SetValue(chromedp.CSS("#secret-key"), keySecret),
		chromedp.Click(chromedp.CSS("#signin-button")),
		chromedp.WaitVisible(chromedp.CSS(`#functions tr[data-function="hello"]`)),
		into(chromedp.Text(chromedp.CSS("#who")), &who),
		into(chromedp.Evaluate[[]string](`[...document.querySelectorAll("#namespace option")].map((o) => o.value)`), &namespaces),
		into(chromedp.Evaluate[bool](`document.querySelector("#nav-keys").hidden`), &hidden),
		shot("7-tenant-functions"),
	)
	if !strings.Contains(who, "ReadOnly") || !slices.Equal(namespaces, []string{"default"}) || !hidden {
		t.Errorf("a read-only key of default sees %q, namespaces %v, keys link hidden %v", who, namespaces, hidden)
	}
	var save, invoke bool
	run("tenant function page",
		chromedp.Click(chromedp.CSS(`#functions tr[data-function="hello"] a`)),
		chromedp.WaitVisible(chromedp.CSS("#instances")),
		into(chromedp.Evaluate[bool](`!!document.querySelector("#cfg-save")`), &save),
		chromedp.Click(chromedp.CSS("#tab-link-test")),
		chromedp.WaitVisible(chromedp.CSS("#event")),
		into(chromedp.Evaluate[bool](`!!document.querySelector("#invoke")`), &invoke),
		shot("8-tenant-test"),
	)
	if save || invoke {
		t.Errorf("a read-only key is offered Save (%v) or Invoke (%v)", save, invoke)
	}
	t.Logf("screenshots in %s", shots)
}

// startServer runs `scfd serve` on free loopback ports and returns the
// API's base URL.
func startServer(t *testing.T, reg *testenv.Registry) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "scfd")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/scfd").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	apiAddr, gwAddr := freeAddr(t), freeAddr(t)
	data := t.TempDir()
	logPath := filepath.Join(t.TempDir(), "scfd.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(),
		"SCFD_API_ADDR="+apiAddr, "SCFD_GATEWAY_ADDR="+gwAddr, "SCFD_REGISTRY_ADDR=off",
		"SCFD_DATA_DIR="+data, "SCFD_SECRET_ID="+cred.SecretID, "SCFD_SECRET_KEY="+cred.SecretKey,
		"SCFD_INSECURE_REGISTRIES="+reg.Addr, "SCFD_ALLOWED_REGISTRIES="+reg.Addr, "DOCKER_CONFIG="+reg.DockerConfigDir,
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(40 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("scfd log:\n%s", b)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + apiAddr + "/console/")
		if err == nil {
			resp.Body.Close()
			return "http://" + apiAddr
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("scfd serve exited:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("scfd serve did not listen in 30 s")
		}
		time.Sleep(50 * time.Millisecond) // polling an external process
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitActive(t *testing.T, ctx context.Context, sdk *client.Client) {
	t.Helper()
	for {
		var fn api.GetFunctionResponse
		if err := sdk.Call(ctx, "GetFunction", api.GetFunctionRequest{FunctionName: "hello"}, &fn); err != nil {
			t.Fatal(err)
		}
		switch fn.Status {
		case "Active":
			return
		case "CreateFailed":
			t.Fatalf("the function failed: %+v", fn.StatusReasons)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the function is still %s", fn.Status)
		case <-time.After(100 * time.Millisecond): // polling the deployment
		}
	}
}

// startChromium starts a headless Chromium that reaches nothing beyond
// loopback, with a fresh profile, and returns a browser context.
func startChromium(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(Chromium),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.WindowSize(1360, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// into runs a at its turn among other steps and keeps its value in p.
func into[T any](a chromedp.Action[T], p *T) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		v, err := a(ctx, t)
		*p = v
		return chromedp.Void{}, err
	}
}
