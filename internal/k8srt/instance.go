package k8srt

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/sandbox"
	"github.com/scfd/scfd/internal/scf"
)

// logDrain bounds the wait for the rest of the output once the server
// ended or the Pod is gone; logOpen bounds the wait, before Start returns,
// for the Pod's status to show its container running, which the kubelet
// needs before it follows the container's output: so the first request's
// lines are read while it runs.
const (
	logDrain = 2 * time.Second
	logOpen  = 2 * time.Second
	// logQuiet is how long SyncLogs waits for no new line.
	logQuiet = 2 * time.Millisecond
)

// instance is one Pod. Fields set in Start before it returns are read-only
// afterwards; mu guards what the informer reports.
type instance struct {
	d      *Driver
	id     string
	pod    string
	port   int
	split  bool
	phases sandbox.Phases
	state  sandbox.StateBox
	pump   *sandbox.LogPump
	addr   string

	mu        sync.Mutex
	uid       types.UID // "" until created
	ip        string
	node      string
	startedAt time.Time // the container's start as the kubelet reports it (seconds)
	waiting   string    // the container's waiting reason and message
	term      *sandbox.ExitReason
	logs      bool // log streams were opened
	mem, peak uint64
	sampled   bool

	changed    chan struct{} // poked, without blocking, on every change
	gone       chan struct{} // closed when the Pod was deleted
	goneOnce   sync.Once
	logsOpen   sync.WaitGroup
	running    chan struct{} // closed once the Pod's status showed the container started
	runOnce    sync.Once
	logsCancel context.CancelFunc
	logsCtx    context.Context
	lastLine   atomic.Int64 // unix nanoseconds of the last line read

	exited   chan struct{}
	exitOnce sync.Once
	reason   sandbox.ExitReason // set before exited is closed
	stopping chan struct{}      // closed when Stop began
	stopOnce sync.Once
	stopDone chan struct{}
	stopErr  error
}

var _ sandbox.Instance = (*instance)(nil)

// terminalWaiting are the container waiting reasons that no retry fixes.
var terminalWaiting = map[string]bool{
	"InvalidImageName":           true,
	"ErrImageNeverPull":          true,
	"CreateContainerConfigError": true,
	"CreateContainerError":       true,
	"RunContainerError":          true,
}

