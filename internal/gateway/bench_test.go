package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scfd/scfd/internal/pool"
	"github.com/scfd/scfd/internal/scf"
)

// wrkResult is what one wrk run measured.
type wrkResult struct {
	rps      float64
	p50, p99 time.Duration
}

// runWrk loads url with wrk and parses its summary.
func runWrk(tb testing.TB, url string, d time.Duration) wrkResult {
	tb.Helper()
	out, err := exec.Command("wrk", "-t2", "-c32", "-d"+strconv.Itoa(int(d.Seconds()))+"s", "--latency", url).CombinedOutput()
	if err != nil {
		tb.Fatalf("wrk: %v\n%s", err, out)
	}
	var r wrkResult
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
		case len(f) >= 3 && f[0] == "Non-2xx":
			tb.Fatalf("wrk saw errors:\n%s", out)
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

// BenchmarkGatewayOverhead loads a web function answering "ok" through
// the gateway (real pool, runc container, logs) and the same server binary
// run directly on the host, with the same wrk load, side by side. It
// prints both throughputs, their ratio, and the latency the gateway adds
// at p50 and p99. One run whatever b.N (make bench uses -benchtime 1x).
func BenchmarkGatewayOverhead(b *testing.B) {
	if _, err := exec.LookPath("wrk"); err != nil {
		b.Skip("wrk is not installed")
	}
	e := newRealEnv(b)
	// 1024 MB: the instance's CPU weight (one share per MB) equals the
	// host processes' default of 1024, that of the direct server.
	name := e.function(b, func(fn *scf.Function) {
		fn.Concurrency.MaxConcurrency = 100
		fn.Timeout = 30
		fn.MemorySize = 1024
	})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	direct := exec.Command(webFuncBin, "-addr", addr)
	if err := direct.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { direct.Process.Kill(); direct.Wait() })

	viaGateway := e.url + "/default/" + name + "/"
	directURL := "http://" + addr + "/"
	for _, u := range []string{viaGateway, directURL} {
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := http.Get(u)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if time.Now().After(deadline) {
				b.Fatalf("%s does not answer: %v", u, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// The instance's own address, to tell the gateway's cost from the
	// container network's.
	fn, err := e.st.GetFunction(context.Background(), "default", name, scf.Latest)
	if err != nil {
		b.Fatal(err)
	}
	lease, err := e.pool.Acquire(context.Background(), fn)
	if err != nil {
		b.Fatal(err)
	}
	instanceURL := "http://" + lease.Instance().Addr() + "/"
	lease.Release(pool.Healthy)

	b.ResetTimer()
	const d = 5 * time.Second
	runWrk(b, instanceURL, time.Second)
	in := runWrk(b, instanceURL, d)
	runWrk(b, viaGateway, time.Second) // warm connections and caches
	runWrk(b, directURL, time.Second)
	gw := runWrk(b, viaGateway, d)
	dr := runWrk(b, directURL, d)
	b.StopTimer()
	ratio := gw.rps / dr.rps
	fmt.Printf("gateway overhead (wrk -t2 -c32, %s each):\n", d)
	fmt.Printf("  %-10s %10s %10s %10s\n", "", "req/s", "p50", "p99")
	fmt.Printf("  %-10s %10.0f %10s %10s\n", "direct", dr.rps, dr.p50, dr.p99)
	fmt.Printf("  %-10s %10.0f %10s %10s\n", "gateway", gw.rps, gw.p50, gw.p99)
	fmt.Printf("  %-10s %10.0f %10s %10s   (the container reached without the gateway)\n", "instance", in.rps, in.p50, in.p99)
	fmt.Printf("  throughput ratio gateway/direct: %.2f (goal >= 0.8); added p50 %s, p99 %s\n",
		ratio, gw.p50-dr.p50, gw.p99-dr.p99)
	b.ReportMetric(ratio, "ratio")
	b.ReportMetric(gw.rps, "gateway-req/s")
	b.ReportMetric(dr.rps, "direct-req/s")
	b.ReportMetric(float64((gw.p50 - dr.p50).Microseconds()), "added-p50-µs")
	b.ReportMetric(float64((gw.p99 - dr.p99).Microseconds()), "added-p99-µs")
}
