package localrt

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/scfd/scfd/internal/netns"
	"github.com/scfd/scfd/internal/sandbox"
)

const benchSamples = 11

// waitAccept polls addr every millisecond until it accepts.
func waitAccept(addr string, budget time.Duration) error {
	deadline := time.Now().Add(budget)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(time.Millisecond)
	}
	return fmt.Errorf("%s did not accept within %v", addr, budget)
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// runcBaseline prepares the same bundle scfd would write, but on the host
// network and with the image layer itself as a read-only root: the floor
// of this design. It returns a function timing one `runc run -d` to the
// first accepted connection.
func runcBaseline(b *testing.B, d *Driver) func() time.Duration {
	dir := b.TempDir()
	// runtimeLog reads dir/runtime.log.
	os.WriteFile(filepath.Join(dir, "runtime.log"), nil, 0o600)
	root, bundle := filepath.Join(dir, "state"), filepath.Join(dir, "bundle")
	os.MkdirAll(bundle, 0o700)
	files, err := writeEtc(filepath.Join(bundle, "etc"), -1, "bench", net.IPv4(127, 0, 0, 1))
	if err != nil {
		b.Fatal(err)
	}
	s := spec("bench")
	s.Args = "-listen 127.0.0.1:19000"
	oci, err := ociSpec(s, testAcct, testImage.Layers[0], &netns.Attachment{}, "/"+testCgroupParent+"-bench/runc", files)
	if err != nil {
		b.Fatal(err)
	}
	oci.Root.Readonly = true
	oci.Linux.Namespaces = slices.DeleteFunc(oci.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == "network" })
	cfg, _ := json.Marshal(oci)
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), cfg, 0o600); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		exec.Command(d.opts.Runtime, "--root", root, "delete", "-f", "bench").Run()
		removeCgroupParent(testCgroupParent + "-bench")
	})
	return func() time.Duration {
		t0 := time.Now()
		// The container inherits runc's stdio: /dev/null, so that runc's
		// exit is not tied to the container's output.
		cmd := exec.Command(d.opts.Runtime, "--root", root, "--log", filepath.Join(dir, "runtime.log"), "--log-format", "json", "run", "-d", "--bundle", bundle, "bench")
		if err := cmd.Run(); err != nil {
			b.Fatalf("runc run: %v%s", err, runtimeLog(dir))
		}
		if err := waitAccept("127.0.0.1:19000", 10*time.Second); err != nil {
			b.Fatal(err)
		}
		took := time.Since(t0)
		if out, err := exec.Command(d.opts.Runtime, "--root", root, "delete", "-f", "bench").CombinedOutput(); err != nil {
			b.Fatalf("runc delete: %v: %s", err, out)
		}
		return took
	}
}

// podmanBaseline imports the test image into podman and returns a function
// timing one `podman run -d --network host` to the first accepted
// connection, or nil when podman is not installed. Podman runs with runc
// (its default crun refuses this host's hybrid cgroups) and with rlimits
// the host allows (its default RLIMIT_NOFILE exceeds the hard limit).
func podmanBaseline(b *testing.B) func() time.Duration {
	if _, err := exec.LookPath("podman"); err != nil {
		return nil
	}
	tarball := filepath.Join(b.TempDir(), "layer.tar")
	if out, err := exec.Command("tar", "-C", testImage.Layers[0], "-cf", tarball, ".").CombinedOutput(); err != nil {
		b.Fatalf("tar: %v: %s", err, out)
	}
	const image = "localhost/scfd-bench:latest"
	if out, err := exec.Command("podman", "import", tarball, image).CombinedOutput(); err != nil {
		b.Fatalf("podman import: %v: %s", err, out)
	}
	b.Cleanup(func() { exec.Command("podman", "rmi", "-f", image).Run() })
	return func() time.Duration {
		t0 := time.Now()
		cmd := exec.Command("podman", "run", "-d", "--name", "scfd-bench", "--runtime", "runc",
			"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--network", "host",
			image, "/server", "-listen", "127.0.0.1:19001")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("podman run: %v: %s", err, out)
		}
		if err := waitAccept("127.0.0.1:19001", 20*time.Second); err != nil {
			b.Fatal(err)
		}
		took := time.Since(t0)
		if out, err := exec.Command("podman", "rm", "-f", "-t", "0", "scfd-bench").CombinedOutput(); err != nil {
			b.Fatalf("podman rm: %v: %s", err, out)
		}
		return took
	}
}

