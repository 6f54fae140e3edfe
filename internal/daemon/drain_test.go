package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/pflag"

	"github.com/scfd/scfd/internal/api"
	"github.com/scfd/scfd/internal/client"
	"github.com/scfd/scfd/internal/config"
	"github.com/scfd/scfd/internal/daemon"
	"github.com/scfd/scfd/internal/tc3"
	"github.com/scfd/scfd/internal/testenv"
)

var admin = tc3.Credential{SecretID: "AKIDdraintest", SecretKey: "drain-test-key"}

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

// running is a `scfd serve` run in process.
type running struct {
	addrs  map[string]string
	stop   context.CancelFunc // what SIGTERM does
	done   chan error         // Run's result
	client *client.Client     // the administrator's API client
}

// serveInProcess runs daemon.Run with env (SCFD_* settings) on loopback
// ports of its own, and waits until it listens.
func serveInProcess(t *testing.T, env map[string]string) *running {
	t.Helper()
	all := map[string]string{
		"SCFD_DATA_DIR":      t.TempDir(),
		"SCFD_API_ADDR":      "127.0.0.1:0",
		"SCFD_GATEWAY_ADDR":  "127.0.0.1:0",
		"SCFD_REGISTRY_ADDR": "127.0.0.1:0",
		"SCFD_SECRET_ID":     admin.SecretID,
		"SCFD_SECRET_KEY":    admin.SecretKey,
	}
	for k, v := range env {
		all[k] = v
	}
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	config.Flags(fs, func(k string) string { return all[k] })
	c, err := config.Load(fs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ann := &announcements{}
	r := &running{stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- daemon.Run(ctx, c, slog.New(slog.DiscardHandler), ann) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("scfd serve: %v", err)
			}
			r.done <- err // for a test that waits too
		case <-time.After(time.Minute):
			t.Error("scfd serve did not stop in a minute")
		}
	})
	want := 2
	if all["SCFD_REGISTRY_ADDR"] != "off" {
		want++
	}
	if all["SCFD_DEBUG_ADDR"] != "" {
		want++
	}
	if all["SCFD_CLUSTER_ADDR"] != "" {
		want++
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) { // polling a server starting
		if r.addrs = ann.addrs(); len(r.addrs) == want {
			break
		}
		select {
		case err := <-r.done:
			t.Fatalf("scfd serve stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("scfd serve did not listen in 30 s; it said:\n%s", ann.buf.String())
		}
	}
	r.client = client.New("http://"+r.addrs["SCF API"], admin)
	return r
}

// TestDebugAddr: SCFD_DEBUG_ADDR serves net/http/pprof on a listener of
// its own; without it nothing serves /debug/pprof/.
func TestDebugAddr(t *testing.T) {
	r := serveInProcess(t, map[string]string{"SCFD_DEBUG_ADDR": "127.0.0.1:0", "SCFD_REGISTRY_ADDR": "off"})
	res, err := http.Get("http://" + r.addrs["debug"] + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine") {
		t.Errorf("GET /debug/pprof/ = %d:\n%s", res.StatusCode, body)
	}

	off := serveInProcess(t, map[string]string{"SCFD_REGISTRY_ADDR": "off"})
	if a, ok := off.addrs["debug"]; ok {
		t.Errorf("without SCFD_DEBUG_ADDR a debug listener runs on %s", a)
	}
	for _, server := range []string{"SCF API", "gateway"} {
		res, err := http.Get("http://" + off.addrs[server] + "/debug/pprof/")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode == http.StatusOK {
			t.Errorf("the %s serves /debug/pprof/", server)
		}
	}
}

func needsRunc(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("runs containers, which needs root")
	}
	if _, err := exec.LookPath("runc"); err != nil {
		t.Skip("runc not installed")
	}
}

// deploy pushes the Go main package pkg as an image to the embedded
// registry at reg and creates the Active function name (Type typ) of it.
func deploy(t *testing.T, c *client.Client, reg, pkg, fn, typ string) {
	t.Helper()
	ctx := context.Background()
	uri := fmt.Sprintf("%s/default/%s:1", reg, fn)
	ref, err := name.ParseReference(uri, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, testenv.BinaryImage(t, pkg), remote.WithContext(ctx),
		remote.WithAuth(&authn.Basic{Username: admin.SecretID, Password: admin.SecretKey})); err != nil {
		t.Fatal(err)
	}
	err = c.Call(ctx, "CreateFunction", api.CreateFunctionRequest{
		FunctionName: fn, Type: typ, MemorySize: 128, Timeout: 60,
		Code: &api.Code{ImageConfig: &api.ImageConfig{ImageType: "personal", ImageUri: uri}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) { // polling the deployment
		var got api.GetFunctionResponse
		if err := c.Call(ctx, "GetFunction", api.GetFunctionRequest{FunctionName: fn}, &got); err != nil {
			t.Fatal(err)
		}
		if got.Status == "Active" {
			return
		}
		if strings.HasSuffix(got.Status, "Failed") || time.Now().After(deadline) {
			t.Fatalf("function %s is %s: %+v", fn, got.Status, got.StatusReasons)
		}
	}
}

// waitBusy waits until an instance of fn serves a request.
func waitBusy(t *testing.T, c *client.Client, fn string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) { // polling the pool
		var got api.ListInstancesResponse
		if err := c.Call(context.Background(), "ListInstances", api.ListInstancesRequest{FunctionName: fn}, &got); err != nil {
			t.Fatal(err)
		}
		for _, in := range got.Instances {
			if in.State == "busy" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no instance of %s is busy: %+v", fn, got.Instances)
		}
	}
}

// keptAlive sends requests over one kept-alive connection and reports
// whether each reused it.
type keptAlive struct {
	c *http.Client
}

func newKeptAlive() *keptAlive {
	return &keptAlive{c: &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}}}
}

