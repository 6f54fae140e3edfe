package localrt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	runc "github.com/containerd/go-runc"
	"golang.org/x/sys/unix"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/netns"
	"github.com/scfd/scfd/internal/nice"
	"github.com/scfd/scfd/internal/rootfs"
	"github.com/scfd/scfd/internal/sandbox"
	"github.com/scfd/scfd/internal/scf"
)

// instance is one container. Its fields after Start are read-only except
// where noted.
type instance struct {
	d      *Driver
	id     string
	addr   string
	bundle string
	phases sandbox.Phases
	state  sandbox.StateBox

	rootfs *rootfs.RootFS
	att    *netns.Attachment
	cg     *memCgroup
	pump   *sandbox.LogPump
	pidfd  *os.File // nil until the container exists
	pid    int

	exited   chan struct{}
	reason   sandbox.ExitReason // set before exited is closed
	stopping chan struct{}      // closed when Stop began killing
	stopOnce sync.Once
	stopDone chan struct{}
	stopErr  error

	sink    atomic.Pointer[func(sandbox.LogLine)] // where output lines go; set at start
	created time.Time                             // when the runtime created the container
	prio    priority                              // its init's, until the start
}

var _ sandbox.Instance = (*instance)(nil)

// Start runs spec and returns once its server accepts a connection. When
// a container was prepared ahead for the same spec (see Options.Spares and
// Prepare), only its process starts: the instance then has that
// container's id, not spec.ID, and its phases before the start are zero.
func (d *Driver) Start(ctx context.Context, spec sandbox.Spec) (_ sandbox.Instance, err error) {
	defer d.startBegins()()
	spec, budget, err := d.check(spec)
	if err != nil {
		return nil, err
	}
	key := spareKey(spec)
	if in, err := d.startPrepared(ctx, spec, key, budget); in != nil || err != nil {
		if in == nil {
			return nil, err
		}
		return in, err
	}
	in, err := d.create(ctx, spec)
	if err != nil {
		return nil, err
	}
	in.setSink(spec.Logs)
	if err := in.begin(ctx, budget); err != nil {
		in.Stop(context.WithoutCancel(ctx))
		return nil, err
	}
	d.prepareLater(spec, key)
	return in, nil
}

// check validates spec and fills its defaults; it returns the start-up
// budget.
func (d *Driver) check(spec sandbox.Spec) (sandbox.Spec, time.Duration, error) {
	if err := sandbox.ValidateID(spec.ID); err != nil {
		return spec, 0, err
	}
	if len(spec.Layers) == 0 {
		return spec, 0, errdefs.Invalid("Image", "instance %s: no image layers", spec.ID)
	}
	if spec.MemoryMB <= 0 {
		return spec, 0, errdefs.Invalid("MemorySize", "instance %s: memory size %d MB", spec.ID, spec.MemoryMB)
	}
	if spec.Port == 0 {
		spec.Port = scf.DefaultPort
	}
	budget := spec.StartupTimeout
	if budget == 0 {
		budget = scf.StartupTimeout
	}
	if _, err := sandbox.Argv(spec); err != nil {
		return spec, 0, err
	}
	return spec, budget, nil
}

