package localrt

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/moby/profiles/seccomp"
	"github.com/moby/sys/user"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/scfd/scfd/internal/netns"
	"github.com/scfd/scfd/internal/sandbox"
)

// Limits of every instance, as SCF documents them.
const (
	maxOpenFiles = 1024 // RLIMIT_NOFILE
	maxProcesses = 1024 // RLIMIT_NPROC and the cgroup pids limit
)

// cpuShares is an instance's CPU weight: one share per MB of memory
// (1024 shares, a full default weight, at 1 GB; at least 2). Shares are
// work-conserving: an instance alone on an idle host may use every core,
// and under contention CPU is split in proportion to memory.
func cpuShares(memoryMB int64) uint64 {
	return uint64(max(memoryMB, 2))
}

// defaultCaps is the runtime's (runc's and Docker's) default reduced set.
var defaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

var maskedPaths = []string{
	"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
	"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
	"/sys/firmware", "/sys/devices/virtual/powercap",
}

var readonlyPaths = []string{
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
}

// bundleFiles are the files an instance sees in /etc, written into its
// bundle directory and bind-mounted read-only.
type bundleFiles struct {
	hosts, resolv, hostname string
}

// ociSpec builds the runtime spec of an instance.
func ociSpec(spec sandbox.Spec, acct sandbox.Account, rootfs string, att *netns.Attachment, cgroupsPath string, files bundleFiles) (*specs.Spec, error) {
	argv, err := sandbox.Argv(spec)
	if err != nil {
		return nil, err
	}
	u, err := execUser(rootfs, spec.Image.User)
	if err != nil {
		return nil, err
	}
	cwd := spec.Image.WorkingDir
	if cwd == "" {
		cwd = "/"
	}
	mem := spec.MemoryMB << 20
	shares := cpuShares(spec.MemoryMB)
	pids := int64(maxProcesses)
	s := &specs.Spec{
		Version:  specs.Version,
		Hostname: spec.ID,
		Root:     &specs.Root{Path: rootfs},
		Process: &specs.Process{
			User: specs.User{UID: uint32(u.Uid), GID: uint32(u.Gid), AdditionalGids: gids(u.Sgids)},
			Args: argv,
			Env:  sandbox.Environ(spec, acct),
			Cwd:  cwd,
			Capabilities: &specs.LinuxCapabilities{
				Bounding: defaultCaps, Effective: defaultCaps, Permitted: defaultCaps,
			},
			Rlimits: []specs.POSIXRlimit{
				rlimit("RLIMIT_NOFILE", unix.RLIMIT_NOFILE, maxOpenFiles),
				rlimit("RLIMIT_NPROC", unix.RLIMIT_NPROC, maxProcesses),
			},
			NoNewPrivileges: true,
		},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
			{Destination: "/etc/hosts", Type: "bind", Source: files.hosts, Options: []string{"rbind", "ro", "nosuid", "nodev", "noexec"}},
			{Destination: "/etc/resolv.conf", Type: "bind", Source: files.resolv, Options: []string{"rbind", "ro", "nosuid", "nodev", "noexec"}},
			{Destination: "/etc/hostname", Type: "bind", Source: files.hostname, Options: []string{"rbind", "ro", "nosuid", "nodev", "noexec"}},
		},
		Linux: &specs.Linux{
			CgroupsPath: cgroupsPath,
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.MountNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.NetworkNamespace, Path: att.Path},
				{Type: specs.CgroupNamespace},
			},
			Resources: &specs.LinuxResources{
				Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
				// Swap equal to the limit: memory plus swap may not exceed
				// the limit, so nothing is swapped.
				Memory: &specs.LinuxMemory{Limit: &mem, Swap: &mem},
				Pids:   &specs.LinuxPids{Limit: &pids},
				CPU:    &specs.LinuxCPU{Shares: &shares},
			},
			MaskedPaths:   maskedPaths,
			ReadonlyPaths: readonlyPaths,
		},
	}
	if att.UserNS != "" {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace, Path: att.UserNS})
		s.Linux.UIDMappings, s.Linux.GIDMappings = att.IDs.Mappings(), att.IDs.Mappings()
	}
	sc, err := seccomp.GetDefaultProfile(s)
	if err != nil {
		return nil, fmt.Errorf("seccomp profile: %w", err)
	}
	s.Linux.Seccomp = sc
	return s, nil
}

// rlimit is want, capped at the host's hard limit: a container cannot
// raise a hard limit without CAP_SYS_RESOURCE.
func rlimit(name string, res int, want uint64) specs.POSIXRlimit {
	var l unix.Rlimit
	if err := unix.Getrlimit(res, &l); err == nil && l.Max < want {
		want = l.Max
	}
	return specs.POSIXRlimit{Type: name, Hard: want, Soft: want}
}

func gids(in []int) []uint32 {
	out := make([]uint32, len(in))
	for i, g := range in {
		out[i] = uint32(g)
	}
	return out
}

// execUser resolves the image's User against the image's /etc/passwd and
// /etc/group, read without following links out of the root file system.
func execUser(rootfs, spec string) (*user.ExecUser, error) {
	root, err := os.Open(rootfs)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	open := func(name string) io.Reader {
		fd, err := unix.Openat2(int(root.Fd()), name, &unix.OpenHow{
			Flags: unix.O_RDONLY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT,
		})
		if err != nil {
			return nil
		}
		return os.NewFile(uintptr(fd), filepath.Join(rootfs, name))
	}
	passwd, group := open("etc/passwd"), open("etc/group")
	for _, r := range []io.Reader{passwd, group} {
		if f, ok := r.(*os.File); ok {
			defer f.Close()
		}
	}
	u, err := user.GetExecUser(spec, &user.ExecUser{Home: "/"}, passwd, group)
	if err != nil {
		return nil, fmt.Errorf("image user %q: %w", spec, err)
	}
	return u, nil
}
