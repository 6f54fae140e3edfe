package nice

import (
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

// A process forked in Background runs idle and can be given the normal
// policy back; the thread gets its own back.
func TestBackground(t *testing.T) {
	base := Process()
	restore, err := Background()
	if err != nil {
		t.Fatal(err)
	}
	if idle, _ := Idle(unix.Gettid()); !idle {
		t.Error("the background thread is not idle")
	}
	cmd := exec.Command("sleep", "10")
	if err := cmd.Start(); err != nil {
		restore()
		t.Fatal(err)
	}
	tid := unix.Gettid()
	restore()
	if idle, _ := Idle(tid); idle {
		t.Error("the thread is idle after restore")
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	if idle, _ := Idle(cmd.Process.Pid); !idle {
		t.Error("a process forked in the background is not idle")
	}
	if unix.Geteuid() != 0 {
		return // leaving SCHED_IDLE needs CAP_SYS_NICE
	}
	if err := Set(cmd.Process.Pid, base); err != nil {
		t.Fatal(err)
	}
	if idle, _ := Idle(cmd.Process.Pid); idle {
		t.Error("idle after Set")
	}
	if n := niceOf(t, cmd.Process.Pid); n != base {
		t.Errorf("after Set: nice %d, want %d", n, base)
	}
	if err := Set(1<<22+1, 0); err != nil {
		t.Errorf("Set of no process: %v", err)
	}
}

func niceOf(t *testing.T, tid int) int {
	prio, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
	if err != nil {
		t.Fatal(err)
	}
	return 20 - prio
}