// create makes the container of spec, up to the runtime's create: its
// root filesystem, network, bundle and runtime state, with its process
// waiting to be started. On error nothing is left.
func (d *Driver) create(ctx context.Context, spec sandbox.Spec) (_ *instance, err error) {
	d.mu.Lock()
	if _, dup := d.live[spec.ID]; dup {
		d.mu.Unlock()
		return nil, errdefs.New(errdefs.ErrAlreadyExists, "Instance", "instance %s exists", spec.ID)
	}
	in := &instance{
		d: d, id: spec.ID, exited: make(chan struct{}), stopping: make(chan struct{}), stopDone: make(chan struct{}),
		bundle: filepath.Join(d.opts.DataDir, "bundles", spec.ID),
		cg:     newMemCgroup(filepath.Join("/", d.opts.CgroupParent, spec.ID)),
	}
	d.live[spec.ID] = in
	d.mu.Unlock()
	defer func() {
		if err != nil {
			in.Stop(context.WithoutCancel(ctx))
		}
	}()

	t0 := time.Now()
	if in.att, err = d.nets.take(); err != nil {
		return nil, err
	}
	if err := d.net.SetPublicNet(in.att, !spec.NoPublicNet); err != nil {
		return nil, fmt.Errorf("localrt: %w", err)
	}
	d.own(in, spec.Namespace, spec.Function, spec.Version)
	t1 := time.Now()
	in.phases.Network = t1.Sub(t0)
	var ids *rootfs.IDMap
	if in.att.UserNS != "" {
		ids = &rootfs.IDMap{UserNS: in.att.UserNS, Root: in.att.IDs.HostID}
	}
	if in.rootfs, err = d.rootfs.Mount(ctx, spec.ID, spec.Layers, ids); err != nil {
		return nil, err
	}
	t2 := time.Now()
	in.phases.RootFS = t2.Sub(t1)
	in.addr = net.JoinHostPort(in.att.IP.String(), strconv.Itoa(spec.Port))

	if err := os.Mkdir(in.bundle, 0o700); err != nil {
		return nil, fmt.Errorf("localrt: %w", err)
	}
	owner := -1 // the instance's root, who alone (and the host's) may enter the directory
	if in.att.UserNS != "" {
		owner = int(in.att.IDs.HostID)
	}
	files, err := writeEtc(in.etc(), owner, spec.ID, in.att.IP)
	if err != nil {
		return nil, err
	}
	s, err := ociSpec(spec, d.opts.Account, in.rootfs.Path(), in.att,
		filepath.Join("/", d.opts.CgroupParent, spec.ID), files)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(in.bundle, "config.json"), b, 0o600); err != nil {
		return nil, fmt.Errorf("localrt: %w", err)
	}

	// The pipes belong to the process's user as the host sees it.
	uid, gid := s.Process.User.UID, s.Process.User.GID
	if in.att.UserNS != "" {
		uid, gid = in.att.IDs.Host(uid), in.att.IDs.Host(gid)
	}
	io, err := runc.NewPipeIO(int(uid), int(gid), func(o *runc.IOOption) { o.OpenStdin = false })
	if err != nil {
		return nil, fmt.Errorf("localrt: pipes: %w", err)
	}
	in.pump = sandbox.NewLogPump(spec.ID, in.deliver, nil)
	in.pump.Read(sandbox.Stdout, io.Stdout().(*os.File))
	in.pump.Read(sandbox.Stderr, io.Stderr().(*os.File))
	rt := d.runtime(in.bundle)
	pidFile := filepath.Join(in.bundle, "pid")
	err = rt.Create(ctx, spec.ID, in.bundle, &runc.CreateOpts{IO: io, PidFile: pidFile})
	// Our copies of the write ends must go, or the readers never see EOF.
	if c, ok := io.(runc.StartCloser); ok {
		c.CloseAfterStart()
	}
	if err != nil {
		return nil, fmt.Errorf("localrt: %s create: %w%s", d.opts.Runtime, err, runtimeLog(in.bundle))
	}
	in.phases.RuntimeCreate = time.Since(t2)
	in.created = time.Now()
	if err := in.watch(pidFile); err != nil {
		return nil, err
	}
	return in, nil
}

// begin starts the created container's process and waits until its server
// accepts a connection, within budget.
func (in *instance) begin(ctx context.Context, budget time.Duration) error {
	if err := in.state.Set(sandbox.Starting); err != nil {
		return err
	}
	t3 := time.Now()
	if in.prio == background {
		if err := nice.Set(in.pid, in.d.nice); err != nil {
			return err
		}
	}
	if err := in.startProcess(ctx); err != nil {
		return err
	}
	t4 := time.Now()
	in.phases.RuntimeStart = t4.Sub(t3)
	if err := in.waitReady(ctx, budget); err != nil {
		return err
	}
	in.phases.Ready = time.Since(t4)
	in.phases.Total = in.phases.RootFS + in.phases.Network + in.phases.RuntimeCreate + in.phases.RuntimeStart + in.phases.Ready
	return in.state.Set(sandbox.Ready)
}

// setSink sends the instance's output lines to sink from now on.
func (in *instance) setSink(sink func(sandbox.LogLine)) {
	if sink != nil {
		in.sink.Store(&sink)
	}
}

// deliver hands a line to the current sink, if any.
func (in *instance) deliver(l sandbox.LogLine) {
	if f := in.sink.Load(); f != nil {
		(*f)(l)
	}
}

