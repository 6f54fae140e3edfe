package netns

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/scfd/scfd/internal/netns/netnstest"
)

func gateway(a *Attachment) net.IP {
	gw := make(net.IP, 4)
	copy(gw, a.IP.To4())
	gw[3] = 1 // host-local's gateway: the first address of the range
	return gw
}

// An instance has no IPv6 path to the host: host services bound to [::]
// are not reachable over the veth's link-local addresses.
func TestNoIPv6PathToHost(t *testing.T) {
	needRoot(t)
	if _, err := os.Stat("/proc/sys/net/ipv6"); err != nil {
		t.Skip("this kernel has no IPv6")
	}
	m := newManager(t, t.TempDir())
	a := setup(t, m, "a")
	hl, err := net.Listen("tcp", "[::]:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(netnstest.Serve(t, hl, "host"))

	// The host side's link-local address, as the kernel would derive it
	// from the MAC (EUI-64), were IPv6 on there.
	hv, err := net.InterfaceByName(a.HostVeth)
	if err != nil {
		t.Fatal(err)
	}
	mac := hv.HardwareAddr
	ll := fmt.Sprintf("fe80::%02x%02x:%02xff:fe%02x:%02x%02x", mac[0]^2, mac[1], mac[2], mac[3], mac[4], mac[5])
	addrs, _ := hv.Addrs()
	for _, ad := range addrs {
		if ip, _, _ := net.ParseCIDR(ad.String()); ip.To4() == nil {
			t.Errorf("the host side of the veth has the IPv6 address %s", ad)
		}
	}
	var inside []net.Addr
	err = netnstest.Do(a.Path, func() error {
		eth0, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		inside, err = eth0.Addrs()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, ad := range inside {
		if ip, _, _ := net.ParseCIDR(ad.String()); ip.To4() == nil {
			t.Errorf("the instance has the IPv6 address %s", ad)
		}
	}
	for _, addr := range []string{"[" + ll + "%eth0]:" + port, "[ff02::1%eth0]:" + port} {
		if got, err := dialFrom(t, a, addr); err == nil {
			t.Errorf("instance reached the host at %s over IPv6: %q", addr, got)
		}
	}
}

// A datagram an instance sends with a forged source address never reaches
// a host socket: instances are matched by their interface, and the host
// side of their veths filters reverse paths strictly.
func TestSpoofedSourcesAreDropped(t *testing.T) {
	needRoot(t)
	m := newManager(t, t.TempDir())
	a, b := setup(t, m, "a"), setup(t, m, "b")
	hc, err := net.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	_, port, _ := net.SplitHostPort(hc.LocalAddr().String())
	to := net.JoinHostPort(gateway(a).String(), port)

	for _, forged := range []string{"198.18.200.1", "192.168.77.7", b.IP.String()} {
		// Root in the test stands for an instance that could forge
		// packets (a raw socket): the address is added inside.
		if out, err := exec.Command("nsenter", "--net="+a.Path, "ip", "addr", "add", forged+"/32", "dev", "eth0").CombinedOutput(); err != nil {
			t.Fatalf("add %s in the instance: %v: %s", forged, err, out)
		}
		err := netnstest.Do(a.Path, func() error {
			c, err := net.ListenPacket("udp4", forged+":0")
			if err != nil {
				return err
			}
			defer c.Close()
			ua, _ := net.ResolveUDPAddr("udp4", to)
			for range 3 {
				if _, err := c.WriteTo([]byte("forged from "+forged), ua); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("send from %s: %v", forged, err)
		}
	}
	hc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	buf := make([]byte, 100)
	if n, from, err := hc.ReadFrom(buf); err == nil {
		t.Errorf("the host received %q from %s", buf[:n], from)
	}
	for _, f := range []string{"rp_filter"} {
		b, _ := os.ReadFile("/proc/sys/net/ipv4/conf/" + a.HostVeth + "/" + f)
		if strings.TrimSpace(string(b)) != "1" {
			t.Errorf("%s of %s = %q, want 1 (strict)", f, a.HostVeth, b)
		}
	}
}

// Instances of two scfd servers on one host (distinct names, subnets and
// data directories) cannot reach each other.
func TestInstancesOfTwoServersCannotConnect(t *testing.T) {
	needRoot(t)
	m1 := newManager(t, t.TempDir())
	m2, err := New(context.Background(), Options{Dir: t.TempDir(), Name: "scfdtnet2", Subnet: "10.209.240.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m2.Cleanup(context.Background())
		m2.RemoveFirewall()
	})
	a := setup(t, m1, "a")
	b, err := m2.Setup(context.Background(), "b")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m2.Teardown(context.Background(), b) })
	aAddr, bAddr := listenIn(t, a, "a"), listenIn(t, b, "b")
	if got, err := netnstest.Dial(bAddr); err != nil || got != "b" {
		t.Errorf("host → the other server's instance: %q, %v", got, err)
	}
	if got, err := dialFrom(t, a, bAddr); err == nil {
		t.Errorf("an instance reached the other server's instance: %q", got)
	}
	if got, err := dialFrom(t, b, aAddr); err == nil {
		t.Errorf("the other server's instance reached an instance: %q", got)
	}
}
