package localrt

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// Work done ahead of demand (the next container of a spec that just
// started, the pooled network namespaces) runs at the lowest CPU priority,
// so that on a busy machine it takes no CPU time from the starts and the
// first requests it is preparing for: a background `runc create` is
// about 100 ms of CPU, and on 2 cores it otherwise halves the speed of
// the start before it, and of that start's first request.
//
// Linux keeps the nice value per thread, and a process inherits the one
// of the thread that forked it: lowPriority nices the OS thread its
// goroutine is locked to while it prepares, so the runtime processes it
// forks (runc create, and the container's init that runc forks) run niced
// too. Go clones new threads from a template thread, not from a locked
// one, so no other goroutine runs niced. A container prepared that way
// gets scfd's own priority back when it starts, before its init execs
// the function's process.

// backgroundNice is the nice value of work done ahead of demand.
const backgroundNice = 19

// priority is the CPU priority a container was prepared at.
type priority int

const (
	foreground priority = iota // the driver's own: on a call's or a deploy's path
	background                 // backgroundNice: ahead of demand (lowPriority)
)

// lowPriority runs the calling goroutine on an OS thread of its own at
// nice backgroundNice, until it calls the function returned, which gives
// the thread its nice value back and unlocks it.
func lowPriority() (restore func(), err error) {
	runtime.LockOSThread()
	// Linux: PRIO_PROCESS 0 is the calling thread; the raw system call
	// returns 20 - nice.
	prio, err := unix.Getpriority(unix.PRIO_PROCESS, 0)
	if err == nil {
		err = unix.Setpriority(unix.PRIO_PROCESS, 0, backgroundNice)
	}
	if err != nil {
		runtime.UnlockOSThread()
		return func() {}, fmt.Errorf("localrt: nice the background thread: %w", err)
	}
	return func() {
		if unix.Setpriority(unix.PRIO_PROCESS, 0, 20-prio) == nil {
			runtime.UnlockOSThread()
		} // else the thread ends with the goroutine
	}, nil
}

// processNice is the nice value scfd runs at.
func processNice() int {
	prio, err := unix.Getpriority(unix.PRIO_PROCESS, 0)
	if err != nil {
		return 0
	}
	return 20 - prio
}

// setPriority gives every thread of process pid nice value nice; nothing
// when the process is gone.
func setPriority(pid, nice int) error {
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if errors.Is(err, fs.ErrNotExist) {
		return nil // it died: the start finds out
	}
	if err != nil {
		return fmt.Errorf("localrt: threads of %d: %w", pid, err)
	}
	var errs []error
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.Setpriority(unix.PRIO_PROCESS, tid, nice); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("localrt: priority of thread %d: %w", tid, err))
		}
	}
	return errors.Join(errs...)
}
