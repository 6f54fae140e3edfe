// Package netnstest has helpers for tests of instance networking: running
// code inside a network namespace, and a namespace that stands for the
// outside world, reached from the host through a veth on the benchmarking
// range 198.18.0.0/15.
package netnstest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Do runs fn with the calling thread in the network namespace at path.
// Sockets fn creates stay in that namespace.
func Do(path string, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		return err
	}
	defer orig.Close()
	target, err := os.Open(path)
	if err != nil {
		return err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("setns %s: %w", path, err)
	}
	defer func() {
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			panic("netnstest: cannot return to the original namespace: " + err.Error())
		}
	}()
	return fn()
}

// Serve accepts TCP connections on l and writes text and a newline to
// each, until the test ends.
func Serve(t *testing.T, l net.Listener, text string) string {
	t.Helper()
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			fmt.Fprintln(c, text)
			c.Close()
		}
	}()
	return l.Addr().String()
}

// Dial connects to addr and returns the first line it sends, or the error.
func Dial(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// World creates a network namespace standing for the outside world, with
// a veth to the host (host 198.18.0.4n+1/30, world 198.18.0.4n+2/30) and
// a TCP server at 198.18.0.4n+2:8080 answering "outside". n (0..63) keeps
// test binaries that run at once apart. It returns the server's address;
// everything is removed when the test ends.
func World(t *testing.T, n int) string {
	t.Helper()
	name := fmt.Sprintf("scfdw%d-%d", n, os.Getpid())
	host := fmt.Sprintf("scw%dh%d", n, os.Getpid()%100000)
	peer := fmt.Sprintf("scw%dp%d", n, os.Getpid()%100000)
	hostIP := fmt.Sprintf("198.18.0.%d", 4*n+1)
	worldIP := fmt.Sprintf("198.18.0.%d", 4*n+2)
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", host).Run()
		exec.Command("ip", "netns", "del", name).Run()
	})
	run(t, "ip", "link", "add", host, "type", "veth", "peer", "name", peer)
	run(t, "ip", "link", "set", peer, "netns", name)
	run(t, "ip", "addr", "add", hostIP+"/30", "dev", host)
	run(t, "ip", "link", "set", host, "up")
	run(t, "ip", "-n", name, "addr", "add", worldIP+"/30", "dev", peer)
	run(t, "ip", "-n", name, "link", "set", peer, "up")
	run(t, "ip", "-n", name, "link", "set", "lo", "up")
	run(t, "ip", "-n", name, "route", "add", "default", "via", hostIP)
	var l net.Listener
	err := Do("/run/netns/"+name, func() (err error) {
		l, err = net.Listen("tcp", worldIP+":8080")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return Serve(t, l, "outside")
}
