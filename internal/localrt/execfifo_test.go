package localrt

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/scfd/scfd/internal/sandbox"
)

// runcState is `runc state` of a container of d, "" when runc does not
// know it.
func runcState(t *testing.T, d *Driver, id string) string {
	t.Helper()
	out, err := exec.Command(d.opts.Runtime, "--root", d.rt.Root, "state", id).Output()
	if err != nil {
		return ""
	}
	var st struct{ Status string }
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("runc state %s: %v: %s", id, err, out)
	}
	return st.Status
}

// created is a container of s created by the runtime, its process not
// started.
func created(d *Driver, s sandbox.Spec) (*instance, error) {
	s, _, err := d.check(s)
	if err != nil {
		return nil, err
	}
	return d.create(context.Background(), s)
}

// A container started through its exec FIFO, without `runc start`, is
// one runc knows as running: its FIFO is gone, and runc's kill and delete
// act on it as on any other. The same holds when `runc start` starts it
// (the fallback of runtimes other than runc).
func TestFIFOStartLeavesTheContainerToRunc(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fifoStart bool
	}{{"exec FIFO", true}, {"runc start", false}} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDriver(t)
			if !d.fifoStart {
				t.Fatalf("the driver of %q does not start by the exec FIFO", d.opts.Runtime)
			}
			d.fifoStart = tc.fifoStart
			ctx := context.Background()
			in, err := created(d, spec("fifo-start"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { in.Stop(ctx) })
			fifo := filepath.Join(d.rt.Root, in.id, execFIFO)
			if _, err := os.Stat(fifo); err != nil {
				t.Fatalf("a created container has no exec FIFO: %v", err)
			}
			if got := runcState(t, d, in.id); got != "created" {
				t.Fatalf("runc state before the start: %q, want created", got)
			}
			if err := in.begin(ctx, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			if got := runcState(t, d, in.id); got != "running" {
				t.Errorf("runc state after the start: %q, want running", got)
			}
			if _, err := os.Stat(fifo); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the exec FIFO after the start: %v, want it gone", err)
			}
			// The process is the function's server, not runc init.
			exe, err := os.Readlink("/proc/" + strconv.Itoa(in.pid) + "/exe")
			if err != nil || !strings.HasSuffix(exe, "/server") {
				t.Errorf("the container's process runs %q (%v), want the server", exe, err)
			}
			if out, err := exec.Command(d.opts.Runtime, "--root", d.rt.Root, "kill", in.id, "KILL").CombinedOutput(); err != nil {
				t.Fatalf("runc kill: %v: %s", err, out)
			}
			select {
			case <-in.Exited():
			case <-time.After(10 * time.Second):
				t.Fatal("runc kill did not end the container")
			}
			if r := in.ExitReason(); r.Kind != sandbox.ExitSignal || r.Signal != int(syscall.SIGKILL) {
				t.Errorf("exit reason after runc kill: %+v, want SIGKILL", r)
			}
			// The instance cleans up after its process by itself; runc's
			// own delete of the stopped container must work too.
			if out, err := exec.Command(d.opts.Runtime, "--root", d.rt.Root, "delete", in.id).CombinedOutput(); err != nil &&
				!strings.Contains(string(out), "not exist") {
				t.Errorf("runc delete: %v: %s", err, out)
			}
			if err := in.Stop(ctx); err != nil {
				t.Errorf("Stop: %v", err)
			}
			if got := runcState(t, d, in.id); got != "" {
				t.Errorf("runc still knows the container: %q", got)
			}
		})
	}
}

// A start finds the init of its created container dead: releaseInit says
// so at once (no code of the function ran), and a start from a prepared
// container whose init died falls back to a create.
func TestFIFOStartOfADeadInit(t *testing.T) {
	d := newPreparingDriver(t, 0)
	ctx := context.Background()
	in, err := created(d, spec("fifo-dead"))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Stop(ctx)
	unix.Kill(in.pid, unix.SIGKILL)
	<-in.exited
	err = releaseInit(ctx, filepath.Join(d.rt.Root, in.id, execFIFO), in.exited)
	if !errors.Is(err, errInitGone) {
		t.Errorf("releaseInit of a dead init: %v, want errInitGone", err)
	}

	// A context that ends first ends the wait.
	waiting, err := created(d, spec("fifo-ctx"))
	if err != nil {
		t.Fatal(err)
	}
	defer waiting.Stop(ctx)
	gone, cancel := context.WithCancel(ctx)
	cancel()
	// Init is waiting: its byte may already be there, or not yet.
	if err := releaseInit(gone, filepath.Join(d.rt.Root, waiting.id, execFIFO), waiting.exited); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("releaseInit with a canceled context: %v", err)
	}

	// Not a FIFO: the runtime's start command is used.
	plain := filepath.Join(t.TempDir(), execFIFO)
	os.WriteFile(plain, nil, 0o600)
	if err := releaseInit(ctx, plain, nil); !errors.Is(err, errNoExecFIFO) {
		t.Errorf("releaseInit of a regular file: %v, want errNoExecFIFO", err)
	}
	if err := releaseInit(ctx, filepath.Join(t.TempDir(), "none"), nil); !errors.Is(err, errNoExecFIFO) {
		t.Errorf("releaseInit of no file: %v, want errNoExecFIFO", err)
	}

	// A prepared container whose init died while it waited.
	s := spec("")
	s.Version = "dead"
	if err := d.Prepare(ctx, s); err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	prepared := d.lru.Front().Value.(*spare).in
	d.mu.Unlock()
	// Killed just before the start: the start finds it dead in
	// takeSpare, or in releaseInit when its pidfd has not told yet; in
	// both, it creates.
	unix.Kill(prepared.pid, unix.SIGKILL)
	s.ID = "fifo-after-dead"
	started := start(t, d, s)
	if started.ID() != "fifo-after-dead" {
		t.Errorf("the start used the dead container %s", started.ID())
	}
	if p := started.Phases(); p.Prepared || p.RuntimeCreate == 0 {
		t.Errorf("the start after a dead prepared container: phases %+v, want a create", p)
	}
}
