package localrt

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/scfd/scfd/internal/sandbox"
)

const cgroupRoot = "/sys/fs/cgroup"

// unified reports whether the host runs cgroup v2 only.
func unified() bool {
	var st unix.Statfs_t
	return unix.Statfs(cgroupRoot, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// memCgroup is the memory cgroup directory of one instance. Its usage
// files are opened once and read with pread at every invocation; close
// releases them.
type memCgroup struct {
	dir string
	v2  bool

	mu            sync.Mutex
	current, peak *os.File // opened on first use
}

func newMemCgroup(cgroupsPath string) *memCgroup {
	if unified() {
		return &memCgroup{dir: filepath.Join(cgroupRoot, cgroupsPath), v2: true}
	}
	return &memCgroup{dir: filepath.Join(cgroupRoot, "memory", cgroupsPath)}
}

// files opens the usage files: memory.usage_in_bytes and
// memory.max_usage_in_bytes on v1, memory.current and memory.peak on v2.
func (c *memCgroup) files() (current, peak *os.File, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.peak != nil {
		return c.current, c.peak, nil
	}
	cur, pk := "memory.usage_in_bytes", "memory.max_usage_in_bytes"
	if c.v2 {
		cur, pk = "memory.current", "memory.peak"
	}
	if c.current, err = os.Open(filepath.Join(c.dir, cur)); err != nil {
		return nil, nil, err
	}
	if c.peak, err = os.OpenFile(filepath.Join(c.dir, pk), os.O_RDWR, 0); err != nil {
		c.current.Close()
		c.current = nil
		return nil, nil, err
	}
	return c.current, c.peak, nil
}

// close releases the usage files.
func (c *memCgroup) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.peak != nil {
		c.current.Close()
		c.peak.Close()
		c.current, c.peak = nil, nil
	}
}

func readUintAt(f *os.File) (uint64, error) {
	var buf [32]byte
	n, err := f.ReadAt(buf[:], 0)
	if n == 0 && err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(buf[:n])), 10, 64)
}

// stats reads current and peak usage.
func (c *memCgroup) stats() (sandbox.Stats, error) {
	var s sandbox.Stats
	cur, peak, err := c.files()
	if err != nil {
		return s, fmt.Errorf("localrt: memory usage: %w", err)
	}
	if s.MemoryBytes, err = readUintAt(cur); err != nil {
		return s, fmt.Errorf("localrt: memory usage: %w", err)
	}
	if s.MemoryPeakBytes, err = readUintAt(peak); err != nil {
		return s, fmt.Errorf("localrt: memory peak: %w", err)
	}
	return s, nil
}

// resetPeak starts a new peak: writing to memory.max_usage_in_bytes on v1
// or memory.peak on v2 (Linux 6.12+) sets it to the current usage.
func (c *memCgroup) resetPeak() error {
	_, peak, err := c.files()
	if err == nil {
		_, err = peak.WriteAt([]byte("0"), 0)
	}
	if err != nil {
		return fmt.Errorf("localrt: reset memory peak: %w", err)
	}
	return nil
}

// oomKills reads how many processes the kernel killed for memory: the
// oom_kill line of memory.oom_control (v1) or memory.events (v2).
func (c *memCgroup) oomKills() uint64 {
	name := "memory.oom_control"
	if c.v2 {
		name = "memory.events"
	}
	b, err := os.ReadFile(filepath.Join(c.dir, name))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// removeCgroups kills whatever runs in the cgroups under parent and
// removes them, in every hierarchy.
func removeCgroups(parent string) error {
	var roots []string
	if unified() {
		roots = []string{filepath.Join(cgroupRoot, parent)}
	} else {
		ents, _ := os.ReadDir(cgroupRoot)
		for _, e := range ents {
			roots = append(roots, filepath.Join(cgroupRoot, e.Name(), parent))
		}
	}
	var errs []error
	for _, root := range roots {
		ents, err := os.ReadDir(root)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if !e.IsDir() {
				continue
			}
			dir := filepath.Join(root, e.Name())
			if b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs")); err == nil {
				for _, f := range strings.Fields(string(b)) {
					if pid, err := strconv.Atoi(f); err == nil {
						unix.Kill(pid, unix.SIGKILL)
					}
				}
			}
			if err := rmdirRetry(dir); err != nil {
				errs = append(errs, err)
			}
		}
		if err := unix.Rmdir(root); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EBUSY) {
			errs = append(errs, fmt.Errorf("localrt: remove cgroup %s: %w", root, err))
		}
	}
	return errors.Join(errs...)
}

// rmdirRetry removes a cgroup directory, retrying while its killed
// processes exit.
func rmdirRetry(dir string) error {
	var err error
	for i := 0; i < 200; i++ {
		err = unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) {
			break
		}
		pollSleep()
	}
	return fmt.Errorf("localrt: remove cgroup %s: %w", dir, err)
}

// cgroupsLeft lists the instance cgroups under parent, for leak checks.
func cgroupsLeft(parent string) []string {
	var out []string
	dirs := []string{filepath.Join(cgroupRoot, parent)}
	if !unified() {
		ents, _ := os.ReadDir(cgroupRoot)
		dirs = dirs[:0]
		for _, e := range ents {
			dirs = append(dirs, filepath.Join(cgroupRoot, e.Name(), parent))
		}
	}
	for _, d := range dirs {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if e.IsDir() {
				out = append(out, filepath.Join(d, e.Name()))
			}
		}
	}
	return out
}

// removeCgroupParent removes the (empty) parent cgroups of the instances.
func removeCgroupParent(parent string) {
	if unified() {
		unix.Rmdir(filepath.Join(cgroupRoot, parent))
		return
	}
	ents, _ := os.ReadDir(cgroupRoot)
	for _, e := range ents {
		unix.Rmdir(filepath.Join(cgroupRoot, e.Name(), parent))
	}
}
