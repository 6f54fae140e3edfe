package rootfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/moby/sys/mountinfo"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts loop devices and overlays")
	}
}

func lowerLayer(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	if err := os.MkdirAll(filepath.Join(d, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "etc", "image-file"), []byte("from image"), 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

func newManager(t *testing.T, pool int) (*Manager, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "rootfs")
	m, err := New(context.Background(), Options{Dir: dir, Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Close()
		m.Cleanup(context.Background())
	})
	return m, dir
}

func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	ms, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.Mountpoint)
	}
	return out
}

func writeMB(path string, mb int) (int, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for i := 0; i < mb; i++ {
		if _, err := f.Write(buf); err != nil {
			return i, err
		}
	}
	return mb, f.Sync()
}

func TestMountLayout(t *testing.T) {
	needRoot(t)
	m, _ := newManager(t, 0)
	r, err := m.Mount(context.Background(), "ins-1", []string{lowerLayer(t)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	b, err := os.ReadFile(filepath.Join(r.Path(), "etc", "image-file"))
	if err != nil || string(b) != "from image" {
		t.Fatalf("image file = %q, %v", b, err)
	}
	fi, err := os.Stat(filepath.Join(r.Path(), "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode() & (os.ModePerm | os.ModeSticky); got != 0o777|os.ModeSticky {
		t.Errorf("/tmp mode = %v, want sticky 0777", got)
	}
	if fi, err := os.Stat(filepath.Join(r.Path(), "var", "user")); err != nil || !fi.IsDir() {
		t.Errorf("/var/user: %v", err)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Join(r.Path(), "tmp"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Type == 0x01021994 { // TMPFS_MAGIC
		t.Error("/tmp is a tmpfs")
	}
}

// The writable layer takes 400 MB and refuses to grow past 512 MB.
func TestWritableLayerSize(t *testing.T) {
	needRoot(t)
	m, _ := newManager(t, 0)
	r, err := m.Mount(context.Background(), "ins-1", []string{lowerLayer(t)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	if _, err := writeMB(filepath.Join(r.Path(), "tmp", "a"), 400); err != nil {
		t.Fatalf("write 400 MB: %v", err)
	}
	if err := os.Remove(filepath.Join(r.Path(), "tmp", "a")); err != nil {
		t.Fatal(err)
	}
	n, err := writeMB(filepath.Join(r.Path(), "tmp", "b"), 600)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write 600 MB: wrote %d MB, err = %v, want no space left on device", n, err)
	}
	if n < 480 || n > 512 {
		t.Errorf("layer took %d MB before ENOSPC, want about 512", n)
	}
}

func TestReleaseLeavesNothing(t *testing.T) {
	needRoot(t)
	m, dir := newManager(t, 2)
	lower := lowerLayer(t)
	var rs []*RootFS
	for _, id := range []string{"a", "b", "c"} {
		r, err := m.Mount(context.Background(), id, []string{lower}, nil)
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	for _, r := range rs {
		if err := r.Release(); err != nil {
			t.Fatal(err)
		}
		if err := r.Release(); err != nil {
			t.Fatalf("second Release: %v", err)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if got := mountsUnder(t, dir); len(got) != 0 {
		t.Errorf("mounts left: %v", got)
	}
	for _, sub := range []string{"layers", "wl", "roots"} {
		if ents, _ := os.ReadDir(filepath.Join(dir, sub)); len(ents) != 0 {
			t.Errorf("%s not empty: %d entries", sub, len(ents))
		}
	}
}

// A new Manager over a directory with mounted root file systems removes
// them all.
func TestNewCleansLeftovers(t *testing.T) {
	needRoot(t)
	dir := filepath.Join(t.TempDir(), "rootfs")
	m1, err := New(context.Background(), Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m1.Mount(context.Background(), "left", []string{lowerLayer(t)}, nil); err != nil {
		t.Fatal(err)
	}
	// m1 is abandoned, as if the process died.
	m2, err := New(context.Background(), Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if got := mountsUnder(t, dir); len(got) != 0 {
		t.Errorf("mounts left: %v", got)
	}
	b, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(b), dir) {
		t.Error("mountinfo still names the directory")
	}
}

// With an IDMap, the image's files show as owned by the user namespace's
// root, the writable layer's directories belong to it, and releasing the
// root file system unmounts the idmapped layers too.
func TestMountIDMapped(t *testing.T) {
	needRoot(t)
	const root = 1<<30 + 5<<16
	cmd := exec.Command("sleep", "60")
	ids := []syscall.SysProcIDMap{{ContainerID: 0, HostID: root, Size: 65536}}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER, UidMappings: ids, GidMappings: ids}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	m, dir := newManager(t, 0)
	r, err := m.Mount(context.Background(), "ins-1", []string{lowerLayer(t), lowerLayer(t)},
		&IDMap{UserNS: fmt.Sprintf("/proc/%d/ns/user", cmd.Process.Pid), Root: root})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"etc/image-file", "", "tmp", "var/user"} {
		var st syscall.Stat_t
		if err := syscall.Stat(filepath.Join(r.Path(), p), &st); err != nil {
			t.Fatal(err)
		}
		if st.Uid != root || st.Gid != root {
			t.Errorf("/%s is owned by %d:%d, want the namespace's root %d", p, st.Uid, st.Gid, root)
		}
	}
	if n := len(mountsUnder(t, filepath.Join(dir, "idmapped"))); n != 2 {
		t.Errorf("%d idmapped layers mounted, want 2", n)
	}
	if err := r.Release(); err != nil {
		t.Fatal(err)
	}
	if left := mountsUnder(t, dir); len(left) != 0 {
		t.Errorf("mounts left after Release: %v", left)
	}
}
