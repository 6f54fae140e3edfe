package localrt

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/scfd/scfd/internal/sandbox"
)

const cgroupRoot = "/sys/fs/cgroup"

// unified reports whether the host runs cgroup v2 only.
func unified() bool {
	var st unix.Statfs_t
	return unix.Statfs(cgroupRoot, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// memCgroup is the memory cgroup directory of one instance.
type memCgroup struct {
	dir string
	v2  bool
}

func newMemCgroup(cgroupsPath string) memCgroup {
	if unified() {
		return memCgroup{dir: filepath.Join(cgroupRoot, cgroupsPath), v2: true}
	}
	return memCgroup{dir: filepath.Join(cgroupRoot, "memory", cgroupsPath)}
}

func readUint(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}

// stats reads current and peak usage: memory.usage_in_bytes and
// memory.max_usage_in_bytes on v1, memory.current and memory.peak on v2.
func (c memCgroup) stats() (sandbox.Stats, error) {
	cur, peak := "memory.usage_in_bytes", "memory.max_usage_in_bytes"
	if c.v2 {
		cur, peak = "memory.current", "memory.peak"
	}
	var s sandbox.Stats
	var err error
	if s.MemoryBytes, err = readUint(filepath.Join(c.dir, cur)); err != nil {
		return s, fmt.Errorf("localrt: memory usage: %w", err)
	}
	if s.MemoryPeakBytes, err = readUint(filepath.Join(c.dir, peak)); err != nil {
		return s, fmt.Errorf("localrt: memory peak: %w", err)
	}
	return s, nil
}

// resetPeak starts a new peak: writing to memory.max_usage_in_bytes on v1
// or memory.peak on v2 (Linux 6.12+) sets it to the current usage.
func (c memCgroup) resetPeak() error {
	name := "memory.max_usage_in_bytes"
	if c.v2 {
		name = "memory.peak"
	}
	if err := os.WriteFile(filepath.Join(c.dir, name), []byte("0"), 0); err != nil {
		return fmt.Errorf("localrt: reset memory peak: %w", err)
	}
	return nil
}

// oomKills reads how many processes the kernel killed for memory: the
// oom_kill line of memory.oom_control (v1) or memory.events (v2).
func (c memCgroup) oomKills() uint64 {
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
