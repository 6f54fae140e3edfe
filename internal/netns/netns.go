// Package netns gives each instance its own network namespace on a CNI
// network, and keeps instances apart from the host and from each other.
//
// A Manager owns one CNI network (Options.Name) on one subnet
// (Options.Subnet, 10.209.0.0/16 by default; podman takes 10.88.0.0/16).
// Each attachment is a named network namespace (a bind mount under
// Options.Dir/ns) with loopback up and an eth0 from the "ptp" plugin: a
// routed veth per instance with an address from "host-local", whose state
// lives under Options.Dir/ipam. IPv6 is off inside the namespace and on the
// host side of the veth, so an instance has no IPv6 path to the host. The
// host side of every instance's veth, of every scfd server on the host,
// is in interface group InstanceGroup, with strict reverse-path filtering.
// Because each instance has a routed veth rather than a bridge port, all
// its traffic crosses the host's iptables, where the Manager keeps chains
// of its own that match instances by that group (the interface), never by
// the source address a packet claims:
//
//	raw    SCFD-<NAME>-RAW  (from PREROUTING): drops what an instance sends
//	                        with a source address not routed back to its
//	                        own veth (spoofed sources)
//	filter SCFD-<NAME>-IN   (from INPUT, for instances' interfaces): replies
//	                        only; no instance opens a connection to the
//	                        host, so the scfd API and gateway listeners are
//	                        out of reach
//	filter SCFD-<NAME>-FWD  (from FORWARD): instance-to-instance rejected,
//	                        whichever server's; instance-to-world rejected
//	                        for instances in NoPublicNetGroup (SetPublicNet)
//	                        and accepted for the others; replies in
//	nat    SCFD-<NAME>-NAT  (from POSTROUTING): masquerade egress
//
// The Manager also turns on net.ipv4.ip_forward. Cleanup removes every
// namespace, lease and cached CNI result a previous run left.
package netns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/coreos/go-iptables/iptables"
	"golang.org/x/sys/unix"

	"github.com/scfd/scfd/internal/userns"
)

// Defaults of Options.
const (
	DefaultName      = "scfd"
	DefaultSubnet    = "10.209.0.0/16"
	DefaultPluginDir = "/usr/lib/cni"
	DefaultMTU       = 1500
)

// Options configures a Manager.
type Options struct {
	// Dir holds namespaces, IPAM leases and the CNI cache. Required.
	Dir string
	// Name is the CNI network name and part of the iptables chain names:
	// letters and digits, at most 12. Empty means DefaultName.
	Name string
	// Subnet is the instances' IPv4 subnet. Empty means DefaultSubnet.
	Subnet string
	// PluginDirs are searched for CNI plugins. Nil means DefaultPluginDir.
	PluginDirs []string
	// MTU of the instances' interfaces. Zero means DefaultMTU.
	MTU int
	// Logger receives cleanup problems. Nil discards them.
	Logger *slog.Logger
	// Users, when set, gives each attachment a user namespace of its own
	// with a range of host IDs from Users, owning its network namespace
	// (so that the instance's root may mount sysfs there). Nil means
	// network namespaces owned by the host's user namespace.
	Users *userns.Allocator
}

// Manager creates and removes instance network namespaces.
type Manager struct {
	opts   Options
	log    *slog.Logger
	subnet *net.IPNet
	cni    *libcni.CNIConfig
	conf   *libcni.NetworkConfigList
	ipt    *iptables.IPTables

	// mu guards the egress accounting of attachments: the address of
	// each live one, and the final counts of those torn down since the
	// last Egress call; and the ID ranges of their user namespaces.
	mu     sync.Mutex
	ips    map[string]string        // attachment id → address
	final  map[string]uint64        // attachment id → bytes sent, at teardown
	leases map[string]*userns.Lease // attachment id → its user namespace's IDs
}

// Attachment is one instance's network namespace and address.
type Attachment struct {
	ID       string // the id it was set up with
	Path     string // the namespace file, for the OCI spec
	IP       net.IP // the instance's address, reachable from the host
	HostVeth string // the host side of its veth
	// UserNS is the file of the user namespace owning the network
	// namespace, and IDs its host IDs; empty without Options.Users.
	UserNS string
	IDs    userns.Range
}

