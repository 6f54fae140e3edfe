// Package sandbox is the contract between scfd and whatever runs function
// instances: the Driver that starts an instance from an image's layers and
// a function's configuration, the Instance it returns (address, memory
// statistics, exit reason, output lines), and the lifecycle State of an
// instance with its legal transitions.
//
// The package holds no implementation of a runtime. The local runc driver
// lives in internal/localrt; other drivers (a Kubernetes one, say) satisfy
// the same interfaces and prove it by passing sandboxtest.Run. Callers (the
// pool and the invocation path) depend only on this package.
package sandbox

import (
	"context"
	"fmt"
	"time"

	"github.com/scfd/scfd/internal/scf"
)

// ImageConfig is the part of an OCI image configuration that decides how
// an instance's process starts.
type ImageConfig struct {
	Entrypoint []string // image ENTRYPOINT; may be empty
	Cmd        []string // image CMD; may be empty
	Env        []string // KEY=VALUE, in image order; may be empty
	WorkingDir string   // empty means "/"
	User       string   // "uid", "uid:gid", "name" or "name:group"; empty means root
}

// Spec describes one instance to start.
type Spec struct {
	// ID names the instance. Required; letters, digits, '-' and '_', at
	// most 48 characters (see ValidateID): it is used as a file name, a
	// cgroup name, a runtime container id and the hostname.
	ID string

	Namespace string // function namespace; informational
	Function  string // function name; SCF_FUNCTIONNAME
	Version   string // function version; SCF_FUNCTIONVERSION; empty means $LATEST

	// Layers are the unpacked image layer directories, bottom first. They
	// are shared read-only between instances. Required, at least one.
	Layers []string
	Image  ImageConfig

	// ImageRef is the same image as "repository@sha256:...", for drivers
	// that have the image pulled where the instance runs (a Kubernetes
	// node) instead of using Layers. Image must be its configuration. The
	// local driver ignores it; the Kubernetes driver requires it.
	ImageRef string

	// Command replaces the image's Entrypoint and Args replaces its Cmd
	// when they are not empty. Both are SCF strings split with shell-like
	// quoting (github.com/google/shlex): `sh -c "echo a b"` is three words.
	Command string
	Args    string

	// Env is the function's own variables. They override the image's Env
	// and are overridden by the built-in SCF variables (see BuiltinEnv).
	Env []scf.Variable

	MemoryMB int64 // memory limit in MB; required, > 0
	Port     int   // TCP port the server listens on; 0 means scf.DefaultPort

	// NoPublicNet keeps the instance from reaching anything beyond the
	// host (PublicNetConfig DISABLE). The scfd host still reaches it.
	NoPublicNet bool

	// StartupTimeout bounds the wait for the port to accept a connection.
	// Zero means scf.StartupTimeout. When it passes, Start fails with
	// exactly scf.StartupTimeoutMessage.
	StartupTimeout time.Duration

	// Logs receives the instance's output lines. Nil discards them. It is
	// called from one goroutine per instance, in order; a slow Logs never
	// blocks the function: lines that do not fit the bounded buffer are
	// dropped and counted (see LogLine.Dropped).
	Logs func(LogLine)
}

// Driver starts instances.
type Driver interface {
	// Start creates an instance and returns when its server accepts a
	// connection on Spec.Port, or with the start-up error. On error
	// nothing of the instance is left behind. A driver may start a
	// container it prepared ahead for an identical spec: the instance's
	// ID is then that container's, not spec.ID. The error of a server that
	// exits before it listens is an *ExitError (errors.As); the error of a
	// start-up that times out has the text scf.StartupTimeoutMessage and
	// the class errdefs.ErrUnavailable.
	Start(ctx context.Context, spec Spec) (Instance, error)
}

// Preparer is a Driver that can do the slow part of a start ahead of
// demand: create an instance's container (root file system, network, the
// runtime's create) with its process not yet started and no user code
// run, so that a later start of an identical spec only starts the
// process. It is optional: the local driver has it, the Kubernetes driver
// has not.
type Preparer interface {
	// Prepare creates a container for spec's next start and returns once
	// it is ready; at once when one is ready, being prepared, or does not
	// fit the driver's budget. spec.ID and spec.Logs are ignored. It also
	// discards the containers prepared for other specs of the same
	// namespace, function and version (an older configuration).
	Prepare(ctx context.Context, spec Spec) error
	// StartPrepared starts, as Start would, a container prepared for an
	// identical spec, waiting for one being prepared; it returns a nil
	// Instance and a nil error when there is none, and the caller then
	// calls Start. Its Phases have Prepared set.
	StartPrepared(ctx context.Context, spec Spec) (Instance, error)
	// Unprepare discards the containers prepared for a version of a
	// function, or for all its versions when version is empty.
	Unprepare(namespace, function, version string)
}

