package pool

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/images"
	"github.com/scfd/scfd/internal/sandbox"
	"github.com/scfd/scfd/internal/scf"
)

// inst is one instance the pool owns.
type inst struct {
	vp          *versionPool
	id          string
	sb          sandbox.Instance
	started     time.Time
	lastUsed    time.Time
	active      int   // requests it serves now
	served      int64 // requests it was lent for, since it started
	provisioned bool  // kept by provisioned concurrency: never reaped
	fresh       bool  // provisioned and never used
	cold        *ColdStart
	idleTimer   Timer
	gone        bool   // taken out of the pool; being stopped
	unpin       func() // releases the image's pin once the instance stopped
	// exited ends when the pool saw the instance's process end; leases
	// register their OnExit functions on it (context.AfterFunc, no
	// goroutine per lease).
	exited     context.Context
	markExited context.CancelFunc

	logMu   sync.Mutex
	limit   *logLimit // guarded by logMu; nil: no bound
	sinks   map[uint64]func(sandbox.LogLine)
	sinkSeq uint64
	logTo   func(*scf.Function, sandbox.LogLine)
}

// fingerprint identifies what shapes an instance: instances of another
// fingerprint are never reused.
func fingerprint(fn *scf.Function) string {
	b, _ := json.Marshal(struct {
		Digest, Command, Args string
		Memory                int64
		Env                   []scf.Variable
		Port                  int
		Type                  scf.FunctionType
		Slots                 int
		NoPublicNet           bool
	}{fn.ImageDigest, fn.Image.Command, fn.Image.Args, memoryMB(fn), fn.Environment, fn.Image.Port(), fn.Type, slotsOf(fn), fn.PublicNetDisabled})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

func newInstanceID(seq uint64) string {
	var b [5]byte
	rand.Read(b[:])
	return fmt.Sprintf("i%s%d", hex.EncodeToString(b[:]), seq)
}

// grant gives one request slot of in to a caller. p.mu is held.
func (p *Pool) grant(in *inst) *lease {
	l := &lease{p: p, in: in}
	p.take(in, &l.cold)
	return l
}

// take marks a slot of in used and sets *cold for the first lease of a
// new or provisioned instance. p.mu is held.
func (p *Pool) take(in *inst, cold **ColdStart) {
	vp := in.vp
	in.active++
	in.served++
	if in.active == 1 {
		vp.removeIdle(in)
		vp.busy++
		if in.idleTimer != nil {
			in.idleTimer.Stop()
			in.idleTimer = nil
		}
		if err := in.sb.SetState(sandbox.Busy); err != nil {
			p.log.Debug("pool: instance state", "instance", in.id, "err", err)
		}
	}
	if in.cold != nil {
		*cold = in.cold
		in.cold = nil
	} else if in.fresh {
		*cold = &ColdStart{Provisioned: true}
	}
	in.fresh = false
	in.lastUsed = p.clock.Now()
}

// serveWaiters hands in's free slots to the oldest waiters. p.mu is held.
func (p *Pool) serveWaiters(in *inst) {
	vp := in.vp
	for len(vp.waiters) > 0 && in.active < vp.slots {
		w := vp.waiters[0]
		vp.waiters = vp.waiters[1:]
		p.take(in, &w.cold)
		w.in = in
		close(w.done)
	}
}

// releaseLocked returns one slot of in. p.mu is held.
func (p *Pool) releaseLocked(in *inst, o Outcome) {
	vp := in.vp
	in.active--
	in.lastUsed = p.clock.Now()
	if in.active == 0 {
		vp.busy--
	}
	if o == Broken && !in.gone {
		p.drop(in)
	}
	if !in.gone {
		p.serveWaiters(in)
		if in.active == 0 {
			p.toIdle(in)
		}
	}
	p.recount(vp)
	p.startMore(vp)
	p.ensureProvisioned(vp)
	p.forgetIfEmpty(vp)
}

// toIdle parks an instance that serves nothing, or stops it when its pool
// was retired or closed. p.mu is held.
func (p *Pool) toIdle(in *inst) {
	vp := in.vp
	if vp.retired || p.closed {
		p.drop(in)
		return
	}
	if err := in.sb.SetState(sandbox.Idle); err != nil {
		p.log.Debug("pool: instance state", "instance", in.id, "err", err)
	}
	vp.idle = append(vp.idle, in)
	if !in.provisioned {
		p.armIdle(in)
	}
}

func (p *Pool) armIdle(in *inst) {
	var t Timer
	t = p.clock.AfterFunc(p.opts.IdleTimeout, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if in.idleTimer != t || in.gone || in.active > 0 || in.provisioned {
			return
		}
		in.idleTimer = nil
		p.drop(in)
		p.forgetIfEmpty(in.vp)
	})
	in.idleTimer = t
}