// New prepares the network (iptables chains, forwarding), removes what a
// previous run left under opts.Dir, and returns a Manager.
func New(ctx context.Context, opts Options) (*Manager, error) {
	if opts.Dir == "" {
		return nil, errors.New("netns: Dir is required")
	}
	if opts.Name == "" {
		opts.Name = DefaultName
	}
	if len(opts.Name) > 12 || strings.IndexFunc(opts.Name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) >= 0 {
		return nil, fmt.Errorf("netns: network name %q: want at most 12 letters or digits", opts.Name)
	}
	if opts.Subnet == "" {
		opts.Subnet = DefaultSubnet
	}
	if opts.PluginDirs == nil {
		opts.PluginDirs = []string{DefaultPluginDir}
	}
	if opts.MTU == 0 {
		opts.MTU = DefaultMTU
	}
	_, subnet, err := net.ParseCIDR(opts.Subnet)
	if err != nil || subnet.IP.To4() == nil {
		return nil, fmt.Errorf("netns: subnet %q: want an IPv4 CIDR", opts.Subnet)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	opts.Dir = dir
	for _, d := range []string{"ns", "user", "ipam", "cache"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, fmt.Errorf("netns: %w", err)
		}
	}
	conf, err := json.Marshal(map[string]any{
		"cniVersion": "1.0.0",
		"name":       opts.Name,
		"plugins": []any{map[string]any{
			"type":   "ptp",
			"ipMasq": false, // the Manager's own NAT chain masquerades
			"mtu":    opts.MTU,
			"ipam": map[string]any{
				"type":    "host-local",
				"ranges":  [][]map[string]string{{{"subnet": subnet.String()}}},
				"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
				"dataDir": filepath.Join(dir, "ipam"),
			},
		}},
	})
	if err != nil {
		return nil, err
	}
	list, err := libcni.ConfListFromBytes(conf)
	if err != nil {
		return nil, fmt.Errorf("netns: %w", err)
	}
	ipt, err := iptables.New(iptables.IPFamily(iptables.ProtocolIPv4), iptables.Timeout(10))
	if err != nil {
		return nil, fmt.Errorf("netns: iptables: %w", err)
	}
	m := &Manager{
		opts: opts, log: log, subnet: subnet, ipt: ipt, conf: list,
		ips: map[string]string{}, final: map[string]uint64{}, leases: map[string]*userns.Lease{},
		// An explicit exec: libcni's lazy default is not safe for
		// concurrent use.
		cni: libcni.NewCNIConfigWithCacheDir(opts.PluginDirs, filepath.Join(dir, "cache"), &invoke.DefaultExec{
			RawExec:       &invoke.RawExec{Stderr: os.Stderr},
			PluginDecoder: version.PluginDecoder{},
		}),
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
		return nil, fmt.Errorf("netns: enable forwarding: %w", err)
	}
	if err := m.firewall(); err != nil {
		return nil, err
	}
	if err := m.Cleanup(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// Subnet is the instances' subnet.
func (m *Manager) Subnet() *net.IPNet { return m.subnet }

func (m *Manager) chains() (in, fwd, nat string) {
	n := strings.ToUpper(m.opts.Name)
	return "SCFD-" + n + "-IN", "SCFD-" + n + "-FWD", "SCFD-" + n + "-NAT"
}

func (m *Manager) rawChain() string { return "SCFD-" + strings.ToUpper(m.opts.Name) + "-RAW" }

// fromInstances and toInstances match packets that came in on, or go out
// of, the veth of any instance of any scfd server on the host.
var (
	fromInstances   = []string{"-m", "devgroup", "--src-group", groupMask(InstanceGroup, instanceMask)}
	toInstances     = []string{"-m", "devgroup", "--dst-group", groupMask(InstanceGroup, instanceMask)}
	fromNoPublicNet = []string{"-m", "devgroup", "--src-group", groupMask(NoPublicNetGroup, noPublicNetMask)}
)

func groupMask(group, mask int) string {
	return fmt.Sprintf("0x%x/0x%x", group, mask)
}

// jumps are the rules in the built-in chains that lead to the Manager's.
func (m *Manager) jumps() []struct {
	table, chain string
	rule         []string
} {
	in, fwd, nat := m.chains()
	return []struct {
		table, chain string
		rule         []string
	}{
		{"raw", "PREROUTING", append(slices.Clone(fromInstances), "-j", m.rawChain())},
		{"filter", "INPUT", append(slices.Clone(fromInstances), "-j", in)},
		{"filter", "FORWARD", []string{"-j", fwd}},
		{"nat", "POSTROUTING", []string{"-j", nat}},
	}
}

// acctChain counts, with one rule per instance address, the bytes each
// instance sends through the host to anything outside the subnet: its
// outbound traffic. What instances send to scfd itself goes to INPUT, not
// through here.
func (m *Manager) acctChain() string { return "SCFD-" + strings.ToUpper(m.opts.Name) + "-ACCT" }

// firewall (re)writes the Manager's chains and the jumps to them.
func (m *Manager) firewall() error {
	in, fwd, nat := m.chains()
	s := m.subnet.String()
	steps := []struct {
		table, chain string
		rules        [][]string
	}{
		{"raw", m.rawChain(), [][]string{
			{"-m", "rpfilter", "--invert", "-j", "DROP"},
		}},
		{"filter", in, [][]string{
			{"-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"},
			{"-j", "REJECT"},
		}},
		{"filter", m.acctChain(), nil},
		{"filter", fwd, [][]string{
			append(append(slices.Clone(fromInstances), toInstances...), "-j", "REJECT"),
			append(slices.Clone(fromNoPublicNet), "-j", "REJECT", "--reject-with", "icmp-net-prohibited"),
			{"-s", s, "!", "-d", s, "-j", m.acctChain()},
			{"-d", s, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"},
			{"-s", s, "-d", s, "-j", "REJECT"},
			{"-s", s, "-j", "ACCEPT"},
			{"-d", s, "-j", "DROP"},
		}},
		{"nat", nat, [][]string{
			{"-s", s, "!", "-d", s, "-j", "MASQUERADE"},
		}},
	}
	for _, st := range steps {
		if err := m.ipt.ClearChain(st.table, st.chain); err != nil {
			return fmt.Errorf("netns: iptables: %w", err)
		}
		for _, r := range st.rules {
			if err := m.ipt.Append(st.table, st.chain, r...); err != nil {
				return fmt.Errorf("netns: iptables: %w", err)
			}
		}
	}
	// The jump by source address of earlier versions (best effort).
	m.ipt.DeleteIfExists("filter", "INPUT", "-s", s, "-j", in)
	for _, j := range m.jumps() {
		if err := m.ipt.InsertUnique(j.table, j.chain, 1, j.rule...); err != nil {
			return fmt.Errorf("netns: iptables: %w", err)
		}
	}
	return nil
}

// RemoveFirewall deletes the Manager's chains and the jumps to them. A
// running scfd keeps them; tests and uninstallers remove them.
func (m *Manager) RemoveFirewall() error {
	in, fwd, nat := m.chains()
	var errs []error
	m.ipt.DeleteIfExists("filter", "INPUT", "-s", m.subnet.String(), "-j", in) // of earlier versions
	for _, j := range m.jumps() {
		errs = append(errs, m.ipt.DeleteIfExists(j.table, j.chain, j.rule...))
	}
	for _, c := range []struct{ table, chain string }{{"raw", m.rawChain()}, {"filter", in}, {"filter", fwd}, {"filter", m.acctChain()}, {"nat", nat}} {
		if ok, _ := m.ipt.ChainExists(c.table, c.chain); ok {
			errs = append(errs, m.ipt.ClearAndDeleteChain(c.table, c.chain))
		}
	}
	return errors.Join(errs...)
}

func (m *Manager) rt(id string) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{ContainerID: id, NetNS: m.nsPath(id), IfName: "eth0"}
}

func (m *Manager) nsPath(id string) string   { return filepath.Join(m.opts.Dir, "ns", id) }
func (m *Manager) userPath(id string) string { return filepath.Join(m.opts.Dir, "user", id) }

// Setup creates the network namespace of id and attaches it to the
// network. On error nothing is left behind.
func (m *Manager) Setup(ctx context.Context, id string) (_ *Attachment, err error) {
	path := m.nsPath(id)
	var owner *userns.Lease
	if m.opts.Users != nil {
		var err error
		if owner, err = m.opts.Users.Take(); err != nil {
			return nil, err
		}
		m.mu.Lock()
		m.leases[id] = owner
		m.mu.Unlock()
		if err := createOwnedNS(m.userPath(id), path, owner.Range); err != nil {
			m.teardown(context.WithoutCancel(ctx), id)
			return nil, err
		}
	} else if err := createNS(path); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			m.teardown(context.WithoutCancel(ctx), id)
		}
	}()
	res, err := m.cni.AddNetworkList(ctx, m.conf, m.rt(id))
	if err != nil {
		return nil, fmt.Errorf("netns: CNI add: %w", err)
	}
	r, err := current.NewResultFromResult(res)
	if err != nil {
		return nil, fmt.Errorf("netns: CNI result: %w", err)
	}
	hostVeth := ""
	for _, i := range r.Interfaces {
		if i.Sandbox == "" {
			hostVeth = i.Name
		}
	}
	if hostVeth == "" {
		return nil, errors.New("netns: CNI named no host interface")
	}
	if err := hardenHostVeth(hostVeth); err != nil {
		return nil, err
	}
	for _, ip := range r.IPs {
		if ip.Address.IP.To4() != nil {
			addr := ip.Address.IP.String()
			if err := m.ipt.Append("filter", m.acctChain(), "-s", addr+"/32"); err != nil {
				return nil, fmt.Errorf("netns: counting the traffic of %s: %w", addr, err)
			}
			m.mu.Lock()
			m.ips[id] = addr
			m.mu.Unlock()
			a := &Attachment{ID: id, Path: path, IP: ip.Address.IP, HostVeth: hostVeth}
			if owner != nil {
				a.UserNS, a.IDs = m.userPath(id), owner.Range
			}
			return a, nil
		}
	}
	return nil, errors.New("netns: CNI gave no IPv4 address")
}

