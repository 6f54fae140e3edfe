// Package localrt is scfd's local sandbox driver: it runs each instance as
// a container of an OCI runtime binary (runc by default; crun and runsc
// take the same commands) on this host.
//
// A start takes a writable root file system from internal/rootfs, a
// network namespace from internal/netns, writes an OCI bundle (runtime-spec
// types) and drives the runtime the way containerd does, through
// github.com/containerd/go-runc: "create" detached with the container's
// stdout and stderr on pipes that scfd reads, then "start". No shim process
// stays behind: scfd makes itself a child subreaper
// (PR_SET_CHILD_SUBREAPER), so each container's init becomes scfd's child
// when the runtime exits, and scfd learns of its exit through a pidfd
// watched by the Go netpoller — no thread per instance.
//
// Writable layers and network namespaces are prepared ahead of demand
// (Options.Pool of each), so a cold start is the runtime's create and
// start plus the server's own start-up. Whole containers can be prepared
// too (Options.Spares, Prepare: sandbox.Preparer), created by the runtime
// with their process waiting, so that a start only starts the process;
// they are kept within Options.PreparedMaxMemory, the least recently
// prepared or started specs' going first.
//
// Everything lives under Options.DataDir: runc/ (the runtime's --root),
// bundles/, rootfs/, net/. New removes whatever a previous run left there
// — runtime containers, mounts, namespaces, leases, cgroups — before it
// returns.
package localrt

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	runc "github.com/containerd/go-runc"
	"golang.org/x/sys/unix"

	"github.com/scfd/scfd/internal/netns"
	"github.com/scfd/scfd/internal/nice"
	"github.com/scfd/scfd/internal/rootfs"
	"github.com/scfd/scfd/internal/sandbox"
	"github.com/scfd/scfd/internal/userns"
)

// Defaults of Options.
const (
	DefaultRuntime      = "runc"
	DefaultCgroupParent = "scfd"
	DefaultPool         = 2
	DefaultPoll         = time.Millisecond
)

// Options configures a Driver.
type Options struct {
	// DataDir holds all of the driver's state. Required.
	DataDir string
	// Runtime is the OCI runtime binary. Empty means $SCFD_OCI_RUNTIME,
	// and DefaultRuntime when that is unset.
	Runtime string
	// Account fills the built-in environment variables.
	Account sandbox.Account
	// CgroupParent is the cgroup under which instances' cgroups are made.
	// Empty means DefaultCgroupParent.
	CgroupParent string
	// Network configures the instances' network; its Dir is set to
	// DataDir/net. Zero values take netns's defaults.
	Network netns.Options
	// RunDir holds what an instance in a user namespace of its own must
	// reach by path from inside it: the mount points of the root file
	// systems and the /etc files bind-mounted into them, under
	// directories others may search. Empty means a directory of this
	// DataDir's own under DefaultRunDir.
	RunDir string
	// HostUserNamespace runs instances in the host's user namespace, so
	// that root in a container is root on the host. False, the default,
	// gives each instance a user namespace of its own with host IDs no
	// other instance has (package userns), owning its network namespace;
	// its image layers are mounted idmapped.
	HostUserNamespace bool
	// Pool is how many writable layers and network namespaces to keep
	// ready. Zero means DefaultPool; negative means none.
	Pool int
	// Poll is the interval of the start-up connection check. Zero means
	// DefaultPoll (1 ms). With more starts in flight than CPUs, it is
	// multiplied by the starts in flight per CPU (at most 50 ms).
	Poll time.Duration
	// Logger receives background errors. Nil discards them.
	Logger *slog.Logger
	// Spares is how many containers to keep prepared ahead for each spec
	// that was started or prepared (Prepare): its runtime create done, its
	// process waiting, so that the next start of the same spec only starts
	// a process. Zero (the default) prepares none.
	Spares int
	// PreparedMaxMemory bounds the memory the prepared containers hold,
	// in bytes, each counted as its cgroup's usage after the create plus
	// PreparedKernelOverhead: the containers of the specs least recently
	// prepared or started go first. They are also at most a quarter of
	// the network's addresses. Zero means DefaultPreparedMaxMemory().
	PreparedMaxMemory int64
}