// drop takes in out of its pool and stops it in the background. Leases
// still holding it keep it counted until they release it. p.mu is held.
func (p *Pool) drop(in *inst) {
	if in.gone {
		return
	}
	in.gone = true
	vp := in.vp
	vp.removeLive(in)
	vp.removeIdle(in)
	if in.idleTimer != nil {
		in.idleTimer.Stop()
		in.idleTimer = nil
	}
	p.bg.Add(1)
	go func() {
		defer p.bg.Done()
		if err := in.sb.Stop(context.Background()); err != nil {
			p.log.Warn("pool: stop instance", "instance", in.id, "err", err)
		}
		if in.unpin != nil {
			in.unpin()
		}
	}()
}

// startMore starts instances while the waiting calls outnumber what the
// starts in flight will serve. p.mu is held.
func (p *Pool) startMore(vp *versionPool) {
	if p.closed {
		return
	}
	for ceilDiv(len(vp.waiters), vp.slots) > vp.starting {
		vp.starting++
		p.bg.Add(1)
		go p.startInstance(vp, false)
	}
}

// startInstance starts one instance of vp: for waiting calls, or for
// provisioned concurrency. A start from a container the driver prepared
// ahead only starts a process and goes at once; any other holds a
// machine-wide start token while the driver works. It never holds p.mu
// while the driver works.
func (p *Pool) startInstance(vp *versionPool, provisioned bool) {
	defer p.bg.Done()
	p.mu.Lock()
	p.seq++
	in := &inst{vp: vp, id: newInstanceID(p.seq), logTo: p.opts.InstanceLog, limit: newLogLimit(p.opts.LogRate, p.opts.LogBurst)}
	in.exited, in.markExited = context.WithCancel(context.Background())
	fn := vp.fn
	p.mu.Unlock()

	cs, started, err := p.startPrepared(in, fn)
	if !started && err == nil {
		select {
		case p.starts <- struct{}{}:
		case <-p.ctx.Done():
			p.mu.Lock()
			p.startDone(vp, provisioned)
			p.failUncovered(vp, errdefs.New(errdefs.ErrUnavailable, "", "scfd is shutting down"))
			p.mu.Unlock()
			return
		}
		p.mu.Lock()
		// The calls this start was for may have been served or given up
		// while it waited for a token.
		if !provisioned && ceilDiv(len(vp.waiters), vp.slots) < vp.starting {
			vp.starting--
			p.forgetIfEmpty(vp)
			p.mu.Unlock()
			<-p.starts
			return
		}
		p.mu.Unlock()
		cs, err = p.create(in, fn)
		<-p.starts
	}

	p.mu.Lock()
	p.startDone(vp, provisioned)
	if err != nil {
		if provisioned {
			p.provisionFailed(vp, err)
		} else {
			p.failUncovered(vp, err)
		}
		p.recount(vp)
		p.forgetIfEmpty(vp)
		p.mu.Unlock()
		p.log.Warn("pool: start instance", "function", vp.key.name, "namespace", vp.key.ns, "version", vp.key.version, "err", err)
		return
	}
	now := p.clock.Now()
	in.started, in.lastUsed = now, now
	cs.Provisioned = provisioned
	in.cold = &cs
	vp.live = append(vp.live, in)
	p.bg.Add(1)
	go p.watch(in)
	if p.closed {
		p.drop(in)
		p.mu.Unlock()
		return
	}
	if provisioned {
		in.provisioned, in.fresh = true, true
		if ps := vp.fs.prov[vp.key.version]; ps != nil && p.pools[vp.key] == vp && p.provisionedLive(vp) >= ps.target {
			ps.failure = ""
		}
	}
	p.serveWaiters(in)
	if in.active == 0 {
		p.toIdle(in)
	}
	p.recount(vp)
	p.startMore(vp)
	p.ensureProvisioned(vp)
	p.mu.Unlock()
	if provisioned && p.opts.OnProvisioned != nil {
		p.opts.OnProvisioned(fn, in.id, cs)
	}
}