// SetPublicNet says whether the instance on a may reach anything beyond
// the host: with allowed false, the firewall rejects every connection it
// opens to an address outside the instances' subnet. Replies to the host
// are unaffected. It sets the group of the host side of a's veth.
func (m *Manager) SetPublicNet(a *Attachment, allowed bool) error {
	group := uint32(NoPublicNetGroup)
	if allowed {
		group = InstanceGroup
	}
	return setLinkGroup(a.HostVeth, group)
}

// Teardown detaches a from the network and removes its namespace. Its
// final outbound count is kept for the next Egress call.
func (m *Manager) Teardown(ctx context.Context, a *Attachment) error {
	var errs []error
	m.mu.Lock()
	addr, ok := m.ips[a.ID]
	delete(m.ips, a.ID)
	m.mu.Unlock()
	if ok {
		counts, err := m.counts()
		errs = append(errs, err)
		if n := counts[addr]; n > 0 {
			m.mu.Lock()
			m.final[a.ID] += n
			m.mu.Unlock()
		}
		errs = append(errs, m.ipt.DeleteIfExists("filter", m.acctChain(), "-s", addr+"/32"))
	}
	errs = append(errs, m.teardown(ctx, a.ID))
	return errors.Join(errs...)
}

// Egress returns, by attachment id, the bytes each instance has sent to
// anything outside its subnet but the host (scfd's listeners are on the
// host): counts since Setup for live attachments, and the final counts of
// those torn down since the previous call, which it then forgets.
func (m *Manager) Egress() (map[string]uint64, error) {
	counts, err := m.counts()
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]uint64, len(m.ips)+len(m.final))
	for id, addr := range m.ips {
		out[id] = counts[addr]
	}
	for id, n := range m.final {
		out[id] += n
	}
	m.final = map[string]uint64{}
	return out, nil
}