func (k *keptAlive) do(t *testing.T, method, url, body string) (res *http.Response, resBody string, reused bool) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused },
	}))
	res, err = k.c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(b), reused
}

// refusedWhileDraining sends requests over k until one is answered 503
// (the drain has started), and checks that answer.
func refusedWhileDraining(t *testing.T, k *keptAlive, method, url string, check func(body string) error) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) { // until the stop signal is seen
		res, body, reused := k.do(t, method, url, "{}")
		if res.StatusCode != http.StatusServiceUnavailable {
			if time.Now().After(deadline) {
				t.Fatalf("%s %s still answers %d after the stop signal", method, url, res.StatusCode)
			}
			continue
		}
		if !reused {
			t.Errorf("%s %s: the 503 came on a new connection, not the kept-alive one", method, url)
		}
		if got := res.Header.Get("Retry-After"); got != "1" {
			t.Errorf("%s %s: Retry-After %q, want 1", method, url, got)
		}
		if err := check(body); err != nil {
			t.Errorf("%s %s: %v:\n%s", method, url, err, body)
		}
		return
	}
}

// TestDrain: on a stop signal, a slow web request and a slow Invoke in
// flight finish with 200, while a new request on a kept-alive connection
// is answered 503 with Retry-After and new connections are refused.
func TestDrain(t *testing.T) {
	needsRunc(t)
	r := serveInProcess(t, nil)
	deploy(t, r.client, r.addrs["registry"], "../gateway/webfunc", "web", "HTTP")
	deploy(t, r.client, r.addrs["registry"], "../../test/e2e/testfunc", "event", "Event")
	gw, apiURL := "http://"+r.addrs["gateway"], "http://"+r.addrs["SCF API"]

	// Connections kept alive before the stop signal.
	gwConn, apiConn := newKeptAlive(), newKeptAlive()
	if res, _, _ := gwConn.do(t, "GET", gw+"/default/nothing/", ""); res.StatusCode != http.StatusNotFound {
		t.Fatalf("the gateway answered %d for an unknown function", res.StatusCode)
	}
	if res, _, _ := apiConn.do(t, "POST", apiURL+"/", "{}"); res.StatusCode != http.StatusOK {
		t.Fatalf("the API answered %d to an unsigned call", res.StatusCode)
	}

	const slow = 1500 // ms
	webDone := make(chan error, 1)
	go func() {
		res, err := http.Get(fmt.Sprintf("%s/default/web/sleep?ms=%d", gw, slow))
		if err != nil {
			webDone <- err
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || !strings.Contains(string(b), "maxInFlight") {
			err = fmt.Errorf("status %d: %s", res.StatusCode, b)
		}
		webDone <- err
	}()
	invokeDone := make(chan error, 1)
	go func() {
		var resp api.InvokeResponse
		err := r.client.Call(context.Background(), "Invoke", api.InvokeRequest{
			FunctionName: "event", ClientContext: fmt.Sprintf(`{"sleep_ms":%d}`, slow),
		}, &resp)
		if err == nil && resp.Result.InvokeResult != 0 {
			err = fmt.Errorf("InvokeResult %d: %s", resp.Result.InvokeResult, resp.Result.ErrMsg)
		}
		invokeDone <- err
	}()
	waitBusy(t, r.client, "web")
	waitBusy(t, r.client, "event")

	r.stop()
	refusedWhileDraining(t, gwConn, "GET", gw+"/default/web/", func(body string) error {
		var e struct {
			ErrorCode  int
			StatusCode int
		}
		if err := json.Unmarshal([]byte(body), &e); err != nil || e.ErrorCode != -1 {
			return errors.New("not the gateway's error body")
		}
		return nil
	})
	refusedWhileDraining(t, apiConn, "POST", apiURL+"/", func(body string) error {
		var e struct {
			Response struct{ Error struct{ Code string } }
		}
		if err := json.Unmarshal([]byte(body), &e); err != nil || e.Response.Error.Code != "ServiceUnavailable" {
			return errors.New("not an SCF error ServiceUnavailable")
		}
		return nil
	})
	if c, err := net.DialTimeout("tcp", r.addrs["gateway"], time.Second); err == nil {
		c.Close()
		t.Error("the gateway accepted a new connection while draining")
	}
	if err := <-webDone; err != nil {
		t.Errorf("the web request in flight: %v", err)
	}
	if err := <-invokeDone; err != nil {
		t.Errorf("the Invoke in flight: %v", err)
	}
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("scfd serve: %v", err)
		}
		r.done <- err
	case <-time.After(time.Minute):
		t.Fatal("scfd serve did not stop in a minute")
	}
}