// runtime returns the runtime client for one bundle, logging there.
func (d *Driver) runtime(bundle string) *runc.Runc {
	rt := *d.rt
	rt.Log = filepath.Join(bundle, "runtime.log")
	rt.LogFormat = runc.JSON
	return &rt
}

// runtimeLog returns the messages of the runtime's log, for an error.
func runtimeLog(bundle string) string {
	b, err := os.ReadFile(filepath.Join(bundle, "runtime.log"))
	if err != nil || len(b) == 0 {
		return ""
	}
	var msgs []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var e struct{ Level, Msg string }
		if json.Unmarshal([]byte(line), &e) == nil && (e.Level == "error" || e.Level == "fatal") {
			msgs = append(msgs, e.Msg)
		}
	}
	if len(msgs) == 0 {
		return ""
	}
	return ": " + strings.Join(msgs, "; ")
}

// writeEtc writes /etc/hosts, /etc/resolv.conf and /etc/hostname of an
// instance into dir, which only owner (-1: root) may enter.
func writeEtc(dir string, owner int, id string, ip net.IP) (bundleFiles, error) {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return bundleFiles{}, fmt.Errorf("localrt: %w", err)
	}
	if err := os.Chown(dir, owner, owner); err != nil {
		return bundleFiles{}, fmt.Errorf("localrt: %w", err)
	}
	f := bundleFiles{
		hosts:    filepath.Join(dir, "hosts"),
		resolv:   filepath.Join(dir, "resolv.conf"),
		hostname: filepath.Join(dir, "hostname"),
	}
	hosts := fmt.Sprintf("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n%s\t%s\n", ip, id)
	for _, w := range []struct{ path, data string }{
		{f.hosts, hosts}, {f.resolv, resolvConf()}, {f.hostname, id + "\n"},
	} {
		if err := os.WriteFile(w.path, []byte(w.data), 0o644); err != nil {
			return f, fmt.Errorf("localrt: %w", err)
		}
	}
	return f, nil
}

// fallbackNameserver is used when the host's resolvers are all on its
// loopback, which an instance cannot reach: Tencent's public DNS.
const fallbackNameserver = "119.29.29.29"

// resolvConf is the host's resolv.conf without loopback name servers.
func resolvConf() string {
	b, _ := os.ReadFile("/etc/resolv.conf")
	var out []string
	servers := 0
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		if len(fields) >= 2 && fields[0] == "nameserver" {
			if ip := net.ParseIP(fields[1]); ip == nil || ip.IsLoopback() {
				continue
			}
			servers++
		}
		if len(fields) > 0 {
			out = append(out, line)
		}
	}
	if servers == 0 {
		out = append(out, "nameserver "+fallbackNameserver)
	}
	return strings.Join(out, "\n") + "\n"
}

// watch opens a pidfd on the container's init and starts waiting for its
// exit without a blocked thread.
func (in *instance) watch(pidFile string) error {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return fmt.Errorf("localrt: pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("localrt: pid file: %w", err)
	}
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return fmt.Errorf("localrt: pidfd_open %d: %w", pid, err)
	}
	in.pid = pid
	in.pidfd = os.NewFile(uintptr(fd), "pidfd")
	go in.wait()
	return nil
}

func (in *instance) wait() {
	if rc, err := in.pidfd.SyscallConn(); err == nil {
		// A pidfd becomes readable when the process exits.
		rc.Read(func(fd uintptr) bool {
			// On a non-blocking pidfd, waitid says EAGAIN while the
			// process runs; WNOWAIT leaves the zombie for Wait4 below.
			var info unix.Siginfo
			err := unix.Waitid(unix.P_PIDFD, int(fd), &info, unix.WEXITED|unix.WNOWAIT, nil)
			return !errors.Is(err, unix.EAGAIN)
		})
	}
	var ws unix.WaitStatus
	_, err := unix.Wait4(in.pid, &ws, 0, nil)
	r := sandbox.ExitReason{At: time.Now()}
	select {
	case <-in.stopping:
		r.Kind = sandbox.ExitStopped
	default:
		switch {
		case err != nil:
			// Not our child (no subreaper): the status is lost.
			r.Kind, r.Signal = sandbox.ExitSignal, 0
		case ws.Signaled() && in.cg.oomKills() > 0:
			r.Kind, r.Signal = sandbox.ExitOOM, int(ws.Signal())
		case ws.Signaled():
			r.Kind, r.Signal = sandbox.ExitSignal, int(ws.Signal())
		default:
			r.Kind, r.Code = sandbox.ExitCode, ws.ExitStatus()
		}
	}
	in.reason = r
	close(in.exited)
	// An instance whose process ended frees its resources by itself.
	go in.Stop(context.Background())
}