func (p *Pool) startDone(vp *versionPool, provisioned bool) {
	if provisioned {
		vp.provOn--
	} else {
		vp.starting--
	}
}

// failUncovered fails the oldest waiting calls that the remaining starts
// in flight will not serve, after a start failed. p.mu is held.
func (p *Pool) failUncovered(vp *versionPool, err error) {
	for len(vp.waiters) > 0 && ceilDiv(len(vp.waiters), vp.slots) > vp.starting {
		w := vp.waiters[0]
		vp.waiters = vp.waiters[1:]
		w.err = err
		close(w.done)
	}
}

// create pins and looks up the image and starts the instance; the pin
// lasts until the instance has stopped.
func (p *Pool) create(in *inst, fn *scf.Function) (ColdStart, error) {
	cs, _, err := p.start(in, fn, p.opts.Driver.Start)
	return cs, err
}

// startPrepared starts the instance from a container the driver prepared
// ahead, if it has one; started is false when it has none.
func (p *Pool) startPrepared(in *inst, fn *scf.Function) (cs ColdStart, started bool, err error) {
	pr, ok := p.opts.Driver.(sandbox.Preparer)
	if !ok {
		return ColdStart{}, false, nil
	}
	return p.start(in, fn, pr.StartPrepared)
}

// start pins and looks up the image and starts the instance with start,
// which may start nothing (nil instance, nil error); the pin lasts until
// the instance has stopped.
func (p *Pool) start(in *inst, fn *scf.Function, start func(context.Context, sandbox.Spec) (sandbox.Instance, error)) (_ ColdStart, started bool, err error) {
	t0 := time.Now()
	unpin := func() {}
	if pi, ok := p.opts.Images.(Pinner); ok {
		unpin = pi.Pin(fn.ImageDigest)
	}
	defer func() {
		if err != nil || !started {
			unpin()
		}
	}()
	img, err := p.opts.Images.Get(p.ctx, fn.ImageDigest)
	if err != nil {
		return ColdStart{}, true, fmt.Errorf("pool: image of function %q: %w", fn.Name, err)
	}
	imageCheck := time.Since(t0)
	sb, err := start(p.ctx, specOf(fn, img, in.id, in.onLog))
	if err != nil {
		return ColdStart{}, true, err
	}
	if sb == nil {
		return ColdStart{}, false, nil
	}
	p.mu.Lock()
	in.sb = sb
	in.id = sb.ID() // a driver may have started a container it prepared ahead, under its own id
	in.unpin = unpin
	p.mu.Unlock()
	return ColdStart{ImageCheck: imageCheck, Phases: sb.Phases(), Total: time.Since(t0)}, true, nil
}

