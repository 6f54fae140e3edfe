package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"
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

// setLinkGroup sets the group of the interface named name.
func setLinkGroup(name string, group uint32) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("netns: finding %s: %w", name, err)
	}
	if err := netlink.LinkSetGroup(link, int(group)); err != nil {
		return fmt.Errorf("netns: set group of %s: %w", name, err)
	}
	return nil
}
