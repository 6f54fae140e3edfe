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

	"github.com/scfd/scfd/internal/scf"
)

// BenchmarkColdStart measures cold invocations to their first answer,
// interleaved, and prints their medians side by side:
//
//   - scaled to zero: a version deployed (Prepare, as the deployer does
//     before Active), called once, then idle for 6 minutes on the
//     injected clock, so that the pool stopped its instance: the call
//     starts the container prepared after the first start;
//   - first call after deploy: a new version prepared as it became
//     Active, called for the first time;
//   - first start, not prepared: a new version never prepared (the
//     runtime's create on the call's path);
//   - runc run: `runc run -d` of a bundle of the same layer on the host
//     network, to its first answer.
func BenchmarkColdStart(b *testing.B) {
	if testLayer == "" {
		b.Skip("needs root: runs runc containers")
	}
	if c, err := net.Dial("tcp", "127.0.0.1:9000"); err == nil {
		c.Close()
		b.Skip("port 9000 is taken on the host; the runc baseline needs it")
	}
	bundle := baselineBundle(b)
	n := max(b.N, 11)
	var zero, deployed, created, base, host []time.Duration
	var zeroPhases, createdPhases []ColdStart
	ctx := context.Background()
	e := newRealEnv(b, func(o *Options) { o.IdleTimeout = 5 * time.Minute })
	img, _ := testImages.Get(ctx, "")
	settle := func(fn *scf.Function) {
		// What the minutes between calls give: the container prepared
		// after the last start is ready.
		deadline := time.Now().Add(30 * time.Second)
		for !testDriver.Prepared(specOf(fn, img, "", nil)) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var acquired []time.Duration // of the prepared starts: Acquire's share
	cold := func(fn *scf.Function) (time.Duration, ColdStart) {
		t0 := time.Now()
		l, err := e.p.Acquire(ctx, fn)
		if err != nil {
			b.Fatal(err)
		}
		acq := time.Since(t0)
		_, err = invoke(l, `{}`)
		took := time.Since(t0)
		if err != nil {
			l.Release(Broken)
			b.Fatal(err)
		}
		l.Release(Healthy)
		if l.Cold() == nil {
			b.Fatalf("the call of %s was not a cold start", fn.Name)
		}
		if l.Cold().Path() == "prepared" {
			acquired = append(acquired, acq)
		}
		return took, *l.Cold()
	}
	for i := range n {
		// Scaled to zero more than 5 minutes ago.
		fn := realFunction(fmt.Sprintf("zero%d", i))
		if err := e.p.Prepare(ctx, fn); err != nil {
			b.Fatal(err)
		}
		cold(fn)
		e.clock.Advance(6 * time.Minute)
		for len(e.p.Instances()) > 0 {
			time.Sleep(time.Millisecond)
		}
		settle(fn)
		d, cs := cold(fn)
		if cs.Path() != "prepared" {
			b.Errorf("%s after scaling to zero took the %s path", fn.Name, cs.Path())
		}
		zero, zeroPhases = append(zero, d), append(zeroPhases, cs)

		// The first call after deploy.
		fn = realFunction(fmt.Sprintf("deployed%d", i))
		if err := e.p.Prepare(ctx, fn); err != nil {
			b.Fatal(err)
		}
		settle(fn)
		d, cs = cold(fn)
		if cs.Path() != "prepared" {
			b.Errorf("the first call of %s after deploy took the %s path", fn.Name, cs.Path())
		}
		deployed = append(deployed, d)

		// A first start without preparation.
		fn = realFunction(fmt.Sprintf("created%d", i))
		d, cs = cold(fn)
		created, createdPhases = append(created, d), append(createdPhases, cs)
		settle(fn)

		d, err := runcRun(bundle, fmt.Sprintf("poolbench%d", i))
		if err != nil {
			b.Fatal(err)
		}
		base = append(base, d)
		if d, err = hostRun(); err != nil {
			b.Fatal(err)
		}
		host = append(host, d)
		e.clock.Advance(6 * time.Minute) // scale everything to zero
	}
	zm, zp := quantiles(zero)
	dm, dp := quantiles(deployed)
	cm, cp := quantiles(created)
	bm, bp := quantiles(base)
	hm, hp := quantiles(host)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(zm), "zero-ms-p50")
	b.ReportMetric(ms(dm), "deployed-ms-p50")
	b.ReportMetric(ms(cm), "created-ms-p50")
	b.ReportMetric(ms(bm), "runc-ms-p50")
	b.ReportMetric(ms(hm), "host-ms-p50")
	fmt.Printf("cold invocation to first answer, %d runs each (%d CPUs):\n", n, runtime.NumCPU())
	row := func(name string, p50, p95 time.Duration) {
		fmt.Printf("  %-44s p50 %7.1f ms  p95 %7.1f ms   p50 vs not prepared %.2f, vs runc run %.2f\n",
			name, ms(p50), ms(p95), float64(p50)/float64(cm), float64(p50)/float64(bm))
	}
	row("scaled to zero >5 min ago (prepared)", zm, zp)
	row("first call after deploy (prepared)", dm, dp)
	row("first start, not prepared (create)", cm, cp)
	row("runc run -d, host network (same layer)", bm, bp)
	row("its server run on the host, no container", hm, hp)
	fmt.Printf("  scaled to zero against the server run on the host: %.2f (+%.1f ms)\n", float64(zm)/float64(hm), ms(zm-hm))
	am, _ := quantiles(acquired)
	fmt.Printf("  of a prepared cold invocation: Acquire (start and hand-over) p50 %.1f ms, the first request the rest\n", ms(am))
	for _, c := range []struct {
		name string
		cs   []ColdStart
	}{{"prepared", zeroPhases}, {"create", createdPhases}} {
		var sum ColdStart
		for _, x := range c.cs {
			sum.ImageCheck += x.ImageCheck
			sum.Phases.RootFS += x.Phases.RootFS
			sum.Phases.Network += x.Phases.Network
			sum.Phases.RuntimeCreate += x.Phases.RuntimeCreate
			sum.Phases.RuntimeStart += x.Phases.RuntimeStart
			sum.Phases.Ready += x.Phases.Ready
			sum.Total += x.Total
		}
		avg := func(d time.Duration) string {
			return (d / time.Duration(len(c.cs))).Round(10 * time.Microsecond).String()
		}
		fmt.Printf("  mean phases, path %-8s image %s, rootfs %s, network %s, runtime create %s, runtime start %s, ready %s, start total %s\n",
			c.name+":", avg(sum.ImageCheck), avg(sum.Phases.RootFS), avg(sum.Phases.Network), avg(sum.Phases.RuntimeCreate),
			avg(sum.Phases.RuntimeStart), avg(sum.Phases.Ready), avg(sum.Total))
	}
}