// counts reads the byte counter of every address in the accounting chain.
func (m *Manager) counts() (map[string]uint64, error) {
	rules, err := m.ipt.ListWithCounters("filter", m.acctChain())
	if err != nil {
		return nil, fmt.Errorf("netns: reading traffic counters: %w", err)
	}
	out := map[string]uint64{}
	for _, r := range rules {
		// "-A CHAIN -s 10.0.0.2/32 -c PACKETS BYTES"
		f := strings.Fields(r)
		if len(f) < 7 || f[0] != "-A" || f[2] != "-s" || f[4] != "-c" {
			continue
		}
		n, err := strconv.ParseUint(f[6], 10, 64)
		if err != nil {
			continue
		}
		out[strings.TrimSuffix(f[3], "/32")] += n
	}
	return out, nil
}

func (m *Manager) teardown(ctx context.Context, id string) error {
	var errs []error
	if err := m.cni.DelNetworkList(ctx, m.conf, m.rt(id)); err != nil {
		errs = append(errs, fmt.Errorf("netns: CNI del %s: %w", id, err))
	}
	errs = append(errs, removeNS(m.nsPath(id)), removeNS(m.userPath(id)))
	m.mu.Lock()
	lease := m.leases[id]
	delete(m.leases, id)
	m.mu.Unlock()
	errs = append(errs, lease.Release())
	return errors.Join(errs...)
}