// Driver runs instances with a local OCI runtime. It implements
// sandbox.Driver.
type Driver struct {
	opts   Options
	log    *slog.Logger
	rt     *runc.Runc
	rootfs *rootfs.Manager
	net    *netns.Manager
	nets   *pool[*netns.Attachment]

	mu     sync.Mutex
	live   map[string]*instance
	owners map[string]*owner // network attachment id → instance, for Egress

	// Containers prepared ahead (see Options.Spares), by spareKey, and
	// all of them least recently used first.
	spares     map[string][]*spare
	lru        *list.List
	preparing  map[string]*preparation // at most one per key
	spareBytes int64                   // costs of the spares and reservations of the preparations
	lastCost   int64                   // the last prepared container's cost: the next one's estimate
	maxSpares  int                     // a quarter of the network's addresses
	prepSem    chan struct{}           // background preparations running
	starting   atomic.Int32            // Start and StartPrepared calls in flight
	lastStart  atomic.Int64            // when the last of them, or of the Prepare calls, returned, in Unix nanoseconds
	fifoStart  bool                    // the runtime is runc: start by its exec FIFO (releaseInit)
	nice       int                     // scfd's nice value, which started containers get
	prepWG     sync.WaitGroup          // preparations in flight
	closing    bool
	closed     chan struct{} // closed when Close begins
	close      sync.Once
}

var _ sandbox.Driver = (*Driver)(nil)

// New makes the driver's directories, removes what a previous run left in
// them, and starts preparing writable layers and network namespaces.
func New(ctx context.Context, opts Options) (_ *Driver, err error) {
	if opts.DataDir == "" {
		return nil, errors.New("localrt: DataDir is required")
	}
	dir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, err
	}
	opts.DataDir = dir
	if opts.Runtime == "" {
		opts.Runtime = os.Getenv("SCFD_OCI_RUNTIME")
	}
	if opts.Runtime == "" {
		opts.Runtime = DefaultRuntime
	}
	if opts.CgroupParent == "" {
		opts.CgroupParent = DefaultCgroupParent
	}
	if opts.RunDir == "" {
		sum := sha256.Sum256([]byte(dir))
		opts.RunDir = filepath.Join(DefaultRunDir, hex.EncodeToString(sum[:6]))
	}
	if err := searchable(opts.RunDir); err != nil {
		return nil, err
	}
	if opts.Pool == 0 {
		opts.Pool = DefaultPool
	}
	if opts.Poll == 0 {
		opts.Poll = DefaultPoll
	}
	if opts.PreparedMaxMemory == 0 {
		opts.PreparedMaxMemory = DefaultPreparedMaxMemory()
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Containers' init processes are re-parented to scfd when the runtime
	// exits, so that scfd can reap them and read their exit status.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("localrt: become subreaper: %w", err)
	}
	d := &Driver{
		opts: opts, log: log, live: map[string]*instance{}, owners: map[string]*owner{},
		spares: map[string][]*spare{}, lru: list.New(), preparing: map[string]*preparation{},
		lastCost: PreparedKernelOverhead + 4<<20, prepSem: make(chan struct{}, backgroundPreparations()),
		closed: make(chan struct{}), fifoStart: filepath.Base(opts.Runtime) == "runc",
		nice: nice.Process(),
		rt:   &runc.Runc{Command: opts.Runtime, Root: filepath.Join(dir, "runc")},
	}
	for _, sub := range []string{"runc", "bundles"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("localrt: %w", err)
		}
	}
	// Containers first: they hold the mounts and namespaces.
	if err := d.removeContainers(ctx); err != nil {
		return nil, err
	}
	if err := removeCgroups(opts.CgroupParent); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(filepath.Join(opts.RunDir, "etc")); err != nil {
		return nil, fmt.Errorf("localrt: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(opts.RunDir, "etc"), 0o711); err != nil {
		return nil, fmt.Errorf("localrt: %w", err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "bundles")); err != nil {
		return nil, fmt.Errorf("localrt: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "bundles"), 0o700); err != nil {
		return nil, fmt.Errorf("localrt: %w", err)
	}
	pool := max(opts.Pool, 0)
	d.rootfs, err = rootfs.New(ctx, rootfs.Options{
		Dir: filepath.Join(dir, "rootfs"), RootsDir: filepath.Join(opts.RunDir, "roots"), Pool: pool, Logger: log,
		Quiet: d.quiet,
	})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			d.rootfs.Close()
		}
	}()
	nopts := opts.Network
	nopts.Dir = filepath.Join(dir, "net")
	if !opts.HostUserNamespace && nopts.Users == nil {
		if nopts.Users, err = userns.NewAllocator(""); err != nil {
			return nil, err
		}
	}
	if nopts.Logger == nil {
		nopts.Logger = log
	}
	d.net, err = netns.New(ctx, nopts)
	if err != nil {
		return nil, err
	}
	ones, bits := d.net.Subnet().Mask.Size()
	d.maxSpares = max(1, (1<<(bits-ones)-3)/4)
	d.nets = newPool(pool, func() (*netns.Attachment, error) {
		return d.net.Setup(context.Background(), "n"+randomID())
	}, func(a *netns.Attachment) {
		if err := d.net.Teardown(context.Background(), a); err != nil {
			log.Warn("localrt: release pooled network", "err", err)
		}
	}, d.quiet, log)
	return d, nil
}

