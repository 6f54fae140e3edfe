package pool

// Benchmarks of cold starts, bursts and idle density through the real
// localrt driver. They need root and runc. Run them with a fixed count:
//
//	go test -run '^$' -bench . -benchtime 20x ./internal/pool/

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// BenchmarkColdStart measures a cold start of an event function (image
// cached) to its first answer, against "runc run" of a bundle of the
// same layer to its first answer, alternating the two, and prints the
// ratio of the medians.
func BenchmarkColdStart(b *testing.B) {
	if testLayer == "" {
		b.Skip("needs root: runs runc containers")
	}
	if c, err := net.Dial("tcp", "127.0.0.1:9000"); err == nil {
		c.Close()
		b.Skip("port 9000 is taken on the host; the runc baseline needs it")
	}
	bundle := baselineBundle(b)
	n := max(b.N, 10)
	var ours, base []time.Duration
	var phases []ColdStart
	ctx := context.Background()
	for i := range n {
		// scfd: a new pool each time, so that every call is a cold start.
		e := newRealEnv(b, nil)
		fn := realFunction(fmt.Sprintf("cold%d", i))
		t0 := time.Now()
		l, err := call(ctx, e.p, fn, `{}`)
		if err != nil {
			b.Fatal(err)
		}
		ours = append(ours, time.Since(t0))
		phases = append(phases, *l.Cold())
		e.p.Close(ctx)

		d, err := runcRun(bundle, fmt.Sprintf("poolbench%d", i))
		if err != nil {
			b.Fatal(err)
		}
		base = append(base, d)
	}
	om, op := quantiles(ours)
	bm, bp := quantiles(base)
	b.ReportMetric(float64(om.Microseconds())/1000, "ms-p50")
	b.ReportMetric(float64(op.Microseconds())/1000, "ms-p95")
	b.ReportMetric(float64(bm.Microseconds())/1000, "runc-ms-p50")
	b.ReportMetric(float64(bm)/float64(om), "speedup")
	var sum ColdStart
	for _, c := range phases {
		sum.ImageCheck += c.ImageCheck
		sum.Phases.RootFS += c.Phases.RootFS
		sum.Phases.Network += c.Phases.Network
		sum.Phases.RuntimeCreate += c.Phases.RuntimeCreate
		sum.Phases.RuntimeStart += c.Phases.RuntimeStart
		sum.Phases.Ready += c.Phases.Ready
		sum.Total += c.Total
	}
	avg := func(d time.Duration) time.Duration { return d / time.Duration(len(phases)) }
	fmt.Printf("cold start to first answer, %d runs each:\n", n)
	fmt.Printf("  %-28s p50 %8s  p95 %8s\n", "scfd (pool+localrt)", om.Round(time.Microsecond), op.Round(time.Microsecond))
	fmt.Printf("  %-28s p50 %8s  p95 %8s\n", "runc run (same layer)", bm.Round(time.Microsecond), bp.Round(time.Microsecond))
	fmt.Printf("  ratio runc/scfd at p50: %.2fx\n", float64(bm)/float64(om))
	fmt.Printf("  scfd mean phases: image %s, rootfs %s, network %s, runtime create %s, runtime start %s, ready %s, start total %s\n",
		avg(sum.ImageCheck), avg(sum.Phases.RootFS), avg(sum.Phases.Network), avg(sum.Phases.RuntimeCreate),
		avg(sum.Phases.RuntimeStart), avg(sum.Phases.Ready), avg(sum.Total))
}

