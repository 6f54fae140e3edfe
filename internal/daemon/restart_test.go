package daemon_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/scfd/scfd/internal/client"
)

// process is a `scfd serve` process.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{}
	log    string
}

// startProcess starts bin serve with env and waits until its API answers.
func startProcess(t *testing.T, bin string, env []string, apiAddr string) *process {
	t.Helper()
	p := &process{exited: make(chan struct{}), log: filepath.Join(t.TempDir(), "scfd.log")}
	logFile, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, "serve")
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); logFile.Close(); close(p.exited) }()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(time.Minute):
			p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			t.Logf("scfd log:\n%s", b)
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) { // polling a process starting
		if res, err := http.Get("http://" + apiAddr + "/healthz/ready"); err == nil {
			res.Body.Close()
			return p
		}
		select {
		case <-p.exited:
			b, _ := os.ReadFile(p.log)
			t.Fatalf("scfd serve exited:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("scfd serve did not listen in 30 s")
		}
	}
}

// stop sends SIGTERM and waits for the process to exit cleanly.
func (p *process) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(time.Minute):
		t.Fatal("scfd serve did not stop in a minute after SIGTERM")
	}
	if !p.cmd.ProcessState.Success() {
		b, _ := os.ReadFile(p.log)
		t.Errorf("scfd serve: %v\n%s", p.cmd.ProcessState, b)
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

// TestRollingRestart restarts `scfd serve` (SIGTERM, then a new process
// on the same data dir and addresses) under a steady load of web
// requests from clients that retry on 503 and on refused connections:
// every request is answered 200 in the end, and none fails otherwise.
func TestRollingRestart(t *testing.T) {
	needsRunc(t)
	if testing.Short() {
		t.Skip("builds scfd and restarts it")
	}
	bin := filepath.Join(t.TempDir(), "scfd")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/scfd").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	apiAddr, gwAddr, regAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	env := []string{
		"SCFD_DATA_DIR=" + t.TempDir(), "SCFD_API_ADDR=" + apiAddr, "SCFD_GATEWAY_ADDR=" + gwAddr, "SCFD_REGISTRY_ADDR=" + regAddr,
		"SCFD_SECRET_ID=" + admin.SecretID, "SCFD_SECRET_KEY=" + admin.SecretKey, "SCFD_LOG_LEVEL=warn",
	}
	first := startProcess(t, bin, env, apiAddr)
	deploy(t, client.New("http://"+apiAddr, admin), regAddr, "../gateway/webfunc", "web", "HTTP")

	// Clients POST to the web function, each request until it is
	// answered 200, retrying on 503 and on refused connections.
	var (
		done              atomic.Bool
		answered, retries atomic.Int64
		failMu            sync.Mutex
		failures          []string
		wg                sync.WaitGroup
		url               = "http://" + gwAddr + "/default/web/echo/"
		transport         = &http.Transport{MaxIdleConnsPerHost: 8}
		c                 = &http.Client{Transport: transport, Timeout: time.Minute}
		retryable         = func(res *http.Response, err error) bool {
			if err != nil {
				return errors.Is(err, syscall.ECONNREFUSED)
			}
			return res.StatusCode == http.StatusServiceUnavailable && res.Header.Get("Retry-After") != ""
		}
	)
	fail := func(format string, args ...any) {
		failMu.Lock()
		defer failMu.Unlock()
		failures = append(failures, fmt.Sprintf(format, args...))
	}
	for w := range 4 {
		wg.Go(func() {
			for n := 0; !done.Load(); n++ {
				id := fmt.Sprintf("w%d-%d", w, n)
				for {
					res, err := c.Post(url+id, "text/plain", strings.NewReader(id))
					if retryable(res, err) {
						if res != nil {
							io.Copy(io.Discard, res.Body)
							res.Body.Close()
						}
						retries.Add(1)
						time.Sleep(20 * time.Millisecond) // the client's back-off
						continue
					}
					if err != nil {
						fail("%s: %v", id, err)
						return
					}
					b, _ := io.ReadAll(res.Body)
					res.Body.Close()
					if res.StatusCode != http.StatusOK || !strings.Contains(string(b), `"body":"`+id+`"`) {
						fail("%s: %d %s", id, res.StatusCode, b)
						return
					}
					answered.Add(1)
					break
				}
			}
		})
	}
	waitAnswered := func(n int64) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); answered.Load() < n; time.Sleep(10 * time.Millisecond) { // polling the load
			if time.Now().After(deadline) {
				t.Fatalf("only %d requests answered", answered.Load())
			}
		}
	}
	waitAnswered(50)
	first.stop(t)
	before := answered.Load()
	startProcess(t, bin, env, apiAddr)
	waitAnswered(before + 50)
	done.Store(true)
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	if retries.Load() == 0 {
		t.Error("no request was retried: the restart did not happen under load")
	}
	t.Logf("%d requests answered, %d retries", answered.Load(), retries.Load())
}
