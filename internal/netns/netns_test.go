package netns

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scfd/scfd/internal/netns/netnstest"
)

const testSubnet = "10.209.250.0/24"

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and iptables rules")
	}
}

func newManager(t *testing.T, dir string) *Manager {
	t.Helper()
	m, err := New(context.Background(), Options{Dir: dir, Name: "scfdtnet", Subnet: testSubnet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Cleanup(context.Background())
		m.RemoveFirewall()
	})
	return m
}

// veths counts the host routes into the test subnet: ptp adds one per
// attachment, on its host-side veth. (Counting all veths would see other
// tests' veths come and go.)
func veths(t *testing.T) int {
	t.Helper()
	out, err := exec.Command("ip", "-4", "route", "show").Output()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, strings.TrimSuffix(testSubnet, "0/24")) && strings.Contains(l, "dev veth") {
			n++
		}
	}
	return n
}

func setup(t *testing.T, m *Manager, id string) *Attachment {
	t.Helper()
	a, err := m.Setup(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Teardown(context.Background(), a) })
	return a
}

// listenIn starts a server inside attachment a, on all its addresses.
func listenIn(t *testing.T, a *Attachment, text string) string {
	t.Helper()
	var l net.Listener
	if err := netnstest.Do(a.Path, func() (err error) {
		l, err = net.Listen("tcp", "0.0.0.0:9000")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	netnstest.Serve(t, l, text)
	return net.JoinHostPort(a.IP.String(), "9000")
}

func dialFrom(t *testing.T, a *Attachment, addr string) (string, error) {
	t.Helper()
	var got string
	err := netnstest.Do(a.Path, func() (err error) {
		got, err = netnstest.Dial(addr)
		return err
	})
	return got, err
}

func TestSetupTeardownLeavesNothing(t *testing.T) {
	needRoot(t)
	m := newManager(t, t.TempDir())
	before := veths(t)
	a, err := m.Setup(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	if !m.Subnet().Contains(a.IP) {
		t.Errorf("IP %s not in %s", a.IP, m.Subnet())
	}
	if got, err := netnstest.Dial(listenIn(t, a, "a")); err != nil || got != "a" {
		t.Errorf("host → instance: %q, %v", got, err)
	}
	if err := m.Teardown(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if n := veths(t); n != before {
		t.Errorf("veths: %d before, %d after", before, n)
	}
	if l := m.Leases(); len(l) != 0 {
		t.Errorf("leases left: %v", l)
	}
	if ns := m.Namespaces(); len(ns) != 0 {
		t.Errorf("namespaces left: %v", ns)
	}
}

func TestIsolation(t *testing.T) {
	needRoot(t)
	world := netnstest.World(t, 1)
	m := newManager(t, t.TempDir())
	a, b := setup(t, m, "a"), setup(t, m, "b")
	bAddr := listenIn(t, b, "b")

	// A host listener on all addresses, as the scfd API and gateway are.
	hl, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(netnstest.Serve(t, hl, "host"))
	gw := make(net.IP, 4)
	copy(gw, a.IP.To4())
	gw[3] = 1 // host-local's gateway: the first address of the range
	hostWorldSide := strings.Replace(strings.Split(world, ":")[0], ".6", ".5", 1)

	if got, err := dialFrom(t, a, world); err != nil || got != "outside" {
		t.Errorf("egress to %s: %q, %v", world, got, err)
	}
	if got, err := netnstest.Dial(bAddr); err != nil || got != "b" {
		t.Errorf("host → instance b: %q, %v", got, err)
	}
	for _, addr := range []string{
		net.JoinHostPort(gw.String(), port),
		net.JoinHostPort(hostWorldSide, port),
		bAddr,
	} {
		if got, err := dialFrom(t, a, addr); err == nil {
			t.Errorf("instance a reached %s: %q", addr, got)
		}
	}
}

func TestNewCleansLeftovers(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	before := veths(t)
	m1 := newManager(t, dir)
	for _, id := range []string{"x", "y"} {
		if _, err := m1.Setup(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
	m2 := newManager(t, dir) // as after a crash
	if l := m2.Leases(); len(l) != 0 {
		t.Errorf("leases left: %v", l)
	}
	if ns := m2.Namespaces(); len(ns) != 0 {
		t.Errorf("namespaces left: %v", ns)
	}
	if n := veths(t); n != before {
		t.Errorf("veths: %d before, %d after", before, n)
	}
	if b, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(b), filepath.Join(dir, "ns")) {
		t.Error("namespace mounts left")
	}
}

// sendUDP sends n datagrams of size bytes from inside a to addr.
func sendUDP(t *testing.T, a *Attachment, addr string, n, size int) {
	t.Helper()
	to, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	err = netnstest.Do(a.Path, func() error {
		// Unconnected, so that nobody listening there (an ICMP error)
		// does not stop the sending.
		c, err := net.ListenPacket("udp", ":0")
		if err != nil {
			return err
		}
		defer c.Close()
		buf := make([]byte, size)
		for range n {
			if _, err := c.WriteTo(buf, to); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestEgressCountsOutboundOnly(t *testing.T) {
	needRoot(t)
	world := netnstest.World(t, 3)
	worldIP, _, _ := net.SplitHostPort(world)
	m := newManager(t, t.TempDir())
	a := setup(t, m, "a")
	gw := make(net.IP, 4)
	copy(gw, a.IP.To4())
	gw[3] = 1

	sendUDP(t, a, net.JoinHostPort(worldIP, "9999"), 100, 1000)
	sendUDP(t, a, net.JoinHostPort(gw.String(), "9999"), 50, 1000) // to the host: not outbound
	got, err := m.Egress()
	if err != nil {
		t.Fatal(err)
	}
	// 100 datagrams of 1000 bytes plus 28 bytes of IP and UDP headers.
	if n := got[a.ID]; n != 100*1028 {
		t.Errorf("egress of a = %d bytes, want %d", n, 100*1028)
	}
	sendUDP(t, a, net.JoinHostPort(worldIP, "9999"), 10, 1000)
	if err := m.Teardown(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	got, _ = m.Egress()
	if n := got[a.ID]; n != 110*1028 {
		t.Errorf("final egress of a = %d bytes, want %d", n, 110*1028)
	}
	if got, _ = m.Egress(); got[a.ID] != 0 {
		t.Errorf("a torn-down attachment is reported twice: %v", got)
	}
}

// An instance without public network access reaches nothing beyond the
// host, while the host still reaches it; the switch goes both ways.
func TestPublicNetDisabled(t *testing.T) {
	needRoot(t)
	world := netnstest.World(t, 5)
	m := newManager(t, t.TempDir())
	a, b := setup(t, m, "a"), setup(t, m, "b")
	aAddr := listenIn(t, a, "a")
	if err := m.SetPublicNet(a, false); err != nil {
		t.Fatal(err)
	}
	if got, err := dialFrom(t, a, world); err == nil {
		t.Errorf("instance a without public network reached %s: %q", world, got)
	}
	if got, err := dialFrom(t, b, world); err != nil || got != "outside" {
		t.Errorf("instance b, with public network: %q, %v", got, err)
	}
	if got, err := netnstest.Dial(aAddr); err != nil || got != "a" {
		t.Errorf("host → instance a: %q, %v", got, err)
	}
	if got, err := dialFrom(t, b, aAddr); err == nil {
		t.Errorf("instance b reached instance a: %q", got)
	}
	if err := m.SetPublicNet(a, true); err != nil {
		t.Fatal(err)
	}
	if got, err := dialFrom(t, a, world); err != nil || got != "outside" {
		t.Errorf("instance a, public network enabled again: %q, %v", got, err)
	}
}