// waitReady runs the start-up check; a process that ended first yields
// its exit reason and last lines, once its output drained (not for long:
// a child of the server may hold the pipes open).
func (in *instance) waitReady(ctx context.Context, budget time.Duration) error {
	return sandbox.WaitReady(ctx, in.addr, in.d.readyPoll(), budget, in.exited, func() error {
		drained := make(chan struct{})
		go func() { in.pump.Wait(); close(drained) }()
		select {
		case <-drained:
		case <-time.After(200 * time.Millisecond):
		}
		return &sandbox.ExitError{Reason: in.reason, LastLines: in.pump.LastLines()}
	})
}

func (in *instance) ID() string                    { return in.id }
func (in *instance) Addr() string                  { return in.addr }
func (in *instance) Phases() sandbox.Phases        { return in.phases }
func (in *instance) State() sandbox.State          { return in.state.Get() }
func (in *instance) Exited() <-chan struct{}       { return in.exited }
func (in *instance) Stats() (sandbox.Stats, error) { return in.cg.stats() }
func (in *instance) ResetPeak() error              { return in.cg.resetPeak() }

// SyncLogs returns once every line the process printed so far reached the
// Logs sink, or max passed.
func (in *instance) SyncLogs(max time.Duration) { in.pump.Sync(max) }

// Dropped counts the output lines dropped because the log reader was slow.
func (in *instance) Dropped() uint64 { return in.pump.Dropped() }

func (in *instance) SetState(s sandbox.State) error { return in.state.SetByCaller(s) }

func (in *instance) ExitReason() sandbox.ExitReason { return sandbox.ReasonOnce(in.exited, &in.reason) }

// Stop kills the container and removes everything it held. Concurrent
// calls wait for the one that does the work.
func (in *instance) Stop(ctx context.Context) error {
	in.stopOnce.Do(func() {
		in.state.Stop()
		in.stopErr = in.teardown(ctx)
		in.state.Set(sandbox.Gone)
		in.d.mu.Lock()
		delete(in.d.live, in.id)
		in.d.mu.Unlock()
		close(in.stopDone)
	})
	select {
	case <-in.stopDone:
		return in.stopErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (in *instance) teardown(ctx context.Context) error {
	ctx = context.WithoutCancel(ctx)
	in.cg.close()
	var errs []error
	if in.pidfd != nil {
		select {
		case <-in.exited:
		default:
			close(in.stopping)
			// SIGKILL to the init of a pid namespace kills all of it.
			if err := unix.PidfdSendSignal(int(in.pidfd.Fd()), unix.SIGKILL, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("localrt: kill %s: %w", in.id, err))
			}
			<-in.exited
		}
		in.pidfd.Close()
	}
	// The runtime forgets the container and removes its cgroup; after a
	// failed create it may not know the container at all.
	if err := in.d.rt.Delete(ctx, in.id, &runc.DeleteOpts{Force: true}); err != nil && !strings.Contains(err.Error(), "not exist") {
		errs = append(errs, fmt.Errorf("localrt: delete %s: %w", in.id, err))
	}
	if in.pump != nil {
		in.pump.Wait()
	}
	if in.rootfs != nil {
		errs = append(errs, in.rootfs.Release())
	}
	if in.att != nil {
		errs = append(errs, in.d.net.Teardown(ctx, in.att))
		in.d.disown(in)
	}
	for _, d := range []string{in.bundle, in.etc()} {
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, fmt.Errorf("localrt: %w", err))
		}
	}
	return errors.Join(errs...)
}

// etc is the directory of the files bind-mounted on the instance's /etc:
// the instance reaches it from inside its user namespace.
func (in *instance) etc() string { return filepath.Join(in.d.opts.RunDir, "etc", in.id) }
