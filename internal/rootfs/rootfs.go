// Package rootfs builds the root filesystem of an instance: an overlay of
// the image's cached layers (read-only, shared) under a per-instance
// writable layer.
//
// The writable layer is a sparse file of Options.SizeBytes (512 MB by
// default) formatted as ext4 and loop-mounted. That gives exactly what SCF
// promises: writes land on disk, not in memory (a tmpfs would be charged
// to the function's memory cgroup), and writing past the size fails with
// ENOSPC, for /tmp and every other path. The file system has no journal
// and no reserved blocks, since the layer dies with its instance, and the
// overlay is mounted "volatile" (no syncs to the upper layer).
//
// Why not project quotas: they need the data directory on XFS or on ext4
// formatted with the project feature, a per-instance project id, and still
// leave all instances sharing one file system's inode and journal locks.
// A loop file works on any host file system, needs nothing from the
// operator, and costs about 4 ms of mkfs plus 7 ms of mount (measured on
// the 2-core development machine), both of which the pool does ahead of
// demand: Options.Pool writable layers are kept formatted and mounted, so
// a start only mounts the overlay.
//
// Everything lives under Options.Dir: layers/ (the image files), wl/ (their
// mount points), roots/ (the overlay mount points), idmapped/ (per
// instance, the image layers as its user namespace sees them). Cleanup
// unmounts and deletes whatever a previous run left there.
package rootfs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/scfd/scfd/internal/nice"
	"github.com/scfd/scfd/internal/scf"
)

// Options configures a Manager.
type Options struct {
	// Dir holds every file and mount point. Required; it is created.
	Dir string
	// SizeBytes is the size of a writable layer. Zero means
	// scf.WritableLayerBytes (512 MB).
	SizeBytes int64
	// Pool is how many writable layers to keep formatted and mounted
	// ahead of demand. Zero means none: each Mount formats its own.
	Pool int
	// Quiet, when set, is called before each background refill of the
	// pool and waits for a moment its owner deems quiet (no instance
	// starting); false stops the refills. The refills run at the lowest
	// CPU priority (package nice).
	Quiet func() bool
	// Logger receives background errors. Nil discards them.
	Logger *slog.Logger
	// RootsDir holds the overlays' mount points. Empty means Dir/roots.
	// An instance in a user namespace of its own must be able to reach
	// its root from the host's root directory (runc bind-mounts it from
	// inside the namespace), so it must lie under directories others may
	// search (mode o+x), unlike Dir.
	RootsDir string
}

// Manager makes and removes root file systems.
type Manager struct {
	opts Options
	log  *slog.Logger

	pool   chan *layer
	refill chan struct{}
	stop   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
}

// layer is one mounted writable file system.
type layer struct {
	name string
	img  string // the sparse file
	mnt  string // where it is mounted
}

// RootFS is the mounted root file system of one instance.
type RootFS struct {
	m      *Manager
	path   string
	layer  *layer
	mapped string // the directory of its idmapped layers, if any
	once   sync.Once
	err    error
}

// IDMap fits a root file system to an instance's user namespace: the
// image layers are mounted idmapped through the namespace (a file the
// host's root owns shows as owned by the namespace's root), and the
// writable layer's directories belong to the namespace's root.
type IDMap struct {
	UserNS string // the user namespace's file, such as /proc/PID/ns/user
	Root   uint32 // the host ID of the namespace's root, user and group
}

