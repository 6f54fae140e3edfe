package localrt

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scfd/scfd/internal/netns"
	"github.com/scfd/scfd/internal/netns/netnstest"
	"github.com/scfd/scfd/internal/sandbox"
	"github.com/scfd/scfd/internal/scf"
	"github.com/scfd/scfd/internal/userns"
)

func spec(id string) sandbox.Spec {
	return sandbox.Spec{
		ID: id, Function: "f", Layers: testImage.Layers, Image: testImage.Config, MemoryMB: 128,
	}
}

func start(t *testing.T, d *Driver, s sandbox.Spec) sandbox.Instance {
	t.Helper()
	in, err := d.Start(context.Background(), s)
	if err != nil {
		t.Fatalf("Start %s: %v", s.ID, err)
	}
	t.Cleanup(func() { in.Stop(context.Background()) })
	return in
}

// dialFrom asks the server in in to connect to addr and returns its answer.
func dialFrom(t *testing.T, in sandbox.Instance, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + in.Addr() + "/dial?addr=" + addr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b))
}

// An instance reaches the outside world, but neither the host's listeners
// (on all addresses, and on the gateway address) nor another instance.
func TestNetworkIsolation(t *testing.T) {
	d := newDriver(t)
	world := netnstest.World(t, 2)
	a, b := start(t, d, spec("iso-a")), start(t, d, spec("iso-b"))

	all, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(netnstest.Serve(t, all, "host"))
	gwIP := make(net.IP, 4)
	copy(gwIP, d.Network().Subnet().IP.To4())
	gwIP[3]++ // host-local's gateway: the subnet's first address
	gw, err := net.Listen("tcp", net.JoinHostPort(gwIP.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	gwAddr := netnstest.Serve(t, gw, "gateway")

	if got := dialFrom(t, a, world); got != "ok outside" {
		t.Errorf("egress to %s: %q", world, got)
	}
	for _, addr := range []string{
		net.JoinHostPort(gwIP.String(), port),
		net.JoinHostPort("198.18.0.9", port), // the host's side of the world veth
		gwAddr,
		b.Addr(),
	} {
		if got := dialFrom(t, a, addr); !strings.HasPrefix(got, "error") {
			t.Errorf("instance reached %s: %q", addr, got)
		}
	}
	if _, err := http.Get("http://" + b.Addr() + "/env"); err != nil {
		t.Errorf("host → instance: %v", err)
	}

	// Only a's connection to the world was outbound traffic; answers to
	// the host and refused attempts were not.
	eg, err := d.Egress()
	if err != nil {
		t.Fatal(err)
	}
	if e := eg[a.ID()]; e.Bytes == 0 || e.Function != "f" {
		t.Errorf("egress of a: %+v", e)
	}
	if e := eg[b.ID()]; e.Bytes != 0 {
		t.Errorf("egress of b, which only answered the host: %+v", e)
	}
	sent := eg[a.ID()].Bytes
	if err := a.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	eg, _ = d.Egress()
	if e, ok := eg[a.ID()]; !ok || e.Bytes != sent {
		t.Errorf("final egress of a stopped instance: %+v (present %v), want %d bytes once", e, ok, sent)
	}
	if eg, _ = d.Egress(); eg[a.ID()].Bytes != 0 {
		t.Errorf("a stopped instance is reported twice: %+v", eg[a.ID()])
	}
}

// routesLeft counts host routes into the test subnet: ptp adds one per
// attached instance, on its veth.
func routesLeft(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("ip", "-4", "route", "show").Output()
	if err != nil {
		t.Fatal(err)
	}
	prefix := strings.TrimSuffix(testSubnet, "0/24")
	var left []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, prefix) {
			left = append(left, l)
		}
	}
	return left
}

func loopsFor(t *testing.T, dir string) []string {
	t.Helper()
	out, _ := exec.Command("losetup", "-a").Output()
	var left []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, dir) {
			left = append(left, l)
		}
	}
	return left
}