// Start creates the instance's Pod and returns once its server accepts a
// connection on the Pod IP.
func (d *Driver) Start(ctx context.Context, spec sandbox.Spec) (_ sandbox.Instance, err error) {
	if err := sandbox.ValidateID(spec.ID); err != nil {
		return nil, err
	}
	if spec.MemoryMB <= 0 {
		return nil, errdefs.Invalid("MemorySize", "instance %s: memory size %d MB", spec.ID, spec.MemoryMB)
	}
	if spec.Port == 0 {
		spec.Port = scf.DefaultPort
	}
	budget := spec.StartupTimeout
	if budget == 0 {
		budget = scf.StartupTimeout
	}
	pod, err := podFor(spec, d.opts.Account, d.opts.Namespace, d.pullSecret)
	if err != nil {
		return nil, err
	}
	if d.opts.Replica != "" {
		pod.Labels[LabelReplica] = labelValue(d.opts.Replica)
		pod.Annotations[LabelReplica] = d.opts.Replica
	}
	logsCtx, logsCancel := context.WithCancel(context.Background())
	in := &instance{
		d: d, id: spec.ID, pod: pod.Name, port: spec.Port, split: d.opts.SplitLogStreams,
		changed: make(chan struct{}, 1), gone: make(chan struct{}), running: make(chan struct{}),
		exited: make(chan struct{}), stopping: make(chan struct{}), stopDone: make(chan struct{}),
		logsCtx: logsCtx, logsCancel: logsCancel,
	}
	in.pump = sandbox.NewLogPump(spec.ID, spec.Logs, func() time.Time {
		now := time.Now()
		in.lastLine.Store(now.UnixNano())
		return now
	})
	d.mu.Lock()
	if _, dup := d.live[pod.Name]; dup {
		d.mu.Unlock()
		logsCancel()
		return nil, errdefs.New(errdefs.ErrAlreadyExists, "Instance", "instance %s exists", spec.ID)
	}
	d.live[pod.Name] = in
	d.mu.Unlock()
	defer func() {
		if err != nil {
			in.Stop(context.WithoutCancel(ctx))
		}
	}()

	t0 := time.Now()
	created, err := d.client.CoreV1().Pods(d.opts.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil, errdefs.New(errdefs.ErrAlreadyExists, "Instance", "instance %s: pod %s exists", spec.ID, pod.Name)
	}
	if err != nil {
		return nil, errdefs.New(errdefs.ErrUnavailable, "", "k8srt: create pod %s: %w", pod.Name, err)
	}
	in.mu.Lock()
	in.uid = created.UID
	in.mu.Unlock()
	t1 := time.Now()
	in.phases.RuntimeCreate = t1.Sub(t0)

	ip, err := in.waitIP(ctx)
	if err != nil {
		return nil, err
	}
	t2 := time.Now()
	in.phases.RuntimeStart = t2.Sub(t1)
	in.addr = net.JoinHostPort(ip, strconv.Itoa(spec.Port))
	if err := in.state.Set(sandbox.Starting); err != nil {
		return nil, err
	}
	if err := in.waitReady(ctx, budget); err != nil {
		return nil, err
	}
	t3 := time.Now()
	// The server accepted, so its container runs, even if the Pod's status
	// does not say so yet.
	in.openLogs()
	select {
	case <-in.running:
	case <-time.After(logOpen):
		d.log.Debug("k8srt: the pod's status does not show its container started yet", "pod", in.pod)
	}
	// The Pod IP and the container's start reach scfd together, after the
	// kubelet's next status update, so the server may have listened before
	// scfd could connect. Ready counts from the container's reported start
	// instead (whole seconds, never later than the real one), but not from
	// before the Pod was created: an upper bound of the server's start-up.
	in.phases.Ready = t3.Sub(t2)
	in.mu.Lock()
	if s := in.startedAt; !s.IsZero() && s.Before(t2) {
		if s.Before(t1) {
			s = t1
		}
		in.phases.Ready = t3.Sub(s)
	}
	in.mu.Unlock()
	// Total includes the wait for the log streams.
	in.phases.Total = time.Since(t0)
	if err := in.state.Set(sandbox.Ready); err != nil {
		return nil, err
	}
	return in, nil
}

// waitIP waits until the Pod has an IP, the container ended or cannot be
// made, or Options.PendingTimeout passes.
func (in *instance) waitIP(ctx context.Context) (string, error) {
	pending := time.NewTimer(in.d.opts.PendingTimeout)
	defer pending.Stop()
	for {
		in.mu.Lock()
		ip, waiting, ended := in.ip, in.waiting, in.term != nil
		in.mu.Unlock()
		switch {
		case ended:
			return "", in.exitError()
		case ip != "":
			return ip, nil
		}
		if reason, _, _ := cutReason(waiting); terminalWaiting[reason] {
			return "", errdefs.New(errdefs.ErrFailedPrecondition, "Image", "instance %s: %s", in.id, waiting)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-pending.C:
			msg := "no IP"
			if waiting != "" {
				msg = waiting
			}
			return "", errdefs.New(errdefs.ErrUnavailable, "", "instance %s: pod %s not running after %v: %s", in.id, in.pod, in.d.opts.PendingTimeout, msg)
		case <-in.changed:
		}
	}
}

func cutReason(waiting string) (reason, msg string, ok bool) {
	for i := 0; i+1 < len(waiting); i++ {
		if waiting[i] == ':' && waiting[i+1] == ' ' {
			return waiting[:i], waiting[i+2:], true
		}
	}
	return waiting, "", false
}

// waitReady runs the start-up check against the Pod's address.
func (in *instance) waitReady(ctx context.Context, budget time.Duration) error {
	return sandbox.WaitReady(ctx, in.addr, in.d.opts.Poll, budget, in.exited, in.exitError)
}

// exitError is the start-up error of a container that ended: the exit
// reason and the last lines it printed.
func (in *instance) exitError() error {
	in.drainLogs()
	in.mu.Lock()
	r := in.term
	in.mu.Unlock()
	return &sandbox.ExitError{Reason: *r, LastLines: in.pump.LastLines()}
}