// New removes what a previous run left under opts.Dir and returns a
// Manager. When opts.Pool > 0 it starts filling the pool in the background.
func New(ctx context.Context, opts Options) (*Manager, error) {
	if opts.Dir == "" {
		return nil, errors.New("rootfs: Dir is required")
	}
	if opts.SizeBytes == 0 {
		opts.SizeBytes = scf.WritableLayerBytes
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.RootsDir == "" {
		opts.RootsDir = filepath.Join(opts.Dir, "roots")
	}
	m := &Manager{opts: opts, log: log, refill: make(chan struct{}, 1), stop: make(chan struct{})}
	if err := m.Cleanup(ctx); err != nil {
		return nil, err
	}
	for _, d := range []string{"layers", "wl", "idmapped"} {
		if err := os.MkdirAll(filepath.Join(opts.Dir, d), 0o700); err != nil {
			return nil, fmt.Errorf("rootfs: %w", err)
		}
	}
	if err := os.MkdirAll(opts.RootsDir, 0o711); err != nil {
		return nil, fmt.Errorf("rootfs: %w", err)
	}
	if opts.Pool > 0 {
		m.pool = make(chan *layer, opts.Pool)
		m.wg.Add(1)
		go m.fill()
		m.refill <- struct{}{}
	}
	return m, nil
}

// Cleanup unmounts every mount under the Manager's directory, deepest
// first, and deletes the directory's contents. Call it only when no
// instance made by this directory runs.
func (m *Manager) Cleanup(ctx context.Context) error {
	dir, err := filepath.Abs(m.opts.Dir)
	if err != nil {
		return err
	}
	roots, err := filepath.Abs(m.opts.RootsDir)
	if err != nil {
		return err
	}
	var mounts []*mountinfo.Info
	for _, prefix := range []string{roots, dir} {
		ms, err := mountinfo.GetMounts(mountinfo.PrefixFilter(prefix))
		if err != nil {
			return fmt.Errorf("rootfs: read mounts: %w", err)
		}
		mounts = append(mounts, ms...)
	}
	slices.SortFunc(mounts, func(a, b *mountinfo.Info) int { return len(b.Mountpoint) - len(a.Mountpoint) })
	var errs []error
	for _, mi := range mounts {
		if err := unix.Unmount(mi.Mountpoint, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("rootfs: unmount %s: %w", mi.Mountpoint, err))
		}
	}
	for _, d := range []string{roots, filepath.Join(dir, "idmapped"), filepath.Join(dir, "wl"), filepath.Join(dir, "layers")} {
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, fmt.Errorf("rootfs: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Close releases the pooled layers and stops filling the pool. Root file
// systems already handed out stay mounted until released.
func (m *Manager) Close() error {
	m.once.Do(func() { close(m.stop) })
	m.wg.Wait()
	var errs []error
	if m.pool != nil {
		for {
			select {
			case l := <-m.pool:
				errs = append(errs, m.removeLayer(l))
			default:
				return errors.Join(errs...)
			}
		}
	}
	return nil
}

func (m *Manager) fill() {
	defer m.wg.Done()
	for {
		select {
		case <-m.stop:
			return
		case <-m.refill:
		}
		for len(m.pool) < cap(m.pool) {
			select {
			case <-m.stop:
				return
			default:
			}
			if m.opts.Quiet != nil && !m.opts.Quiet() {
				return
			}
			l, err := m.backgroundLayer()
			if err != nil {
				m.log.Error("rootfs: prepare writable layer", "err", err)
				break
			}
			m.pool <- l
		}
	}
}

// backgroundLayer makes a layer for the pool at the lowest CPU priority.
func (m *Manager) backgroundLayer() (*layer, error) {
	restore, err := nice.Background()
	defer restore()
	if err != nil {
		m.log.Warn("rootfs: prepare writable layer", "err", err)
	}
	return m.newLayer()
}

// Mount builds the root file system of instance id over layers (bottom
// first) and returns it mounted. Root directories /tmp (mode 1777) and
// /var/user exist in it. ids, when not nil, fits it to the instance's user
// namespace.
func (m *Manager) Mount(ctx context.Context, id string, layers []string, ids *IDMap) (_ *RootFS, err error) {
	if len(layers) == 0 {
		return nil, errors.New("rootfs: no layers")
	}
	l, err := m.takeLayer()
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			m.removeLayer(l)
		}
	}()
	upper, work := filepath.Join(l.mnt, "upper"), filepath.Join(l.mnt, "work")
	r := &RootFS{m: m, layer: l}
	lowers := make([]string, len(layers))
	for i, d := range layers {
		lowers[len(layers)-1-i] = d
	}
	if ids != nil {
		r.mapped = filepath.Join(m.opts.Dir, "idmapped", id)
		defer func() {
			if err != nil {
				unmountAll(r.mapped)
			}
		}()
		if lowers, err = idmapLayers(r.mapped, lowers, ids.UserNS); err != nil {
			return nil, err
		}
		for _, d := range []string{"", "tmp", "var", "var/user"} {
			if err := os.Lchown(filepath.Join(upper, d), int(ids.Root), int(ids.Root)); err != nil {
				return nil, fmt.Errorf("rootfs: %w", err)
			}
		}
	}
	// The mount point is in a directory of its own that only the
	// instance's root (and the host's) may enter: RootsDir lets anyone
	// search it, so that the instance's root can reach its mount point.
	owner := filepath.Join(m.opts.RootsDir, id)
	if err := os.Mkdir(owner, 0o700); err != nil {
		return nil, fmt.Errorf("rootfs: %w", err)
	}
	target := filepath.Join(owner, "root")
	if err := os.Mkdir(target, 0o755); err == nil && ids != nil {
		err = os.Chown(owner, int(ids.Root), int(ids.Root))
	}
	if err != nil {
		os.RemoveAll(owner)
		return nil, fmt.Errorf("rootfs: %w", err)
	}
	mnt := mount.Mount{Type: "overlay", Source: "overlay", Options: []string{
		"lowerdir=" + strings.Join(lowers, ":"), "upperdir=" + upper, "workdir=" + work, "volatile",
	}}
	if err := mnt.Mount(target); err != nil {
		os.RemoveAll(owner)
		return nil, fmt.Errorf("rootfs: mount overlay: %w", err)
	}
	r.path = target
	return r, nil
}

// idmapLayers mounts each of layers, idmapped through the user namespace
// at userNS, on a directory of its own under dir, and returns those.
func idmapLayers(dir string, layers []string, userNS string) ([]string, error) {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("rootfs: %w", err)
	}
	ns, err := unix.Open(userNS, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("rootfs: user namespace: %w", err)
	}
	defer unix.Close(ns)
	out := make([]string, len(layers))
	for i, src := range layers {
		out[i] = filepath.Join(dir, strconv.Itoa(i))
		if err := os.Mkdir(out[i], 0o700); err != nil {
			return nil, fmt.Errorf("rootfs: %w", err)
		}
		tree, err := unix.OpenTree(unix.AT_FDCWD, src, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
		if err != nil {
			return nil, fmt.Errorf("rootfs: clone %s: %w", src, err)
		}
		err = unix.MountSetattr(tree, "", unix.AT_EMPTY_PATH, &unix.MountAttr{
			Attr_set: unix.MOUNT_ATTR_IDMAP | unix.MOUNT_ATTR_RDONLY, Userns_fd: uint64(ns),
		})
		if err == nil {
			err = unix.MoveMount(tree, "", unix.AT_FDCWD, out[i], unix.MOVE_MOUNT_F_EMPTY_PATH)
		}
		unix.Close(tree)
		if err != nil {
			return nil, fmt.Errorf("rootfs: idmap %s: %w", src, err)
		}
	}
	return out, nil
}

// unmountAll unmounts the directories under dir and removes it.
func unmountAll(dir string) error {
	ents, _ := os.ReadDir(dir)
	var errs []error
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("rootfs: unmount %s: %w", p, err))
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		errs = append(errs, fmt.Errorf("rootfs: %w", err))
	}
	return errors.Join(errs...)
}