// BenchmarkColdStart measures instance start to the first accepted
// connection: scfd's Start (writable layer and network namespace taken
// from the pools, runtime create and start, 1 ms readiness polls) against
// `runc run -d` of the same bundle on the host network and against
// `podman run -d --network host` of the same image, interleaved, median of
// 11 each. Run with -benchtime=1x.
func BenchmarkColdStart(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root: runs runc containers")
	}
	d, err := New(context.Background(), testOptions(filepath.Join(b.TempDir(), "data")))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		d.Close(context.Background())
		d.Network().RemoveFirewall()
	})
	// A second driver, on a network of its own, keeps a container
	// prepared for the spec it started last (as scfd serve does).
	sopts := testOptions(filepath.Join(b.TempDir(), "spares"))
	sopts.Network = netns.Options{Name: "scfdtrtsp", Subnet: "10.209.246.0/24"}
	sopts.CgroupParent, sopts.Spares = "scfdtestsp", 1
	sd, err := New(context.Background(), sopts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		sd.Close(context.Background())
		sd.Network().RemoveFirewall()
	})
	// A third, in the host's user namespace: what a user namespace of
	// each instance's own adds.
	hopts := testOptions(filepath.Join(b.TempDir(), "hostns"))
	hopts.Network = netns.Options{Name: "scfdtrthn", Subnet: "10.209.236.0/24"}
	hopts.CgroupParent, hopts.HostUserNamespace = "scfdtesthn", true
	hd, err := New(context.Background(), hopts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		hd.Close(context.Background())
		hd.Network().RemoveFirewall()
	})
	runRunc := runcBaseline(b, d)
	runPodman := podmanBaseline(b)
	for n := 0; n < b.N; n++ {
		var scfd, spared, hostns, rc, pm []time.Duration
		for i := 0; i <= benchSamples; i++ {
			// The next container is prepared meanwhile (after Settle).
			s := spec(fmt.Sprintf("spare-%d-%d", n, i))
			for deadline := time.Now().Add(10 * time.Second); i > 0 && !sd.Prepared(s) && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(150 * time.Millisecond) // and the pools refilled
			t0 := time.Now()
			in, err := sd.Start(context.Background(), s)
			if err != nil {
				b.Fatal(err)
			}
			if i > 0 { // the first start had nothing prepared
				spared = append(spared, time.Since(t0))
			}
			if err := in.Stop(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		var phases []sandbox.Phases
		for i := 0; i < benchSamples; i++ {
			// Let the pools refill, as they would between cold starts.
			time.Sleep(150 * time.Millisecond)
			t0 := time.Now()
			in, err := d.Start(context.Background(), spec(fmt.Sprintf("bench-%d-%d", n, i)))
			if err != nil {
				b.Fatal(err)
			}
			scfd = append(scfd, time.Since(t0))
			phases = append(phases, in.Phases())
			if err := in.Stop(context.Background()); err != nil {
				b.Fatal(err)
			}
			t0 = time.Now()
			hin, err := hd.Start(context.Background(), spec(fmt.Sprintf("hostns-%d-%d", n, i)))
			if err != nil {
				b.Fatal(err)
			}
			hostns = append(hostns, time.Since(t0))
			if err := hin.Stop(context.Background()); err != nil {
				b.Fatal(err)
			}
			rc = append(rc, runRunc())
			if runPodman != nil {
				pm = append(pm, runPodman())
			}
		}
		ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
		s, r := median(scfd), median(rc)
		b.ReportMetric(ms(s), "scfd-ms")
		b.ReportMetric(ms(r), "runc-ms")
		var sb strings.Builder
		fmt.Fprintf(&sb, "\ncold start to first accepted connection, median of %d\n", benchSamples)
		fmt.Fprintf(&sb, "  scfd Start                     %7.1f ms\n", ms(s))
		h := median(hostns)
		b.ReportMetric(ms(s-h), "userns-ms")
		fmt.Fprintf(&sb, "  scfd Start, host user namespace %6.1f ms   (the user namespace of its own adds %.1f ms)\n", ms(h), ms(s-h))
		sp := median(spared)
		b.ReportMetric(ms(sp), "scfd-prepared-ms")
		fmt.Fprintf(&sb, "  scfd Start, container prepared %7.1f ms   (the next start of a spec, Options.Spares)\n", ms(sp))
		fmt.Fprintf(&sb, "  runc run -d, host network      %7.1f ms   scfd/runc   = %.2f, prepared/runc   = %.2f\n", ms(r), float64(s)/float64(r), float64(sp)/float64(r))
		if runPodman != nil {
			p := median(pm)
			b.ReportMetric(ms(p), "podman-ms")
			fmt.Fprintf(&sb, "  podman run -d, host network    %7.1f ms   scfd/podman = %.2f, prepared/podman = %.2f\n", ms(p), float64(s)/float64(p), float64(sp)/float64(p))
		} else {
			fmt.Fprintf(&sb, "  podman run: not installed\n")
		}
		pick := func(f func(sandbox.Phases) time.Duration) float64 {
			var v []time.Duration
			for _, p := range phases {
				v = append(v, f(p))
			}
			return ms(median(v))
		}
		fmt.Fprintf(&sb, "  scfd phases (medians): rootfs %.1f, network %.1f, create %.1f, start %.1f, ready %.1f ms\n",
			pick(func(p sandbox.Phases) time.Duration { return p.RootFS }),
			pick(func(p sandbox.Phases) time.Duration { return p.Network }),
			pick(func(p sandbox.Phases) time.Duration { return p.RuntimeCreate }),
			pick(func(p sandbox.Phases) time.Duration { return p.RuntimeStart }),
			pick(func(p sandbox.Phases) time.Duration { return p.Ready }))
		b.Log(sb.String())
		fmt.Print(sb.String())
	}
}

// BenchmarkPreparedCost prepares 20 containers of distinct specs and
// prints what one costs: the memory counted against PreparedMaxMemory,
// its cgroup's usage, the proportional set size of its waiting `runc
// init`, the growth of the host's kernel memory (noisy on a shared
// machine), and its processes, threads, host mounts and network
// namespaces.
func BenchmarkPreparedCost(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root: runs runc containers")
	}
	const count = 20
	opts := testOptions(filepath.Join(b.TempDir(), "data"))
	opts.Network = netns.Options{Name: "scfdtrtpc", Subnet: "10.209.245.0/24"}
	opts.CgroupParent, opts.Spares = "scfdtestpc", 1
	d, err := New(context.Background(), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		d.Close(context.Background())
		d.Network().RemoveFirewall()
	})
	for n := 0; n < b.N; n++ {
		mounts0, ns0, kern0 := len(mountsAll()), len(d.Network().Namespaces()), kernelMemory()
		for i := range count {
			s := spec("")
			s.Version = fmt.Sprint(n*count + i)
			if err := d.Prepare(context.Background(), s); err != nil {
				b.Fatal(err)
			}
		}
		time.Sleep(500 * time.Millisecond)
		mounts1, ns1, kern1 := len(mountsAll()), len(d.Network().Namespaces()), kernelMemory()
		var cg, pss, procs, threads int64
		d.mu.Lock()
		for e := d.lru.Front(); e != nil; e = e.Next() {
			in := e.Value.(*spare).in
			if st, err := in.cg.stats(); err == nil {
				cg += int64(st.MemoryBytes)
			}
			pids, _ := readUintsLines(filepath.Join(in.cg.dir, "cgroup.procs"))
			for _, pid := range pids {
				procs++
				pss += procKB(pid, "smaps_rollup", "Pss:") << 10
				threads += procKB(pid, "status", "Threads:")
			}
		}
		spares := int64(d.lru.Len())
		counted := d.spareBytes
		d.mu.Unlock()
		if spares != count {
			b.Fatalf("%d containers prepared, want %d", spares, count)
		}
		mb := func(v int64) float64 { return float64(v) / float64(spares) / (1 << 20) }
		b.ReportMetric(mb(counted), "MB-counted/prepared")
		b.ReportMetric(mb(kern1-kern0), "MB-kernel/prepared")
		fmt.Printf("\none prepared container (mean of %d):\n", count)
		fmt.Printf("  counted against SCFD_PREPARED_MAX_MEMORY %6.2f MB (cgroup usage %.2f MB + %.2f MB kernel overhead)\n",
			mb(counted), mb(cg), float64(PreparedKernelOverhead)/(1<<20))
		fmt.Printf("  runc init's proportional set size        %6.2f MB\n", mb(pss))
		fmt.Printf("  host slab, kernel stacks, page tables    %6.2f MB (host-wide change: noisy on a shared machine)\n", mb(kern1-kern0))
		fmt.Printf("  processes %.1f (runc init, %.1f threads), host mounts %.1f, network namespaces %.1f, loop devices 1\n",
			float64(procs)/float64(spares), float64(threads)/float64(spares),
			float64(mounts1-mounts0)/float64(spares), float64(ns1-ns0)/float64(spares))
		d.Unprepare("", "f", "")
	}
}

func mountsAll() []*mountinfo.Info {
	ms, _ := mountinfo.GetMounts(nil)
	return ms
}

// kernelMemory is the host's slab, kernel stacks and page tables, in
// bytes.
func kernelMemory() int64 {
	return (procKB(0, "", "Slab:") + procKB(0, "", "KernelStack:") + procKB(0, "", "PageTables:")) << 10
}

// procKB reads the number after key in /proc/<pid>/<file>, or in
// /proc/meminfo when pid is 0.
func procKB(pid int64, file, key string) int64 {
	path := fmt.Sprintf("/proc/%d/%s", pid, file)
	if pid == 0 {
		path = "/proc/meminfo"
	}
	b, _ := os.ReadFile(path)
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, key); ok {
			var v int64
			fmt.Sscan(strings.TrimSpace(rest), &v)
			return v
		}
	}
	return 0
}

func readUintsLines(path string) ([]int64, error) {
	b, err := os.ReadFile(path)
	var out []int64
	for _, f := range strings.Fields(string(b)) {
		var v int64
		if _, err := fmt.Sscan(f, &v); err == nil {
			out = append(out, v)
		}
	}
	return out, err
}
