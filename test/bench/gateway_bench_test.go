package bench

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/scfd/scfd/internal/api"
)

// BenchmarkGatewayAgainstNginx loads a web function that prints one
// stderr line per request (InstanceConcurrencyConfig.MaxConcurrency 16)
// through scfd serve's gateway, every request logged and metered, and,
// side by side in the same run, the same server run directly on the
// host and Debian's nginx (one worker, upstream keepalive, no access log)
// proxying to the same instance. It prints throughputs with wrk -t2 -c16,
// then the latency each adds at half of nginx's rate, and the bytes the
// database grew by per request. One run whatever b.N.
// SCFD_BENCH_CPUPROFILE=file writes a CPU profile of the gateway run;
// SCFD_BENCH_PERF=file records the whole machine with perf during it.
func BenchmarkGatewayAgainstNginx(b *testing.B) {
	if _, err := exec.LookPath("wrk"); err != nil {
		b.Skip("wrk is not installed")
	}
	s := serve(b, nil)
	image := s.pushWebFunc(b, "bench/web:1")
	s.createWeb(b, "web", image, func(r *api.CreateFunctionRequest) {
		r.InstanceConcurrencyConfig = &api.InstanceConcurrencyConfig{MaxConcurrency: 16}
	})
	gw := s.gateway + "/default/web"
	instance := get(b, gw+"/addr") // the instance's own address
	ngx := startNginx(b, instance)
	direct := startDirect(b, buildWebFunc(b))
	for _, u := range []string{gw, ngx, direct} {
		get(b, u+"/line")
	}
	const conns, d = 16, 4 * time.Second
	b.ResetTimer()
	runWrk(b, direct+"/line", conns, time.Second) // warm-up
	runWrk(b, ngx+"/line", conns, time.Second)
	runWrk(b, gw+"/line", conns, time.Second)
	dr := runWrk(b, direct+"/line", conns, d)
	nx := runWrk(b, ngx+"/line", conns, d)
	before := s.dbBytes(b)
	var gwr wrkResult
	if path := os.Getenv("SCFD_BENCH_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		gwr = runWrk(b, gw+"/line", conns, d)
		pprof.StopCPUProfile()
		f.Close()
	} else if path := os.Getenv("SCFD_BENCH_PERF"); path != "" {
		rec := exec.Command("perf", "record", "-a", "-g", "-q", "-o", path, "--", "sleep", fmt.Sprint(d.Seconds()))
		if os.Getenv("SCFD_BENCH_TRACE") != "" {
			rec = exec.Command("timeout", "-s", "INT", fmt.Sprint(d.Seconds()), "perf", "trace", "-s", "-a", "-o", path)
		}
		if err := rec.Start(); err != nil {
			b.Fatal(err)
		}
		gwr = runWrk(b, gw+"/line", conns, d)
		if err := rec.Wait(); err != nil {
			b.Fatal(err)
		}
	} else {
		gwr = runWrk(b, gw+"/line", conns, d)
	}
	// Everything the gateway run wrote is on disk before the size counts.
	var logs api.GetFunctionLogsResponse
	ctx, cancel := ctxTimeout()
	defer cancel()
	if err := s.client.Call(ctx, "GetFunctionLogs", api.GetFunctionLogsRequest{FunctionName: "web", Limit: 1}, &logs); err != nil {
		b.Fatal(err)
	}
	grown := s.dbBytes(b) - before
	if gwr.non2xx > 0 || nx.non2xx > 0 {
		b.Fatalf("non-2xx answers: gateway %d, nginx %d", gwr.non2xx, nx.non2xx)
	}

	// Latency at half of nginx's rate, paced.
	rate := nx.rps / 2
	pd := pace(b, direct+"/line", rate, conns, 3*time.Second)
	pn := pace(b, ngx+"/line", rate, conns, 3*time.Second)
	pg := pace(b, gw+"/line", rate, conns, 3*time.Second)
	b.StopTimer()

	var out strings.Builder
	fmt.Fprintf(&out, "gateway against nginx (web function printing a line per request, MaxConcurrency 16; wrk -t2 -c%d, %s each):\n", conns, d)
	fmt.Fprintf(&out, "  %-8s %10s %10s %10s\n", "", "req/s", "p50", "p99")
	for _, r := range []struct {
		name string
		w    wrkResult
	}{{"direct", dr}, {"nginx", nx}, {"gateway", gwr}} {
		fmt.Fprintf(&out, "  %-8s %10.0f %10s %10s\n", r.name, r.w.rps, r.w.p50, r.w.p99)
	}
	fmt.Fprintf(&out, "  gateway/nginx %.2f (goal >= 0.8), gateway/direct %.2f, nginx/direct %.2f\n", gwr.rps/nx.rps, gwr.rps/dr.rps, nx.rps/dr.rps)
	fmt.Fprintf(&out, "  CPU per request (µs) and cores used during each run, of the machine's %d:\n", runtime.NumCPU())
	fmt.Fprintf(&out, "  %-8s %14s %14s %14s %14s %14s %10s\n", "", "scfd", "function", "nginx", "wrk", "machine", "others")
	for _, r := range []struct {
		name string
		w    wrkResult
	}{{"direct", dr}, {"nginx", nx}, {"gateway", gwr}} {
		c, n := r.w.cpu, float64(max(r.w.requests, 1))
		per := func(d time.Duration) string {
			return fmt.Sprintf("%5.0f (%4.2f)", float64(d.Microseconds())/n, c.cores(d))
		}
		others := c.machine - c.scfd - c.function - c.nginx - c.wrk
		fmt.Fprintf(&out, "  %-8s %14s %14s %14s %14s %14s %10.2f\n", r.name, per(c.scfd), per(c.function), per(c.nginx), per(c.wrk), per(c.machine), c.cores(others))
	}
	fmt.Fprintf(&out, "  latency at %.0f req/s (half of nginx's), paced over %d connections:\n", rate, conns)
	fmt.Fprintf(&out, "  %-8s %10s %10s %8s\n", "", "p50", "p99", "failed")
	for _, r := range []struct {
		name string
		p    paced
	}{{"direct", pd}, {"nginx", pn}, {"gateway", pg}} {
		fmt.Fprintf(&out, "  %-8s %10s %10s %8d\n", r.name, r.p.p50, r.p.p99, r.p.failed)
	}
	fmt.Fprintf(&out, "  gateway adds p50 %s (goal <= 250µs), p99 %s (goal <= 1ms) over direct; nginx adds p50 %s, p99 %s\n",
		pg.p50-pd.p50, pg.p99-pd.p99, pn.p50-pd.p50, pn.p99-pd.p99)
	fmt.Fprintf(&out, "  database grew %s for %d gateway requests: %.0f bytes per request (logs kept within SCFD_LOG_MAX_BYTES)\n",
		mb(grown), gwr.requests, float64(grown)/float64(max(gwr.requests, 1)))
	fmt.Print(out.String())
	b.ReportMetric(gwr.rps/nx.rps, "gateway/nginx")
	b.ReportMetric(float64((pg.p50 - pd.p50).Microseconds()), "added-p50-µs")
	b.ReportMetric(float64((pg.p99 - pd.p99).Microseconds()), "added-p99-µs")
}