// DefaultRunDir is where each driver's RunDir is made by default.
const DefaultRunDir = "/run/scfd/instances"

// searchable makes dir and its parents up to the root directory, and lets
// others search each of them (o+x) without listing it.
func searchable(dir string) error {
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return fmt.Errorf("localrt: %w", err)
	}
	for d := dir; d != "/" && d != "."; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("localrt: %w", err)
		}
		if st.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(d, st.Mode().Perm()|0o111); err != nil {
				return fmt.Errorf("localrt: %w", err)
			}
		}
	}
	return nil
}

// removeContainers kills and deletes every container in the runtime's
// root: after a restart, none of them belongs to anyone.
func (d *Driver) removeContainers(ctx context.Context) error {
	cs, err := d.rt.List(ctx)
	if err != nil {
		return fmt.Errorf("localrt: list containers: %w", err)
	}
	var errs []error
	for _, c := range cs {
		if err := d.rt.Delete(ctx, c.ID, &runc.DeleteOpts{Force: true}); err != nil {
			errs = append(errs, fmt.Errorf("localrt: delete leftover container %s: %w", c.ID, err))
		}
	}
	return errors.Join(errs...)
}

// Close stops every live instance and releases the prepared pools. The
// firewall chains stay.
func (d *Driver) Close(ctx context.Context) error {
	var errs []error
	d.close.Do(func() {
		d.mu.Lock()
		d.closing = true
		close(d.closed)
		d.spares, d.spareBytes = map[string][]*spare{}, 0
		d.lru.Init()
		d.mu.Unlock()
		d.prepWG.Wait()
		d.mu.Lock()
		live := make([]*instance, 0, len(d.live))
		for _, in := range d.live {
			live = append(live, in)
		}
		d.mu.Unlock()
		for _, in := range live {
			errs = append(errs, in.Stop(ctx))
		}
		d.nets.close()
		errs = append(errs, d.rootfs.Close())
		removeCgroupParent(d.opts.CgroupParent)
		// The run directory goes if nothing is left in it (Remove does
		// not descend).
		for _, sub := range []string{"roots", "etc", ""} {
			os.Remove(filepath.Join(d.opts.RunDir, sub))
		}
	})
	return errors.Join(errs...)
}

// Network is the driver's network manager (for its subnet and leak checks).
func (d *Driver) Network() *netns.Manager { return d.net }

// Leftovers lists what the driver's directories and the host still hold
// of instances: runtime containers, cgroups, network namespaces, leases,
// mounts. Empty after Close, or after every instance stopped and the pools
// were drained.
func (d *Driver) Leftovers(ctx context.Context) []string {
	var out []string
	if cs, err := d.rt.List(ctx); err == nil {
		for _, c := range cs {
			out = append(out, "container "+c.ID)
		}
	}
	for _, c := range cgroupsLeft(d.opts.CgroupParent) {
		out = append(out, "cgroup "+c)
	}
	for _, n := range d.net.Namespaces() {
		out = append(out, "netns "+n)
	}
	for _, l := range d.net.Leases() {
		out = append(out, "lease "+l)
	}
	for _, dir := range []string{d.opts.DataDir, d.opts.RunDir} {
		for _, m := range mountsUnder(dir) {
			out = append(out, "mount "+m)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(d.opts.RunDir, "etc")); len(ents) > 0 {
		out = append(out, fmt.Sprintf("%d /etc file sets", len(ents)))
	}
	return out
}
