package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// wrkResult is what one wrk run measured.
type wrkResult struct {
	requests int64
	rps      float64
	p50, p99 time.Duration
	non2xx   int64
	cpu      cpuUse // what the parts spent meanwhile
}

// runWrk loads url with wrk -t2 -cN for d and parses its summary.
func runWrk(tb testing.TB, url string, conns int, d time.Duration) wrkResult {
	tb.Helper()
	before := sampleCPU()
	cmd := exec.Command("wrk", "-t2", "-c"+strconv.Itoa(conns), "-d"+strconv.Itoa(int(d.Seconds()))+"s", "--latency", url)
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("wrk: %v\n%s", err, out)
	}
	r := wrkResult{cpu: sampleCPU().since(before, cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "Requests/sec:":
			r.rps, _ = strconv.ParseFloat(f[1], 64)
		case len(f) == 2 && f[0] == "50%":
			r.p50 = wrkDuration(f[1])
		case len(f) == 2 && f[0] == "99%":
			r.p99 = wrkDuration(f[1])
		case len(f) >= 4 && f[1] == "requests" && f[2] == "in":
			r.requests, _ = strconv.ParseInt(f[0], 10, 64)
		case len(f) >= 4 && f[0] == "Non-2xx":
			r.non2xx, _ = strconv.ParseInt(f[len(f)-1], 10, 64)
		}
	}
	if r.rps == 0 || r.p50 == 0 {
		tb.Fatalf("cannot parse wrk's output:\n%s", out)
	}
	return r
}

// wrkDuration parses wrk's "123.45us", "1.20ms", "2.00s".
func wrkDuration(s string) time.Duration {
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return time.Duration(f * float64(u.unit))
		}
	}
	return 0
}

// paced is what a paced run measured.
type paced struct {
	sent, failed int
	p50, p99     time.Duration
}

// pace sends GETs to url at rate per second for d over conns kept-alive
// connections, and measures each from the moment it was due (so a
// stalled server shows in the latency, not in a lower rate).
func pace(tb testing.TB, url string, rate float64, conns int, d time.Duration) paced {
	tb.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	due := make(chan time.Time, conns*4)
	var mu sync.Mutex
	var lat []time.Duration
	var failed atomic.Int64
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, 1024)
			for t := range due {
				resp, err := hc.Get(url)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode != 200 {
					failed.Add(1)
					continue
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	period := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	n := 0
	for next := start; next.Sub(start) < d; next = next.Add(period) {
		if w := time.Until(next); w > 0 {
			time.Sleep(w)
		}
		due <- next
		n++
	}
	close(due)
	wg.Wait()
	slices.Sort(lat)
	if len(lat) == 0 {
		tb.Fatalf("paced load on %s: every request failed", url)
	}
	q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	return paced{sent: n, failed: int(failed.Load()), p50: q(0.50), p99: q(0.99)}
}

// freePort returns a free loopback address.
func freePort(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startNginx runs Debian's nginx (one worker, upstream keepalive 64, no
// access log) proxying to upstream, and returns its base URL.
func startNginx(tb testing.TB, upstream string) string {
	tb.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		tb.Skip("nginx is not installed (scripts/deps.sh --test installs it)")
	}
	dir := tb.TempDir()
	addr := freePort(tb)
	conf := fmt.Sprintf(`worker_processes 1;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	upstream fn { server %[2]s; keepalive 64; }
	server {
		listen %[3]s;
		location / {
			proxy_pass http://fn;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
		}
	}
}
`, dir, upstream, addr)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", path)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	// SIGTERM: nginx's master stops its worker before it exits.
	tb.Cleanup(func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() })
	waitListening(tb, addr)
	return "http://" + addr
}

// startDirect runs the web function's server on the host.
func startDirect(tb testing.TB, bin string) string {
	tb.Helper()
	addr := freePort(tb)
	cmd := exec.Command(bin, "-addr", addr)
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	waitListening(tb, addr)
	return "http://" + addr
}

func waitListening(tb testing.TB, addr string) {
	tb.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s does not listen: %v", addr, err)
		}
	}
}

// buildWebFunc builds the web function for the host.
func buildWebFunc(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "webfunc")
	cmd := exec.Command("go", "build", "-o", bin, webFuncDir)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build webfunc: %v\n%s", err, out)
	}
	return bin
}

// ctxTimeout is a context for an API call.
func ctxTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), time.Minute)
}
