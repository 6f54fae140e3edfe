package bench

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scfd/scfd/internal/api"
)

// loadPhase is one stretch of the load test: workers clients sending
// back to back until the phase's share of requests is sent.
type loadPhase struct {
	name    string
	workers int
	share   float64 // of all requests
	over    bool    // more clients than the function's concurrency: 429s allowed
	// update: the configuration is updated in the middle of it. Instances
	// of the old configuration count against the reserved concurrency
	// until their requests end (README, "Scaling and cold starts"), so a
	// few 429s may come at the change; they are printed.
	update bool
	idle   bool // wait for the function to scale to zero afterwards
}

// BenchmarkGatewayLoad sends 500,000 requests (SCFD_BENCH_LOAD_REQUESTS)
// through scfd serve's gateway to a web function (MaxConcurrency 8,
// reserved concurrency for 4 instances, a 2 s idle timeout) in phases of
// different client counts: the function scales from zero to its limit and
// back to zero twice, its configuration is updated once under load, and
// one phase sends more concurrent requests than the function may take.
// It fails on any answer but 200, and 429 in that one phase; afterwards
// every request must have its log entry and every 200 its usage.
func BenchmarkGatewayLoad(b *testing.B) {
	total := 500_000
	if v, err := strconv.Atoi(os.Getenv("SCFD_BENCH_LOAD_REQUESTS")); err == nil && v > 0 {
		total = v
	}
	const idleTimeout = 2 * time.Second
	s := serve(b, map[string]string{"SCFD_INSTANCE_IDLE_TIMEOUT": idleTimeout.String()})
	image := s.pushWebFunc(b, "bench/load:1")
	s.createWeb(b, "load", image, func(r *api.CreateFunctionRequest) {
		r.MemorySize = 128
		r.InstanceConcurrencyConfig = &api.InstanceConcurrencyConfig{MaxConcurrency: 8}
	})
	ctx, cancel := ctxTimeout()
	defer cancel()
	reserved := int64(4 * 128)
	if err := s.client.Call(ctx, "PutReservedConcurrencyConfig", api.PutReservedConcurrencyConfigRequest{FunctionName: "load", ReservedConcurrencyMem: &reserved}, nil); err != nil {
		b.Fatal(err)
	}
	phases := []loadPhase{
		{name: "8 clients from zero", workers: 8, share: 0.2},
		{name: "32 clients, to the limit", workers: 32, share: 0.2, idle: true},
		{name: "16 clients, config updated", workers: 16, share: 0.25, update: true},
		{name: "64 clients, over the limit", workers: 64, share: 0.15, over: true, idle: true},
		{name: "16 clients from zero", workers: 16, share: 0.2},
	}
	url := s.gateway + "/default/load/line"
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128, DisableCompression: true}, Timeout: time.Minute}
	statuses := map[int]int64{}
	var sent int64
	var peak int
	b.ResetTimer()
	start := time.Now()
	var out []string
	for i, ph := range phases {
		n := int64(float64(total) * ph.share)
		if i == len(phases)-1 {
			n = int64(total) - sent
		}
		var left atomic.Int64
		left.Store(n)
		var mu sync.Mutex
		got := map[int]int64{}
		var wg sync.WaitGroup
		stopSampling := make(chan struct{})
		peakc := make(chan int, 1)
		go func() { peakc <- s.samplePeak(b, "load", stopSampling) }()
		if ph.update {
			go func() {
				time.Sleep(time.Second)
				ctx, cancel := ctxTimeout()
				defer cancel()
				env := &api.Environment{Variables: []api.Variable{{Key: "UPDATED", Value: "yes"}}}
				if err := s.client.Call(ctx, "UpdateFunctionConfiguration", api.UpdateFunctionConfigurationRequest{FunctionName: "load", Environment: env}, nil); err != nil {
					b.Error(err)
				}
			}()
		}
		t0 := time.Now()
		for range ph.workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				mine := map[int]int64{}
				for left.Add(-1) >= 0 {
					resp, err := hc.Get(url)
					if err != nil {
						mine[-1]++
						continue
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					mine[resp.StatusCode]++
				}
				mu.Lock()
				for k, v := range mine {
					got[k] += v
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
		d := time.Since(t0)
		close(stopSampling)
		p := <-peakc
		peak = max(peak, p)
		sent += n
		for k, v := range got {
			statuses[k] += v
			if k != 200 && !(k == 429 && (ph.over || ph.update)) {
				b.Errorf("phase %q: %d answers with status %d", ph.name, v, k)
			}
		}
		line := fmt.Sprintf("  %-28s %8d req %6.1f s %8.0f req/s  peak %d instances  200: %d  429: %d", ph.name, n, d.Seconds(), float64(n)/d.Seconds(), p, got[200], got[429])
		if ph.idle {
			t := time.Now()
			s.waitInstances(b, "load", 0, idleTimeout+30*time.Second)
			line += fmt.Sprintf("  (scaled to zero %.1f s after)", time.Since(t).Seconds())
		}
		out = append(out, line)
	}
	elapsed := time.Since(start)
	b.StopTimer()

	// Every request has its log entry; every 200 is metered.
	ctx, cancel = ctxTimeout()
	defer cancel()
	var logs api.GetFunctionLogsResponse
	if err := s.client.Call(ctx, "GetFunctionLogs", api.GetFunctionLogsRequest{FunctionName: "load", Limit: 1}, &logs); err != nil {
		b.Fatal(err)
	}
	var usage api.GetUsageResponse
	if err := s.client.Call(ctx, "GetUsage", api.GetUsageRequest{FunctionName: "load"}, &usage); err != nil {
		b.Fatal(err)
	}
	if logs.TotalCount != sent {
		b.Errorf("%d log entries for %d requests", logs.TotalCount, sent)
	}
	if usage.Total.Invocations != statuses[200] {
		b.Errorf("usage counts %d invocations, %d requests were answered 200", usage.Total.Invocations, statuses[200])
	}
	fmt.Printf("gateway load: %d requests in %.1f s (%.0f req/s overall), idle timeout %s, MaxConcurrency 8, reserved for 4 instances:\n",
		sent, elapsed.Seconds(), float64(sent)/elapsed.Seconds(), idleTimeout)
	for _, l := range out {
		fmt.Println(l)
	}
	fmt.Printf("  answers %v; log entries %d; metered invocations %d; peak %d instances\n", statuses, logs.TotalCount, usage.Total.Invocations, peak)
	b.ReportMetric(float64(sent)/elapsed.Seconds(), "req/s")
}

// samplePeak reads the function's live instances every 100 ms until stop
// and returns the most it saw.
func (s *server) samplePeak(tb testing.TB, fn string, stop <-chan struct{}) int {
	peak := 0
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return peak
		case <-t.C:
		}
		peak = max(peak, s.instances(tb, fn))
	}
}

// instances counts the function's live instances.
func (s *server) instances(tb testing.TB, fn string) int {
	ctx, cancel := ctxTimeout()
	defer cancel()
	var got api.ListInstancesResponse
	if err := s.client.Call(ctx, "ListInstances", api.ListInstancesRequest{FunctionName: fn}, &got); err != nil {
		tb.Error(err)
		return 0
	}
	return len(got.Instances)
}

// waitInstances waits until fn has n live instances.
func (s *server) waitInstances(tb testing.TB, fn string, n int, within time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for s.instances(tb, fn) != n {
		if time.Now().After(deadline) {
			tb.Fatalf("%s still has %d instances after %s, want %d", fn, s.instances(tb, fn), within, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