// BenchmarkBurst invokes 50 different functions cold at once and reports
// the time to first answer (p50, p95) and until all 50 answered, then
// calls each again to check that all are warm: once with every function
// deployed just before (its container prepared, as the deployer does),
// once with none prepared.
func BenchmarkBurst(b *testing.B) {
	if testLayer == "" {
		b.Skip("needs root: runs runc containers")
	}
	const fns = 50
	ctx := context.Background()
	type result struct{ p50, p95, all time.Duration }
	burst := func(i int, prepared bool) result {
		e := newRealEnv(b, nil)
		name := fmt.Sprintf("burst%d-%t-", i, prepared)
		if prepared {
			var wg sync.WaitGroup
			for j := range fns {
				wg.Go(func() {
					if err := e.p.Prepare(ctx, realFunction(fmt.Sprint(name, j))); err != nil {
						b.Error(err)
					}
				})
			}
			wg.Wait()
			time.Sleep(200 * time.Millisecond) // the deploys are over
		}
		lat := make([]time.Duration, fns)
		paths := make([]string, fns)
		var wg sync.WaitGroup
		t0 := time.Now()
		for j := range fns {
			fn := realFunction(fmt.Sprint(name, j))
			wg.Go(func() {
				l, err := call(ctx, e.p, fn, `{}`)
				if err != nil {
					b.Error(err)
					return
				}
				lat[j] = time.Since(t0)
				if c := l.Cold(); c != nil {
					paths[j] = c.Path()
				}
			})
		}
		wg.Wait()
		all := time.Since(t0)
		warm := 0
		for j := range fns {
			if l, err := call(ctx, e.p, realFunction(fmt.Sprint(name, j)), `{}`); err == nil && l.Cold() == nil {
				warm++
			}
		}
		if warm != fns {
			b.Errorf("%d of %d functions warm after the burst", warm, fns)
		}
		if prepared {
			for j, p := range paths {
				if p != "prepared" {
					b.Errorf("function %d of the prepared burst took the %q path", j, p)
				}
			}
		}
		p50, p95 := quantiles(lat)
		e.p.Close(ctx)
		return result{p50, p95, all}
	}
	var with, without []result
	for i := range max(b.N, 1) {
		with = append(with, burst(i, true))
		without = append(without, burst(i, false))
	}
	med := func(rs []result) result {
		var a, c, d []time.Duration
		for _, r := range rs {
			a, c, d = append(a, r.p50), append(c, r.p95), append(d, r.all)
		}
		p50, _ := quantiles(a)
		p95, _ := quantiles(c)
		all, _ := quantiles(d)
		return result{p50, p95, all}
	}
	w, wo := med(with), med(without)
	b.ReportMetric(float64(w.p50.Milliseconds()), "ms-p50")
	b.ReportMetric(float64(w.p95.Milliseconds()), "ms-p95")
	b.ReportMetric(float64(w.all.Milliseconds()), "ms-all-warm")
	b.ReportMetric(float64(wo.p95.Milliseconds()), "unprepared-ms-p95")
	fmt.Printf("burst of %d cold functions at once (MaxStarts %d, %d CPUs), first answer:\n", fns, DefaultMaxStarts(), runtime.NumCPU())
	fmt.Printf("  deployed just before (prepared)  p50 %6s  p95 %6s  all answered %6s, all warm after\n",
		w.p50.Round(time.Millisecond), w.p95.Round(time.Millisecond), w.all.Round(time.Millisecond))
	fmt.Printf("  not prepared (create)            p50 %6s  p95 %6s  all answered %6s, all warm after\n",
		wo.p50.Round(time.Millisecond), wo.p95.Round(time.Millisecond), wo.all.Round(time.Millisecond))
	fmt.Printf("  prepared/not prepared at p95: %.2f\n", float64(w.p95)/float64(wo.p95))
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

// hostRun starts the layer's server as a plain process on the host, and
// returns the time until it answered an event: the floor of any start,
// what the function's own process takes to begin serving here.
func hostRun() (time.Duration, error) {
	t0 := time.Now()
	cmd := exec.Command(filepath.Join(testLayer, "server"))
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("the server on the host: %v", err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	return firstAnswer(t0)
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
	return firstAnswer(t0)
}

// firstAnswer waits for a server on 127.0.0.1:9000 and returns the time
// from t0 until it answered an event.
func firstAnswer(t0 time.Time) (time.Duration, error) {
	deadline := t0.Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", "127.0.0.1:9000")
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("the baseline never listened: %v", err)
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