// BenchmarkBurst invokes 50 different functions cold at once and reports
// the time to first answer (p50, p95) and until all 50 answered.
func BenchmarkBurst(b *testing.B) {
	if testLayer == "" {
		b.Skip("needs root: runs runc containers")
	}
	const fns = 50
	ctx := context.Background()
	var p50s, p95s, alls []time.Duration
	for i := range max(b.N, 1) {
		e := newRealEnv(b, nil)
		lat := make([]time.Duration, fns)
		var wg sync.WaitGroup
		t0 := time.Now()
		for j := range fns {
			fn := realFunction(fmt.Sprintf("burst%d-%d", i, j))
			wg.Go(func() {
				if _, err := call(ctx, e.p, fn, `{}`); err != nil {
					b.Error(err)
				}
				lat[j] = time.Since(t0)
			})
		}
		wg.Wait()
		all := time.Since(t0)
		p50, p95 := quantiles(lat)
		p50s, p95s, alls = append(p50s, p50), append(p95s, p95), append(alls, all)
		e.p.Close(ctx)
	}
	p50, _ := quantiles(p50s)
	p95, _ := quantiles(p95s)
	all, _ := quantiles(alls)
	b.ReportMetric(float64(p50.Milliseconds()), "ms-p50")
	b.ReportMetric(float64(p95.Milliseconds()), "ms-p95")
	b.ReportMetric(float64(all.Milliseconds()), "ms-all-warm")
	fmt.Printf("burst of %d cold functions (MaxStarts %d, %d CPUs): first answer p50 %s, p95 %s; all warm after %s\n",
		fns, DefaultMaxStarts(), runtime.NumCPU(), p50.Round(time.Millisecond), p95.Round(time.Millisecond), all.Round(time.Millisecond))
}

// BenchmarkIdleDensity measures scfd's own memory per idle instance (Go
// heap and goroutine stacks of the pool and the driver), at 100 idle
// 64 MB instances.
func BenchmarkIdleDensity(b *testing.B) {
	if testLayer == "" {
		b.Skip("needs root: runs runc containers")
	}
	const count = 100
	ctx := context.Background()
	e := newRealEnv(b, nil)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	g0 := runtime.NumGoroutine()
	var wg sync.WaitGroup
	for j := range count {
		fn := realFunction(fmt.Sprintf("dense%d", j))
		fn.MemorySize = 64
		wg.Go(func() {
			if _, err := call(ctx, e.p, fn, `{}`); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	if n := len(e.p.Instances()); n != count {
		b.Fatalf("%d idle instances, want %d", n, count)
	}
	httpClient.CloseIdleConnections()
	runtime.GC()
	runtime.ReadMemStats(&after)
	g1 := runtime.NumGoroutine()
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	stacks := int64(after.StackInuse) - int64(before.StackInuse)
	per := float64(heap+stacks) / count
	b.ReportMetric(per, "B/instance")
	b.ReportMetric(float64(g1-g0)/count, "goroutines/instance")
	fmt.Printf("idle density, %d instances of 64 MB: scfd heap %d KB + stacks %d KB = %.1f KB per instance, %.1f goroutines per instance (containerd-shim: ~5 MB per container)\n",
		count, heap>>10, stacks>>10, per/1024, float64(g1-g0)/count)
	for range b.N {
	}
}

func quantiles(ds []time.Duration) (p50, p95 time.Duration) {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2], s[min(len(s)-1, (len(s)*95+99)/100-1)]
}

// baselineBundle writes an OCI bundle running the test function from its
// layer, read-only, in the host's network namespace.
func baselineBundle(b *testing.B) string {
	dir := b.TempDir()
	cmd := exec.Command("runc", "spec", "--bundle", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("runc spec: %v: %s", err, out)
	}
	path := filepath.Join(dir, "config.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(raw, &s); err != nil {
		b.Fatal(err)
	}
	s.Process.Terminal = false
	s.Process.Args = []string{"/server"}
	s.Root = &specs.Root{Path: testLayer, Readonly: true}
	s.Mounts = append(s.Mounts, specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "size=64m"}})
	var nss []specs.LinuxNamespace
	for _, ns := range s.Linux.Namespaces {
		if ns.Type != specs.NetworkNamespace {
			nss = append(nss, ns)
		}
	}
	s.Linux.Namespaces = nss
	raw, err = json.Marshal(&s)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		b.Fatal(err)
	}
	return dir
}

// runcRun runs the bundle detached and returns the time until the server
// answered an event; the container is deleted afterwards.
func runcRun(bundle, id string) (time.Duration, error) {
	root := filepath.Join(bundle, "runc-root")
	t0 := time.Now()
	// The container keeps the run's stdio: give it none, so that waiting
	// for runc does not wait for the container.
	cmd := exec.Command("runc", "--root", root, "run", "-d", "--bundle", bundle, id)
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("runc run: %v", err)
	}
	defer exec.Command("runc", "--root", root, "delete", "-f", id).Run()
	deadline := t0.Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", "127.0.0.1:9000")
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("runc baseline never listened: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
	resp, err := httpClient.Post("http://127.0.0.1:9000/event-invoke", "application/json", nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return time.Since(t0), nil
}
