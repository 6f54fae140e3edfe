package nice

import (
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

// A process forked in Background runs niced and can be given another
// priority; the thread gets its own back.
func TestBackground(t *testing.T) {
	base := Process()
	restore, err := Background()
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := Of(unix.Gettid()); n != Lowest {
		t.Errorf("the background thread runs at nice %d, want %d", n, Lowest)
	}
	cmd := exec.Command("sleep", "10")
	if err := cmd.Start(); err != nil {
		restore()
		t.Fatal(err)
	}
	tid := unix.Gettid()
	restore()
	if n, _ := Of(tid); n != base {
		t.Errorf("the thread after restore runs at nice %d, want %d", n, base)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	if n, _ := Of(cmd.Process.Pid); n != Lowest {
		t.Errorf("a process forked in the background runs at nice %d, want %d", n, Lowest)
	}
	if unix.Geteuid() != 0 {
		return // raising a priority needs CAP_SYS_NICE
	}
	if err := Set(cmd.Process.Pid, base); err != nil {
		t.Fatal(err)
	}
	if n, _ := Of(cmd.Process.Pid); n != base {
		t.Errorf("after Set: nice %d, want %d", n, base)
	}
	if err := Set(1<<22+1, 0); err != nil {
		t.Errorf("Set of no process: %v", err)
	}
}