// takeLayer returns a pooled layer, or makes one when the pool is empty.
func (m *Manager) takeLayer() (*layer, error) {
	if m.pool != nil {
		select {
		case l := <-m.pool:
			select {
			case m.refill <- struct{}{}:
			default:
			}
			return l, nil
		default:
			select {
			case m.refill <- struct{}{}:
			default:
			}
		}
	}
	return m.newLayer()
}

// newLayer formats and mounts a fresh writable layer.
func (m *Manager) newLayer() (_ *layer, err error) {
	var b [8]byte
	rand.Read(b[:])
	name := hex.EncodeToString(b[:])
	l := &layer{
		name: name,
		img:  filepath.Join(m.opts.Dir, "layers", name+".img"),
		mnt:  filepath.Join(m.opts.Dir, "wl", name),
	}
	defer func() {
		if err != nil {
			m.removeLayer(l)
		}
	}()
	f, err := os.OpenFile(l.img, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("rootfs: %w", err)
	}
	err = f.Truncate(m.opts.SizeBytes)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("rootfs: %w", err)
	}
	// No journal (the layer dies with its instance), no reserved blocks
	// (all 512 MB are the function's), lazy inode tables (fast mkfs).
	out, err := exec.Command("mkfs.ext4", "-q", "-F", "-O", "^has_journal", "-m", "0",
		"-E", "lazy_itable_init=1,nodiscard", l.img).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("rootfs: mkfs.ext4: %w: %s", err, strings.TrimSpace(string(out)))
	}
	if err := os.Mkdir(l.mnt, 0o700); err != nil {
		return nil, fmt.Errorf("rootfs: %w", err)
	}
	mnt := mount.Mount{Type: "ext4", Source: l.img, Options: []string{"loop", "noatime"}}
	if err := mnt.Mount(l.mnt); err != nil {
		return nil, fmt.Errorf("rootfs: mount writable layer: %w", err)
	}
	upper := filepath.Join(l.mnt, "upper")
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{
		{upper, 0o755}, {filepath.Join(l.mnt, "work"), 0o700},
		{filepath.Join(upper, "tmp"), 0o1777 | os.ModeSticky},
		{filepath.Join(upper, "var"), 0o755}, {filepath.Join(upper, "var", "user"), 0o755},
	} {
		if err := os.Mkdir(d.path, d.mode.Perm()); err != nil {
			return nil, fmt.Errorf("rootfs: %w", err)
		}
		if err := os.Chmod(d.path, d.mode); err != nil {
			return nil, fmt.Errorf("rootfs: %w", err)
		}
	}
	os.RemoveAll(filepath.Join(l.mnt, "lost+found"))
	return l, nil
}

func (m *Manager) removeLayer(l *layer) error {
	var errs []error
	if err := unix.Unmount(l.mnt, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		errs = append(errs, fmt.Errorf("rootfs: unmount %s: %w", l.mnt, err))
	}
	if err := os.Remove(l.mnt); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("rootfs: %w", err))
	}
	if err := os.Remove(l.img); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("rootfs: %w", err))
	}
	return errors.Join(errs...)
}

// Path is the mounted root directory.
func (r *RootFS) Path() string { return r.path }

// Release unmounts the overlay and the writable layer and deletes both.
// It is idempotent.
func (r *RootFS) Release() error {
	r.once.Do(func() {
		var errs []error
		if err := unix.Unmount(r.path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("rootfs: unmount %s: %w", r.path, err))
		}
		for _, d := range []string{r.path, filepath.Dir(r.path)} {
			if err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("rootfs: %w", err))
			}
		}
		if r.mapped != "" {
			errs = append(errs, unmountAll(r.mapped))
		}
		errs = append(errs, r.m.removeLayer(r.layer))
		r.err = errors.Join(errs...)
	})
	return r.err
}
