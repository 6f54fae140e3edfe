// Package nice runs work done ahead of demand at the lowest CPU priority,
// so that on a busy machine it takes no CPU time from the work it is
// done for (scfd's cold starts and their first requests).
//
// Linux keeps the nice value per thread, and a process inherits the one
// of the thread that forked it: Background nices the OS thread its
// goroutine is locked to, so the processes it forks meanwhile (runc
// create and the container's init, mkfs) run niced too. Go clones new
// threads from a template thread, not from a locked one, so no other
// goroutine runs niced. Set gives a process forked that way, every
// thread of it, another priority later.
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

// Lowest is the nice value of background work.
const Lowest = 19

// Background runs the calling goroutine on an OS thread of its own at
// nice Lowest, until it calls the function returned, which gives the
// thread its nice value back and unlocks it. On error nothing changed.
func Background() (restore func(), err error) {
	runtime.LockOSThread()
	// PRIO_PROCESS 0 is the calling thread; the raw system call returns
	// 20 - nice.
	prio, err := unix.Getpriority(unix.PRIO_PROCESS, 0)
	if err == nil {
		err = unix.Setpriority(unix.PRIO_PROCESS, 0, Lowest)
	}
	if err != nil {
		runtime.UnlockOSThread()
		return func() {}, fmt.Errorf("nice: the background thread: %w", err)
	}
	return func() {
		if unix.Setpriority(unix.PRIO_PROCESS, 0, 20-prio) == nil {
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

// Set gives every thread of process pid nice value n; nothing when the
// process is gone.
func Set(pid, n int) error {
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("nice: threads of %d: %w", pid, err)
	}
	var errs []error
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.Setpriority(unix.PRIO_PROCESS, tid, n); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("nice: thread %d: %w", tid, err))
		}
	}
	return errors.Join(errs...)
}

// Of is the nice value of thread tid.
func Of(tid int) (int, error) {
	prio, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
	if err != nil {
		return 0, fmt.Errorf("nice: thread %d: %w", tid, err)
	}
	return 20 - prio, nil
}