func TestNoLeaksAfterCycles(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs runc containers")
	}
	dir := t.TempDir()
	d, err := New(context.Background(), testOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Network().RemoveFirewall()
	for i := 0; i < 50; i++ {
		in, err := d.Start(context.Background(), spec(fmt.Sprintf("cycle-%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		if err := in.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if left := d.Leftovers(context.Background()); len(left) > 0 {
		t.Errorf("left: %q", left)
	}
	if r := routesLeft(t); len(r) > 0 {
		t.Errorf("routes (veths) left: %q", r)
	}
	if l := loopsFor(t, dir); len(l) > 0 {
		t.Errorf("loop devices left: %q", l)
	}
}

// crashEnv names the data directory of a helper process that starts
// instances and is then killed, to leave state behind as a crash would.
const crashEnv = "SCFD_LOCALRT_CRASH_DIR"

func init() {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		return
	}
	// The helper: TestMain has not run, so build nothing; the parent
	// passed the image layer.
	testImage.Layers = []string{os.Getenv(crashEnv + "_LAYER")}
	testImage.Config = sandbox.ImageConfig{Entrypoint: []string{"/server"}}
	opts := testOptions(dir)
	opts.Spares = 1
	d, err := New(context.Background(), opts)
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	for i := 0; i < 3; i++ {
		if _, err := d.Start(context.Background(), spec(fmt.Sprintf("crash-%d", i))); err != nil {
			fmt.Println("ERROR", err)
			os.Exit(1)
		}
	}
	// And containers prepared ahead: one for the spec started, one for
	// a version never started.
	s := spec("")
	s.Version = "1"
	if err := d.Prepare(context.Background(), s); err != nil {
		fmt.Println("ERROR", err)
		os.Exit(1)
	}
	for d.Spares() < 2 {
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Println("READY")
	select {}
}

// A driver killed with instances running and containers prepared leaves
// them behind; the next driver over the same data directory removes every
// trace.
func TestRestartCleansUp(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs runc containers")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashEnv+"="+dir, crashEnv+"_LAYER="+testImage.Layers[0])
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "READY" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper: %q", line)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	opts := testOptions(dir)
	opts.Pool = -1 // nothing prepared ahead, so nothing is expected
	d, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Network().RemoveFirewall()
	if left := d.Leftovers(context.Background()); len(left) > 0 {
		t.Errorf("left after restart: %q", left)
	}
	if r := routesLeft(t); len(r) > 0 {
		t.Errorf("routes (veths) left: %q", r)
	}
	if l := loopsFor(t, dir); len(l) > 0 {
		t.Errorf("loop devices left: %q", l)
	}
	// The new driver works in the cleaned directory.
	in, err := d.Start(context.Background(), spec("after-crash"))
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(in.Stop(context.Background()), d.Close(context.Background())); err != nil {
		t.Fatal(err)
	}
	if left := d.Leftovers(context.Background()); len(left) > 0 {
		t.Errorf("left after Close: %q", left)
	}
}

// Output that nobody reads fast enough is dropped and counted; the
// function never blocks on it.
func TestSlowLogReaderDoesNotBlock(t *testing.T) {
	d := newDriver(t)
	release := make(chan struct{})
	s := spec("slowlog")
	var dropped uint64
	s.Logs = func(l sandbox.LogLine) {
		<-release
		dropped += l.Dropped
	}
	in := start(t, d, s)
	defer close(release)
	done := make(chan error, 1)
	go func() {
		resp, err := http.Get("http://" + in.Addr() + "/print?n=20000&text=spam")
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("printing blocked behind a slow log reader")
	}
	if n := in.(interface{ Dropped() uint64 }).Dropped(); n == 0 {
		t.Error("no lines counted as dropped")
	}
}

// With Spares, a start prepares the next container of the same spec, and
// the next start only starts its process: no create on its path.
func TestSparesMakeTheNextStartOnlyAStart(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs runc containers")
	}
	d := newPreparingDriver(t, 0)
	s := spec("spare-first")
	s.Env = []scf.Variable{{Key: "WHO", Value: "spare"}}
	first := start(t, d, s)
	if p := first.Phases(); p.RuntimeCreate == 0 || p.Prepared {
		t.Errorf("the first start had no create: %+v", first.Phases())
	}
	waitSpares(t, d, 1)

	var lines []string
	var mu sync.Mutex
	s.ID = "spare-second"
	s.Logs = func(l sandbox.LogLine) { mu.Lock(); lines = append(lines, l.Text); mu.Unlock() }
	second := start(t, d, s)
	if p := second.Phases(); !p.Prepared || p.RuntimeCreate != 0 || p.RuntimeStart == 0 || p.Ready == 0 {
		t.Errorf("a start from a prepared container: phases %+v, want no create", p)
	}
	if second.ID() == "spare-second" || second.ID() == first.ID() {
		t.Errorf("the prepared container's id: %q", second.ID())
	}
	res, err := http.Get("http://" + second.Addr() + "/env")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), "WHO=spare") || !strings.Contains(string(body), "SCF_FUNCTIONNAME=f") {
		t.Errorf("the prepared instance's environment:\n%s", body)
	}
	waitSpares(t, d, 1) // and the one after it

	other := spec("spare-other")
	other.MemoryMB = 256 // another spec: no prepared container fits
	if third := start(t, d, other); third.Phases().RuntimeCreate == 0 {
		t.Errorf("a start of another spec used a prepared container")
	}
	waitSpares(t, d, 2)
}