// drainLogs waits, for at most logDrain, until the log streams ended and
// their lines were delivered.
func (in *instance) drainLogs() {
	done := make(chan struct{})
	go func() {
		in.logsOpen.Wait()
		in.pump.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(logDrain):
	}
}

// update takes in what the informer reports of the Pod.
func (in *instance) update(pod *corev1.Pod, deleted bool) {
	in.mu.Lock()
	if in.ip == "" && pod.Status.PodIP != "" {
		in.ip = pod.Status.PodIP
	}
	if pod.Spec.NodeName != "" {
		in.node = pod.Spec.NodeName
	}
	started := false
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name != ContainerName {
			continue
		}
		switch st := cs.State; {
		case st.Running != nil:
			started = true
			in.startedAt = st.Running.StartedAt.Time
		case st.Terminated != nil:
			started = true
			if in.term == nil {
				r := exitReason(st.Terminated, time.Now())
				in.term = &r
			}
		case st.Waiting != nil && st.Waiting.Reason != "" && st.Waiting.Reason != "ContainerCreating":
			in.waiting = st.Waiting.Reason
			if st.Waiting.Message != "" {
				in.waiting += ": " + st.Waiting.Message
			}
		}
	}
	if in.term == nil && (pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded || deleted) {
		// Evicted, or deleted by someone else, before a container status
		// said so: the process was killed.
		in.term = &sandbox.ExitReason{Kind: sandbox.ExitSignal, Signal: 9, At: time.Now()}
	}
	term := in.term
	in.mu.Unlock()

	if started {
		in.runOnce.Do(func() { close(in.running) })
		in.openLogs()
	}
	select {
	case in.changed <- struct{}{}:
	default:
	}
	if deleted {
		in.goneOnce.Do(func() { close(in.gone) })
	}
	if term != nil {
		in.finish(*term)
	}
}

// exitReason classifies a terminated container. Kubernetes reports a
// process killed by a signal as exit code 128+signal.
func exitReason(t *corev1.ContainerStateTerminated, now time.Time) sandbox.ExitReason {
	r := sandbox.ExitReason{At: now}
	switch {
	case t.Reason == "OOMKilled":
		r.Kind, r.Signal = sandbox.ExitOOM, 9
	case t.Signal != 0:
		r.Kind, r.Signal = sandbox.ExitSignal, int(t.Signal)
	case t.ExitCode > 128 && t.ExitCode < 128+65:
		r.Kind, r.Signal = sandbox.ExitSignal, int(t.ExitCode-128)
	default:
		r.Kind, r.Code = sandbox.ExitCode, int(t.ExitCode)
	}
	return r
}

// finish records how the process ended, once, and frees what is left: an
// instance whose process ended stops by itself.
func (in *instance) finish(r sandbox.ExitReason) {
	in.exitOnce.Do(func() {
		select {
		case <-in.stopping:
			r = sandbox.ExitReason{Kind: sandbox.ExitStopped, At: r.At}
		default:
		}
		in.reason = r
		close(in.exited)
		go in.Stop(context.Background())
	})
}