// specOf is the sandbox spec of an instance of fn (one version, as
// stored).
func specOf(fn *scf.Function, img *images.Image, id string, logs func(sandbox.LogLine)) sandbox.Spec {
	version := fn.Version
	if version == "" {
		version = scf.Latest
	}
	return sandbox.Spec{
		ID:        id,
		Namespace: fn.Namespace,
		Function:  fn.Name,
		Version:   version,
		Layers:    img.Layers,
		ImageRef:  img.Ref,
		Image: sandbox.ImageConfig{
			Entrypoint: img.Config.Entrypoint,
			Cmd:        img.Config.Cmd,
			Env:        img.Config.Env,
			WorkingDir: img.Config.WorkingDir,
			User:       img.Config.User,
		},
		Command:  fn.Image.Command,
		Args:     fn.Image.Args,
		Env:      fn.Environment,
		MemoryMB: memoryMB(fn),
		Port:     fn.Image.Port(),
		Logs:     logs,

		NoPublicNet: fn.PublicNetDisabled,
	}
}

// watch takes an instance out of the pool when its process ends.
func (p *Pool) watch(in *inst) {
	defer p.bg.Done()
	<-in.sb.Exited()
	in.markExited()
	p.mu.Lock()
	defer p.mu.Unlock()
	if in.gone {
		return
	}
	p.drop(in)
	vp := in.vp
	p.ensureProvisioned(vp)
	p.forgetIfEmpty(vp)
}

// onLog routes one output line, within the instance's output bounds, to
// the attached leases, or to the pool's instance log.
func (in *inst) onLog(l sandbox.LogLine) {
	in.logMu.Lock()
	keep, marker := in.limit.admit(l.Time, len(l.Text))
	if !keep {
		in.logMu.Unlock()
		return
	}
	in.logMu.Unlock()
	if marker != "" {
		m := l
		m.Stream, m.Text, m.Dropped = sandbox.Stderr, marker, 0
		in.route(m)
	}
	in.route(l)
}

// route hands one line to the attached leases, or to the instance log.
func (in *inst) route(l sandbox.LogLine) {
	in.logMu.Lock()
	if len(in.sinks) > 0 {
		for _, s := range in.sinks {
			s(l)
		}
		in.logMu.Unlock()
		return
	}
	in.logMu.Unlock()
	if in.logTo != nil {
		in.logTo(in.vp.fn, l)
	}
}

// lease is the Lease the pool hands out.
type lease struct {
	p        *Pool
	in       *inst
	cold     *ColdStart
	released atomic.Bool
}

func (l *lease) Instance() sandbox.Instance { return l.in.sb }
func (l *lease) Cold() *ColdStart           { return l.cold }

func (l *lease) OnExit(f func()) (stop func() bool) { return context.AfterFunc(l.in.exited, f) }

func (l *lease) Attach(sink func(sandbox.LogLine)) (detach func()) {
	in := l.in
	in.logMu.Lock()
	if in.sinks == nil {
		in.sinks = map[uint64]func(sandbox.LogLine){}
	}
	in.sinkSeq++
	id := in.sinkSeq
	in.sinks[id] = sink
	in.logMu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			// With several requests on the instance its lines go to all of
			// them anyway: only a lease of its own waits for the last ones.
			in.logMu.Lock()
			alone := len(in.sinks) == 1
			in.logMu.Unlock()
			if s, ok := in.sb.(logSyncer); ok && alone {
				s.SyncLogs(LogSyncMax)
			}
			in.logMu.Lock()
			if marker := in.limit.flush(); marker != "" {
				sink(sandbox.LogLine{Instance: in.id, Stream: sandbox.Stderr, Time: time.Now(), Text: marker})
			}
			delete(in.sinks, id)
			in.logMu.Unlock()
		})
	}
}

// LogSyncMax bounds how long a detach waits for the lines an instance
// printed before it to reach the sink.
const LogSyncMax = 10 * time.Millisecond

// logSyncer is an instance that can hand every line it printed so far to
// its log sink before returning (the local runtime's can): a detach then
// loses no line printed just before a function answered.
type logSyncer interface {
	SyncLogs(max time.Duration)
}

func (l *lease) Release(o Outcome) {
	if l.released.Swap(true) {
		return
	}
	l.p.mu.Lock()
	defer l.p.mu.Unlock()
	l.p.releaseLocked(l.in, o)
}