// Prepare readies a version's first start; a Prepare of another
// configuration of the same version discards the older one, and
// Unprepare discards what a version has.
func TestPrepareReadiesTheFirstStart(t *testing.T) {
	d := newPreparingDriver(t, 0)
	ctx := context.Background()
	s := spec("")
	s.Version = "1"
	if err := d.Prepare(ctx, s); err != nil {
		t.Fatal(err)
	}
	if n := d.Spares(); n != 1 {
		t.Fatalf("%d containers prepared, want 1", n)
	}
	if got := d.PreparedMemory(); got < PreparedKernelOverhead+1<<20 || got > 64<<20 {
		t.Errorf("a prepared container counts %d bytes", got)
	}
	if err := d.Prepare(ctx, s); err != nil || d.Spares() != 1 {
		t.Fatalf("a second Prepare of the same spec: %v, %d prepared, want 1", err, d.Spares())
	}
	s.ID = "prepared-first"
	in := start(t, d, s)
	if p := in.Phases(); !p.Prepared || p.RuntimeCreate != 0 || p.RuntimeStart == 0 {
		t.Errorf("the first start after Prepare: phases %+v, want prepared", p)
	}
	waitSpares(t, d, 1) // the next one

	// StartPrepared of a spec with nothing prepared does nothing.
	other := spec("prepared-other")
	other.Version = "1"
	other.MemoryMB = 256
	if in, err := d.StartPrepared(ctx, other); in != nil || err != nil {
		t.Fatalf("StartPrepared with nothing prepared: %v, %v", in, err)
	}
	// A new configuration of version 1 replaces the prepared one.
	if err := d.Prepare(ctx, other); err != nil {
		t.Fatal(err)
	}
	if n := d.Spares(); n != 1 {
		t.Errorf("%d containers prepared after a new configuration, want 1", n)
	}
	in2, err := d.StartPrepared(ctx, other)
	if err != nil || in2 == nil {
		t.Fatalf("StartPrepared: %v, %v", in2, err)
	}
	defer in2.Stop(ctx)
	waitSpares(t, d, 1)
	d.Unprepare("", "f", "2")
	if n := d.Spares(); n != 1 {
		t.Errorf("Unprepare of another version: %d left, want 1", n)
	}
	d.Unprepare("", "f", "")
	if n := d.Spares(); n != 0 {
		t.Errorf("Unprepare of the function: %d left, want 0", n)
	}
}

// The prepared containers stay within their budget: the least recently
// prepared or started go first; a start makes its spec the most recent.
func TestPreparedBudgetEvictsLeastRecentlyUsed(t *testing.T) {
	// Room for three (each counts about 4.7 MB).
	d := newPreparingDriver(t, 3*PreparedKernelOverhead+3*(4<<20)+(2<<20))
	ctx := context.Background()
	versions := func() []string {
		d.mu.Lock()
		defer d.mu.Unlock()
		var out []string
		for e := d.lru.Front(); e != nil; e = e.Next() {
			out = append(out, e.Value.(*spare).ver.version)
		}
		return out
	}
	prep := func(v string) sandbox.Spec {
		t.Helper()
		s := spec("")
		s.Version = v
		if err := d.Prepare(ctx, s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	one := prep("1")
	prep("2")
	prep("3")
	if got := strings.Join(versions(), ","); got != "1,2,3" {
		t.Fatalf("prepared %s, want 1,2,3 (budget %d, used %d)", got, d.opts.PreparedMaxMemory, d.PreparedMemory())
	}
	one.ID = "budget-one"
	start(t, d, one) // 1 is used: its next container is the most recent
	waitSpares(t, d, 3)
	if got := strings.Join(versions(), ","); got != "2,3,1" {
		t.Errorf("after a start of 1: %s, want 2,3,1", got)
	}
	prep("4")
	if got := strings.Join(versions(), ","); got != "3,1,4" {
		t.Errorf("after preparing 4: %s, want 3,1,4", got)
	}
	if d.PreparedMemory() > d.opts.PreparedMaxMemory {
		t.Errorf("%d bytes prepared, above the budget of %d", d.PreparedMemory(), d.opts.PreparedMaxMemory)
	}
	containers := 0
	for _, l := range d.Leftovers(ctx) {
		if strings.HasPrefix(l, "container ") {
			containers++
		}
	}
	if containers != 4 { // three prepared, one running
		t.Errorf("%d runtime containers, want 4", containers)
	}
}

// newPreparingDriver is a driver keeping one container per spec, within
// budget bytes (0: the default).
func newPreparingDriver(t *testing.T, budget int64) *Driver {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs runc containers")
	}
	opts := testOptions(filepath.Join(t.TempDir(), "data"))
	opts.Spares, opts.PreparedMaxMemory = 1, budget
	d, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
		if left := d.Leftovers(context.Background()); len(left) > 0 {
			t.Errorf("left after Close: %q", left)
		}
		d.Network().RemoveFirewall()
	})
	return d
}