// Cleanup removes every namespace under the Manager's directory with its
// address lease and CNI cache entry. Call it only when no instance of this
// directory runs.
func (m *Manager) Cleanup(ctx context.Context) error {
	ents, err := os.ReadDir(filepath.Join(m.opts.Dir, "ns"))
	if err != nil {
		return fmt.Errorf("netns: %w", err)
	}
	for _, e := range ents {
		if err := m.teardown(ctx, e.Name()); err != nil {
			m.log.Warn("netns: cleanup", "id", e.Name(), "err", err)
		}
	}
	// User namespaces whose network namespace went first.
	users, _ := os.ReadDir(filepath.Join(m.opts.Dir, "user"))
	for _, e := range users {
		if err := removeNS(m.userPath(e.Name())); err != nil {
			m.log.Warn("netns: cleanup", "id", e.Name(), "err", err)
		}
	}
	// Leases whose DEL failed (or never ran) and stale cache entries go
	// regardless: nothing of this network is running.
	var errs []error
	leases := filepath.Join(m.opts.Dir, "ipam", m.opts.Name)
	ls, _ := os.ReadDir(leases)
	for _, l := range ls {
		if net.ParseIP(l.Name()) != nil {
			errs = append(errs, os.Remove(filepath.Join(leases, l.Name())))
		}
	}
	errs = append(errs, os.RemoveAll(filepath.Join(m.opts.Dir, "cache")))
	return errors.Join(errs...)
}

// Leases lists the addresses currently leased, for leak checks.
func (m *Manager) Leases() []string {
	var out []string
	ls, _ := os.ReadDir(filepath.Join(m.opts.Dir, "ipam", m.opts.Name))
	for _, l := range ls {
		if net.ParseIP(l.Name()) != nil {
			out = append(out, l.Name())
		}
	}
	return out
}

// Namespaces lists the namespace files present, for leak checks.
func (m *Manager) Namespaces() []string {
	var out []string
	ents, _ := os.ReadDir(filepath.Join(m.opts.Dir, "ns"))
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// createNS makes a new network namespace with loopback up and pins it by
// bind-mounting it on path.
func createNS(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("netns: %w", err)
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		// The thread ends up in the new namespace; it is never unlocked,
		// so the runtime discards it when this goroutine returns.
		runtime.LockOSThread()
		errc <- func() error {
			if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
				return fmt.Errorf("unshare: %w", err)
			}
			self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
			if err := unix.Mount(self, path, "none", unix.MS_BIND, ""); err != nil {
				return fmt.Errorf("bind mount: %w", err)
			}
			if err := disableIPv6(); err != nil {
				return err
			}
			return loopbackUp()
		}()
	}()
	if err := <-errc; err != nil {
		removeNS(path)
		return fmt.Errorf("netns: create %s: %w", path, err)
	}
	return nil
}

// createOwnedNS makes a user namespace mapping container IDs to ids and a
// network namespace it owns, pins them by bind-mounting them on userPath
// and netPath, and sets the network namespace up as createNS does. A
// process in both is needed to make them (a multi-threaded process cannot
// enter a new user namespace): cat, waiting on a pipe, whose namespaces
// the Go runtime creates and maps before it runs.
func createOwnedNS(userPath, netPath string, ids userns.Range) (err error) {
	for _, p := range []string{userPath, netPath} {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
		if err != nil {
			return fmt.Errorf("netns: %w", err)
		}
		f.Close()
	}
	defer func() {
		if err != nil {
			removeNS(netPath)
			removeNS(userPath)
		}
	}()
	cmd := exec.Command("cat")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("netns: %w", err)
	}
	m := []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(ids.HostID), Size: int(ids.Size)}}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET, UidMappings: m, GidMappings: m,
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("netns: start the namespaces' first process: %w", err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	for _, ns := range []struct{ kind, path string }{{"user", userPath}, {"net", netPath}} {
		src := fmt.Sprintf("/proc/%d/ns/%s", cmd.Process.Pid, ns.kind)
		if err := unix.Mount(src, ns.path, "none", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("netns: pin the %s namespace: %w", ns.kind, err)
		}
	}
	errc := make(chan error, 1)
	go func() {
		// The thread ends up in the namespace; it is never unlocked, so
		// the runtime discards it when this goroutine returns.
		runtime.LockOSThread()
		errc <- func() error {
			f, err := os.Open(netPath)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
				return fmt.Errorf("setns: %w", err)
			}
			if err := disableIPv6(); err != nil {
				return err
			}
			return loopbackUp()
		}()
	}()
	if err := <-errc; err != nil {
		return fmt.Errorf("netns: set up %s: %w", netPath, err)
	}
	return nil
}

func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	ifr.SetUint16(unix.IFF_UP | unix.IFF_RUNNING)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback up: %w", err)
	}
	return nil
}

func removeNS(path string) error {
	var errs []error
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		errs = append(errs, fmt.Errorf("netns: unmount %s: %w", path, err))
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("netns: %w", err))
	}
	return errors.Join(errs...)
}

var _ types.Result = (*current.Result)(nil)