// Instance is one running copy of a function's image.
type Instance interface {
	ID() string
	// Addr is "ip:port" where scfd on the host reaches the server.
	Addr() string
	// Phases says how long each step of the start took.
	Phases() Phases
	// State is the instance's lifecycle state.
	State() State
	// SetState moves the instance between Ready, Busy and Idle; other
	// targets are the driver's to set. It fails with an error of class
	// errdefs.ErrFailedPrecondition when the transition is not legal.
	SetState(State) error
	// Stats reads the instance's memory use from its cgroup.
	Stats() (Stats, error)
	// ResetPeak starts a new peak measurement (between invocations).
	ResetPeak() error
	// Exited is closed when the instance's process is gone, whether it
	// exited, was killed for memory, or was stopped.
	Exited() <-chan struct{}
	// ExitReason says why the process ended; valid once Exited is closed.
	ExitReason() ExitReason
	// Stop kills the process tree and frees everything the instance held.
	// It is idempotent and safe to call concurrently.
	Stop(ctx context.Context) error
}

// Stats is a memory measurement of an instance.
type Stats struct {
	MemoryBytes     uint64 // current usage, page cache included
	MemoryPeakBytes uint64 // highest usage since start or the last ResetPeak
}

// Phases are the durations of the steps of one start, for cold-start
// reports. A driver that has no such step leaves it zero.
type Phases struct {
	// Prepared is true when the container was created ahead (Preparer):
	// RootFS, Network and RuntimeCreate were not on this start's path and
	// are zero.
	Prepared bool

	RootFS        time.Duration // writable layer and overlay
	Network       time.Duration // network namespace and address
	RuntimeCreate time.Duration // OCI runtime create
	RuntimeStart  time.Duration // OCI runtime start
	Ready         time.Duration // from start until the port accepted
	Total         time.Duration
}

// ExitKind classifies how an instance's process ended.
type ExitKind int

// The exit kinds.
const (
	ExitNone    ExitKind = iota // still running
	ExitCode                    // the process exited by itself (Code)
	ExitSignal                  // killed by a signal (Signal), not for memory
	ExitOOM                     // killed because it exceeded its memory limit
	ExitStopped                 // stopped by scfd (Stop)
)

func (k ExitKind) String() string {
	switch k {
	case ExitNone:
		return "running"
	case ExitCode:
		return "exited"
	case ExitSignal:
		return "killed"
	case ExitOOM:
		return "out of memory"
	case ExitStopped:
		return "stopped"
	}
	return fmt.Sprintf("ExitKind(%d)", int(k))
}

// ExitReason says why an instance's process ended.
type ExitReason struct {
	Kind   ExitKind
	Code   int // exit status when Kind is ExitCode
	Signal int // signal number when Kind is ExitSignal or ExitOOM
	At     time.Time
}

func (r ExitReason) String() string {
	switch r.Kind {
	case ExitCode:
		return fmt.Sprintf("exited with code %d", r.Code)
	case ExitSignal:
		return fmt.Sprintf("killed by signal %d", r.Signal)
	}
	return r.Kind.String()
}

// ReasonOnce returns *reason once exited is closed, and the zero reason
// before: drivers set the reason, then close the channel.
func ReasonOnce(exited <-chan struct{}, reason *ExitReason) ExitReason {
	select {
	case <-exited:
		return *reason
	default:
		return ExitReason{}
	}
}

// ExitError is the start-up error of a server that ended before it
// listened. Its message carries the exit reason and the last lines the
// process printed.
type ExitError struct {
	Reason    ExitReason
	LastLines []string // the last lines of output, oldest first; at most 10
}

func (e *ExitError) Error() string {
	msg := "the function's server " + e.Reason.String() + " before listening"
	if len(e.LastLines) > 0 {
		msg += "; last output:"
		for _, l := range e.LastLines {
			msg += "\n" + l
		}
	}
	return msg
}
