// Package nice runs work done ahead of demand at the lowest CPU priority,
// Linux's SCHED_IDLE, so that on a busy machine it takes no CPU time from
// the work it is done for (scfd's cold starts and their first requests).
// SCHED_IDLE rather than nice 19: a niced task still runs out its time
// slice when a normal one wakes up (a few milliseconds, at each of the
// many wake-ups of a server's start), an idle one is preempted at once.
//
// Linux keeps the scheduling policy per thread, and a process inherits
// the one of the thread that forked it: Background makes the OS thread
// its goroutine is locked to idle, so the processes it forks meanwhile
// (runc create and the container's init, mkfs) are idle too. Go clones
// new threads from a template thread, not from a locked one, so no
// other goroutine runs idle. Set gives a process forked that way, every
// thread of it, the normal policy back.
package nice

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// Background runs the calling goroutine on an OS thread of its own with
// the SCHED_IDLE policy, until it calls the function returned, which
// gives the thread its policy back and unlocks it. On error nothing
// changed.
func Background() (restore func(), err error) {
	runtime.LockOSThread()
	// pid 0 is the calling thread.
	was, err := unix.SchedGetAttr(0, 0)
	if err == nil {
		err = unix.SchedSetAttr(0, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_IDLE}, 0)
	}
	if err != nil {
		runtime.UnlockOSThread()
		return func() {}, fmt.Errorf("nice: the background thread: %w", err)
	}
	return func() {
		if unix.SchedSetAttr(0, was, 0) == nil {
			runtime.UnlockOSThread()
		} // else the thread ends with the goroutine
	}, nil
}

// Process is the nice value of the calling thread: the process's own,
// outside Background.
func Process() int {
	prio, err := unix.Getpriority(unix.PRIO_PROCESS, 0)
	if err != nil {
		return 0
	}
	return 20 - prio
}

// Set gives every thread of process pid the normal scheduling policy at
// nice value n; nothing when the process is gone.
func Set(pid, n int) error {
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("nice: threads of %d: %w", pid, err)
	}
	attr := &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_NORMAL, Nice: int32(n)}
	var errs []error
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetAttr(tid, attr, 0); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("nice: thread %d: %w", tid, err))
		}
	}
	return errors.Join(errs...)
}

// Idle reports whether thread tid runs with the SCHED_IDLE policy.
func Idle(tid int) (bool, error) {
	a, err := unix.SchedGetAttr(tid, 0)
	if err != nil {
		return false, fmt.Errorf("nice: thread %d: %w", tid, err)
	}
	return a.Policy == unix.SCHED_IDLE, nil
}
