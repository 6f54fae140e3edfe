package localrt

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// How runc starts a created container, and how scfd does the same
// without a process of runc's own.
//
// After `runc create`, the container's init (`runc init`, in every
// namespace of the container, its cgroup joined, its root pivoted) opens
// <runc root>/<id>/exec.fifo for writing and blocks there: opening a FIFO
// for writing waits for a reader. `runc start` opens the FIFO for reading
// (libcontainer's Container.exec: awaitFifoOpen, handleFifoResult), which
// lets init's open return; init writes one byte ("0"), closes its O_PATH
// descriptor of the FIFO and execs the container's process, which closes
// its write end (O_CLOEXEC). runc reads until that end of file, fails with
// "cannot start an already running container" when it read nothing, and
// removes the FIFO: runc tells a created container from a running one by
// that FIFO alone (runc state, kill and delete find "created" while it
// exists and init is alive, "running" once it is gone). When init died
// meanwhile, runc notices by polling its pid every 100 ms and fails with
// "container process is already dead", unless init had written its byte.
//
// releaseInit does the same from inside scfd, so that the prepared path
// spawns no runc binary (a Go program whose own start, on this machine,
// costs more than the rest of the start together). Two differences, both
// to wait on nothing that may never come: the FIFO is opened read-write
// and non-blocking, which never blocks, makes init's open return as a
// reader would, and parks the read on Go's netpoller (a read-write FIFO
// never reads an end of file, so a read that would block means init has
// not written yet, not that it is gone); and init's death is learnt from
// the instance's pidfd, at once, not by polling. Once the byte is read,
// init is past every step that could fail as runc's own error and only
// execs: what the process does from there is the readiness check's
// business, as after `runc start`.

// execFIFO is the name of runc's exec FIFO in a container's state
// directory.
const execFIFO = "exec.fifo"

// errNoExecFIFO says the fast start does not apply: the runtime keeps no
// exec FIFO where runc does.
var errNoExecFIFO = errors.New("localrt: no exec FIFO")

// errInitGone says a created container's init died before it was started:
// no code of the function ran.
var errInitGone = errors.New("localrt: the container's init died before its start")

// startProcess lets the created container's init exec the function's
// process: by its exec FIFO when the runtime is runc (releaseInit), by
// the runtime's start command otherwise.
func (in *instance) startProcess(ctx context.Context) error {
	if in.d.fifoStart {
		err := releaseInit(ctx, filepath.Join(in.d.rt.Root, in.id, execFIFO), in.exited)
		if !errors.Is(err, errNoExecFIFO) {
			return err
		}
	}
	if err := in.d.runtime(in.bundle).Start(ctx, in.id); err != nil {
		select {
		case <-in.exited:
			return fmt.Errorf("%w: %s start: %w%s", errInitGone, in.d.opts.Runtime, err, runtimeLog(in.bundle))
		default:
		}
		return fmt.Errorf("localrt: %s start: %w%s", in.d.opts.Runtime, err, runtimeLog(in.bundle))
	}
	return nil
}

// releaseInit does what `runc start` does to the created container whose
// exec FIFO is at path and whose init closes exited when it ends: it
// reads init's byte from the FIFO, so that init execs the container's
// process, and removes the FIFO, so that runc sees the container running.
// It returns errNoExecFIFO when path is not a FIFO, and errInitGone when
// init ended without writing.
func releaseInit(ctx context.Context, path string, exited <-chan struct{}) error {
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return errNoExecFIFO
	}
	if err != nil {
		return fmt.Errorf("localrt: exec FIFO: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || st.Mode().Type() != fs.ModeNamedPipe {
		return errNoExecFIFO
	}
	// The read waits on the netpoller; init's death or ctx ends it.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-exited:
		case <-ctx.Done():
		case <-stop:
			return
		}
		f.SetReadDeadline(time.Unix(1, 0))
	}()
	var b [1]byte
	n, err := f.Read(b[:])
	if errors.Is(err, os.ErrDeadlineExceeded) {
		select {
		case <-exited:
			// Init may have written its byte just before it died, as runc
			// allows: one more read that does not wait.
			f.SetReadDeadline(time.Time{})
			n, err = readNow(f, b[:])
			if n == 0 {
				return errInitGone
			}
		default:
			return ctx.Err()
		}
	}
	if err != nil {
		return fmt.Errorf("localrt: exec FIFO: %w", err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("localrt: exec FIFO: %w", err)
	}
	return nil
}

// readNow reads what f holds without waiting.
func readNow(f *os.File, b []byte) (n int, err error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	if cerr := rc.Read(func(fd uintptr) bool {
		n, err = unix.Read(int(fd), b)
		return true
	}); cerr != nil {
		return 0, cerr
	}
	if errors.Is(err, unix.EAGAIN) {
		return 0, nil
	}
	return max(n, 0), err
}