// readLogs follows the container's output.
func (in *instance) readLogs() {
	defer in.logsOpen.Done()
	streams := []struct {
		name   *string
		stream sandbox.Stream
	}{{nil, sandbox.Stdout}}
	if in.split {
		streams = []struct {
			name   *string
			stream sandbox.Stream
		}{{new(corev1.LogStreamStdout), sandbox.Stdout}, {new(corev1.LogStreamStderr), sandbox.Stderr}}
	}
	pods := in.d.client.CoreV1().Pods(in.d.opts.Namespace)
	// The kubelet may not know yet that the container started (its status
	// follows the next relist): retry for a while. A stream answers once
	// the container printed something.
	deadline := time.Now().Add(2 * logOpen)
	for _, s := range streams {
		for {
			rc, err := pods.GetLogs(in.pod, &corev1.PodLogOptions{Container: ContainerName, Follow: true, Stream: s.name}).Stream(in.logsCtx)
			if err == nil {
				in.pump.Read(s.stream, rc)
				break
			}
			if in.logsCtx.Err() != nil || time.Now().After(deadline) {
				in.d.log.Debug("k8srt: follow logs", "pod", in.pod, "err", err)
				break
			}
			select {
			case <-in.logsCtx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}

// openLogs starts following the container's output, once.
func (in *instance) openLogs() {
	in.mu.Lock()
	open := !in.logs
	if open {
		in.logs = true
		in.logsOpen.Add(1)
	}
	in.mu.Unlock()
	if open {
		go in.readLogs()
	}
}

func (in *instance) ID() string              { return in.id }
func (in *instance) Addr() string            { return in.addr }
func (in *instance) Phases() sandbox.Phases  { return in.phases }
func (in *instance) State() sandbox.State    { return in.state.Get() }
func (in *instance) Exited() <-chan struct{} { return in.exited }

// Stats returns the last memory sample of the kubelet's summary
// statistics (Options.StatsInterval apart); the peak is the highest sample
// since the start or ResetPeak. Zero until the first sample.
func (in *instance) Stats() (sandbox.Stats, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return sandbox.Stats{MemoryBytes: in.mem, MemoryPeakBytes: max(in.peak, in.mem)}, nil
}

// ResetPeak starts the peak again from the last sample.
func (in *instance) ResetPeak() error {
	in.mu.Lock()
	in.peak = in.mem
	in.mu.Unlock()
	return nil
}

// sample records one memory measurement.
func (in *instance) sample(bytes uint64) {
	in.mu.Lock()
	in.mem, in.sampled = bytes, true
	in.peak = max(in.peak, bytes)
	in.mu.Unlock()
}

// nodeName returns the node of the Pod, "" before it is scheduled.
func (in *instance) nodeName() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.node
}

// SyncLogs waits, at most max, for the lines the server printed before
// the call. They travel through the kubelet and the API server, so there
// is no pipe to look into: it delivers what was read, then waits until no
// line arrived for logQuiet (the relay takes about 1 ms on an idle node).
func (in *instance) SyncLogs(limit time.Duration) {
	start := time.Now()
	deadline := start.Add(limit)
	in.pump.Sync(limit)
	for {
		since := time.Unix(0, max(in.lastLine.Load(), start.UnixNano()))
		now := time.Now()
		if now.Sub(since) >= logQuiet || !now.Before(deadline) {
			in.pump.Sync(max(deadline.Sub(now), 0))
			return
		}
		time.Sleep(logQuiet / 4)
	}
}

// Dropped counts the output lines dropped because the log reader was slow.
func (in *instance) Dropped() uint64 { return in.pump.Dropped() }

func (in *instance) SetState(s sandbox.State) error { return in.state.SetByCaller(s) }

func (in *instance) ExitReason() sandbox.ExitReason { return sandbox.ReasonOnce(in.exited, &in.reason) }

// Stop deletes the Pod and waits until it is gone. Concurrent calls wait
// for the one that does the work.
func (in *instance) Stop(ctx context.Context) error {
	in.stopOnce.Do(func() {
		in.state.Stop()
		close(in.stopping)
		in.stopErr = in.teardown(ctx)
		in.finish(sandbox.ExitReason{Kind: sandbox.ExitStopped, At: time.Now()})
		in.state.Set(sandbox.Gone)
		in.d.mu.Lock()
		delete(in.d.live, in.pod)
		in.d.mu.Unlock()
		close(in.stopDone)
	})
	select {
	case <-in.stopDone:
		return in.stopErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (in *instance) teardown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), in.d.opts.StopTimeout)
	defer cancel()
	defer in.logsCancel()
	in.mu.Lock()
	uid := in.uid
	in.mu.Unlock()
	if uid == "" {
		return nil
	}
	err := in.d.client.CoreV1().Pods(in.d.opts.Namespace).Delete(ctx, in.pod, metav1.DeleteOptions{
		GracePeriodSeconds: new(int64(1)),
		Preconditions:      &metav1.Preconditions{UID: &uid},
	})
	switch {
	case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
		// Already gone (a conflict means the name is another Pod's now).
	case err != nil:
		return fmt.Errorf("k8srt: delete pod %s: %w", in.pod, err)
	default:
		select {
		case <-in.gone:
		case <-ctx.Done():
			return fmt.Errorf("k8srt: pod %s still there after %v", in.pod, in.d.opts.StopTimeout)
		}
	}
	in.drainLogs()
	return nil
}
