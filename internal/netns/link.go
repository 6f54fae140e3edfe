package netns

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// InstanceGroup is the interface group (`ip link set ... group`) of the
// host side of every instance's veth, of every scfd server on the host:
// the firewall matches instances by this group, that is by the interface
// a packet came in on or goes out of, never by the address it claims.
const InstanceGroup = 0x5cfd

// NoPublicNetGroup is the group of the veth of an instance whose function
// has public network access disabled (PublicNetConfig DISABLE). It is
// InstanceGroup with bit 16 set, so rules that match every instance match
// the low 16 bits only (instanceMask), and those that match these
// instances all 17 (noPublicNetMask).
const NoPublicNetGroup = InstanceGroup | 1<<16

const (
	instanceMask    = 0xffff
	noPublicNetMask = 0x1ffff
)

// hardenHostVeth puts the host side of an instance's veth in
// InstanceGroup, turns on strict reverse-path filtering on it and turns
// IPv6 off on it.
func hardenHostVeth(name string) error {
	for _, s := range []struct{ path, value string }{
		{filepath.Join("/proc/sys/net/ipv4/conf", name, "rp_filter"), "1"},
		{filepath.Join("/proc/sys/net/ipv6/conf", name, "disable_ipv6"), "1"},
	} {
		if err := os.WriteFile(s.path, []byte(s.value), 0o644); err != nil && !(errors.Is(err, os.ErrNotExist) && filepath.Base(s.path) == "disable_ipv6") {
			return fmt.Errorf("netns: %s: %w", s.path, err)
		}
	}
	return setLinkGroup(name, InstanceGroup)
}

// disableIPv6 turns IPv6 off in the calling thread's network namespace,
// for the interfaces there and those created later. A kernel without IPv6
// has nothing to turn off.
func disableIPv6() error {
	for _, p := range []string{"/proc/sys/net/ipv6/conf/all/disable_ipv6", "/proc/sys/net/ipv6/conf/default/disable_ipv6"} {
		if err := os.WriteFile(p, []byte("1"), 0o644); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("disable IPv6: %w", err)
		}
	}
	return nil
}

// setLinkGroup sets the group of the interface named name with one
// rtnetlink request.
func setLinkGroup(name string, group uint32) error {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	err = unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr)
	unix.Close(fd)
	if err != nil {
		return fmt.Errorf("netns: index of %s: %w", name, err)
	}
	index := ifr.Uint32()

	nl, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer unix.Close(nl)
	// nlmsghdr (16) + ifinfomsg (16) + rtattr IFLA_GROUP (4 + 4)
	msg := make([]byte, 40)
	ne := binary.NativeEndian
	ne.PutUint32(msg[0:], uint32(len(msg)))
	ne.PutUint16(msg[4:], unix.RTM_NEWLINK)
	ne.PutUint16(msg[6:], unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	ne.PutUint32(msg[8:], 1) // sequence
	msg[16] = unix.AF_UNSPEC
	ne.PutUint32(msg[20:], index)
	ne.PutUint16(msg[32:], 8)
	ne.PutUint16(msg[34:], unix.IFLA_GROUP)
	ne.PutUint32(msg[36:], group)
	if err := unix.Sendto(nl, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netns: set group of %s: %w", name, err)
	}
	buf := make([]byte, 4096)
	n, _, err := unix.Recvfrom(nl, buf, 0)
	if err != nil {
		return fmt.Errorf("netns: set group of %s: %w", name, err)
	}
	if n < 20 || ne.Uint16(buf[4:]) != unix.NLMSG_ERROR {
		return fmt.Errorf("netns: set group of %s: unexpected answer", name)
	}
	if code := int32(ne.Uint32(buf[16:])); code != 0 {
		return fmt.Errorf("netns: set group of %s: %w", name, unix.Errno(-code))
	}
	return nil
}