func waitSpares(t *testing.T, d *Driver, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for d.Spares() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d containers prepared, want %d", d.Spares(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Each instance runs in a user namespace of its own: its uid 1000 is a
// host ID no other instance has, its root is not the host's root, and the
// processes of one (counted per host user by RLIMIT_NPROC) do not keep
// another with the same image user from starting. In the host's user
// namespace, the processes of host uid 1000 (here 1100 of them, as a
// function running as uid 1000 could fork) do.
func TestUserNamespacePerInstance(t *testing.T) {
	d := newDriver(t)
	hog := make([]*exec.Cmd, 0, 1100)
	t.Cleanup(func() {
		for _, c := range hog {
			c.Process.Kill()
			c.Wait()
		}
	})
	for range cap(hog) {
		c := exec.Command("sleep", "600")
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 1000, Gid: 1000}}
		if err := c.Start(); err != nil {
			t.Fatalf("process %d of uid 1000: %v", len(hog), err)
		}
		hog = append(hog, c)
	}
	ids := func(in sandbox.Instance) (inside string, host int) {
		t.Helper()
		resp, err := http.Get("http://" + in.Addr() + "/ids")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		st, err := d.rt.State(context.Background(), in.ID())
		if err != nil {
			t.Fatal(err)
		}
		status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", st.Pid))
		for _, l := range strings.Split(string(status), "\n") {
			if f := strings.Fields(l); len(f) > 1 && f[0] == "Uid:" {
				host, _ = strconv.Atoi(f[1])
			}
		}
		return strings.TrimSpace(string(b)), host
	}
	var hosts []int
	for _, id := range []string{"userns-a", "userns-b"} {
		s := spec(id)
		s.Image.User = "1000"
		in := start(t, d, s)
		inside, host := ids(in)
		if !strings.HasPrefix(inside, "1000 0 0 ") || host < userns.Base || host == 1000 {
			t.Errorf("%s: inside %q, host uid %d", id, inside, host)
		}
		hosts = append(hosts, host)
	}
	if hosts[0] == hosts[1] {
		t.Errorf("two instances share host uid %d", hosts[0])
	}
	root := start(t, d, spec("userns-root"))
	inside, host := ids(root)
	if !strings.HasPrefix(inside, "0 0 0 ") || host == 0 {
		t.Errorf("root of an instance: inside %q, host uid %d", inside, host)
	}
	// What it reaches by path from inside its namespace, no one else on
	// the host but root may enter.
	in := root.(*instance)
	for _, dir := range []string{filepath.Dir(in.rootfs.Path()), in.etc()} {
		st, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o700 || int(st.Sys().(*syscall.Stat_t).Uid) != host {
			t.Errorf("%s: mode %v, owner %d; want 0700 and the instance's root %d", dir, st.Mode().Perm(), st.Sys().(*syscall.Stat_t).Uid, host)
		}
	}

	// The same start in the host's user namespace fails: the finding.
	opts := testOptions(t.TempDir())
	opts.HostUserNamespace = true
	opts.CgroupParent += "-hostns"
	opts.Network = netns.Options{Name: testNetwork + "h", Subnet: "10.209.237.0/24"}
	hd, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		hd.Close(context.Background())
		hd.Network().RemoveFirewall()
	})
	s := spec("hostns-1000")
	s.Image.User = "1000"
	s.StartupTimeout = 5 * time.Second
	if in, err := hd.Start(context.Background(), s); err == nil {
		in.Stop(context.Background())
		t.Error("in the host's user namespace, an instance of uid 1000 started beside 1100 processes of host uid 1000")
	}
}
