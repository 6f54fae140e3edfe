package localrt

import (
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"github.com/scfd/scfd/internal/nice"
	"github.com/scfd/scfd/internal/sandbox"
	"github.com/scfd/scfd/internal/scf"
)

// PreparedKernelOverhead is what one prepared container holds outside its
// own cgroup, measured on Linux 6.18 with runc 1.1.5: slab of its network
// namespace, veth pair, loop device, ext4 and overlay mounts and runtime
// state (about 0.5 MB), kernel stacks and page tables of the waiting
// `runc init` (0.2 MB), ext4 metadata buffers (0.1 MB). A prepared
// container counts as its cgroup's usage after the create (about 3.7 MB:
// the anonymous memory of `runc init`) plus this.
const PreparedKernelOverhead = 1 << 20

// DefaultPreparedMaxMemory is the budget of the prepared containers when
// Options.PreparedMaxMemory is zero: 5% of the machine's memory.
func DefaultPreparedMaxMemory() int64 {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return 256 << 20
	}
	return int64(si.Totalram) * int64(si.Unit) / 20
}

// spare is a container prepared ahead for one spec: created by the
// runtime, its process waiting to be started.
type spare struct {
	key  string
	ver  verID
	in   *instance
	cost int64         // bytes counted against the budget
	elem *list.Element // in Driver.lru
}

// verID names a function version, whatever its configuration.
type verID struct{ ns, fn, version string }

func verOf(spec sandbox.Spec) verID {
	v := spec.Version
	if v == "" {
		v = scf.Latest
	}
	return verID{spec.Namespace, spec.Function, v}
}

// preparation is a container being created for a spec's next start.
type preparation struct {
	done    chan struct{} // closed once the container is a spare, or failed
	ver     verID
	cost    int64 // bytes reserved in the budget meanwhile
	claimed bool  // a start waits for it
	discard bool  // its version was unprepared or reconfigured meanwhile
}

// spareFields is what makes two specs' containers interchangeable:
// every field of sandbox.Spec but the instance id, the log sink and the
// start-up budget. (A test fails when Spec gains a field missing here.)
type spareFields struct {
	Namespace, Function, Version string
	Layers                       []string
	Image                        sandbox.ImageConfig
	ImageRef                     string
	Command, Args                string
	Env                          []scf.Variable
	MemoryMB                     int64
	Port                         int
	NoPublicNet                  bool
}

// spareKey names the containers interchangeable with spec's.
func spareKey(spec sandbox.Spec) string {
	b, err := json.Marshal(spareFields{
		Namespace: spec.Namespace, Function: spec.Function, Version: verOf(spec).version,
		Layers: spec.Layers, Image: spec.Image, ImageRef: spec.ImageRef,
		Command: spec.Command, Args: spec.Args, Env: spec.Env, MemoryMB: spec.MemoryMB, Port: spec.Port,
		NoPublicNet: spec.NoPublicNet,
	})
	if err != nil {
		panic("localrt: spare key: " + err.Error()) // plain strings and numbers always encode
	}
	return string(b)
}

// takeSpare returns a prepared container of key whose process is still
// there, or nil. d.mu is held.
func (d *Driver) takeSpare(key string) *instance {
	for list := d.spares[key]; len(list) > 0; list = d.spares[key] {
		sp := list[0]
		d.unlink(sp)
		select {
		case <-sp.in.exited:
			continue // died while waiting; it cleans up by itself
		default:
			return sp.in
		}
	}
	return nil
}

// unlink takes sp out of the prepared containers. d.mu is held.
func (d *Driver) unlink(sp *spare) {
	list := d.spares[sp.key]
	for i, s := range list {
		if s == sp {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(d.spares, sp.key)
	} else {
		d.spares[sp.key] = list
	}
	d.lru.Remove(sp.elem)
	d.spareBytes -= sp.cost
}

// touch marks key's prepared containers as the most recently used.
// d.mu is held.
func (d *Driver) touch(key string) {
	for _, sp := range d.spares[key] {
		d.lru.MoveToBack(sp.elem)
	}
}

// StartPrepared starts a container prepared for spec, waiting for one
// being prepared; nil and no error when there is none.
func (d *Driver) StartPrepared(ctx context.Context, spec sandbox.Spec) (sandbox.Instance, error) {
	defer d.startBegins()()
	spec, budget, err := d.check(spec)
	if err != nil {
		return nil, err
	}
	in, err := d.startPrepared(ctx, spec, spareKey(spec), budget)
	if in == nil {
		return nil, err
	}
	return in, err
}

func (d *Driver) startPrepared(ctx context.Context, spec sandbox.Spec, key string, budget time.Duration) (*instance, error) {
	for {
		d.mu.Lock()
		in := d.takeSpare(key)
		// A container being prepared serves one start: the first to come
		// waits for it, the others create their own at once.
		p := d.preparing[key]
		if p != nil && in == nil {
			if p.claimed {
				p = nil
			} else {
				p.claimed = true
			}
		}
		d.mu.Unlock()
		if in != nil {
			in.phases = sandbox.Phases{Prepared: true} // nothing before the start was on this path
			in.setSink(spec.Logs)
			if err := in.begin(ctx, budget); err != nil {
				in.Stop(context.WithoutCancel(ctx))
				if errors.Is(err, errInitGone) {
					continue // it died waiting, no code ran: the next one, or a create
				}
				return nil, err
			}
			d.prepareLater(spec, key)
			return in, nil
		}
		if p == nil {
			return nil, nil
		}
		select {
		case <-p.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Prepare creates a container for spec's next start, unless one is ready
// or being prepared, or it does not fit the budget; it discards the
// containers prepared for other configurations of the same version.
func (d *Driver) Prepare(ctx context.Context, spec sandbox.Spec) error {
	spec.ID = "p" + randomID()
	spec, _, err := d.check(spec)
	if err != nil {
		return err
	}
	key, ver := spareKey(spec), verOf(spec)
	d.mu.Lock()
	var stale []*spare
	for e := d.lru.Front(); e != nil; e = e.Next() {
		if sp := e.Value.(*spare); sp.ver == ver && sp.key != key {
			stale = append(stale, sp)
		}
	}
	for _, sp := range stale {
		d.unlink(sp)
	}
	for k, p := range d.preparing {
		if p.ver == ver && k != key {
			p.discard = true
		}
	}
	d.touch(key)
	d.mu.Unlock()
	d.stopSpares(stale)
	// The version's first call may follow at once: the refills of the
	// pools this create took from wait until it settled, as after a start.
	defer func() { d.lastStart.Store(time.Now().UnixNano()) }()
	return d.prepare(ctx, spec, key, foreground)
}

// Unprepare discards the containers prepared for a function's version, or
// for all its versions when version is empty.
func (d *Driver) Unprepare(namespace, function, version string) {
	d.mu.Lock()
	var gone []*spare
	for e := d.lru.Front(); e != nil; e = e.Next() {
		sp := e.Value.(*spare)
		if sp.ver.ns == namespace && sp.ver.fn == function && (version == "" || sp.ver.version == version) {
			gone = append(gone, sp)
		}
	}
	for _, sp := range gone {
		d.unlink(sp)
	}
	for _, p := range d.preparing {
		if p.ver.ns == namespace && p.ver.fn == function && (version == "" || p.ver.version == version) {
			p.discard = true
		}
	}
	d.mu.Unlock()
	d.stopSpares(gone)
}

// prepareLater prepares, in the background, the next container of a spec
// that just started. At most half the CPUs' worth of these run at once,
// and each waits until no start is in flight (QuietWait at most), so that
// a burst of starts is not slowed by the creates that follow it.
func (d *Driver) prepareLater(spec sandbox.Spec, key string) {
	if d.opts.Spares <= 0 {
		return
	}
	d.mu.Lock()
	if d.closing {
		d.mu.Unlock()
		return
	}
	d.touch(key)
	d.prepWG.Add(1)
	d.mu.Unlock()
	spec.ID, spec.Logs = "p"+randomID(), nil
	go func() {
		defer d.prepWG.Done()
		select {
		case d.prepSem <- struct{}{}:
		case <-d.closed:
			return
		}
		defer func() { <-d.prepSem }()
		if !d.quiet() {
			return
		}
		restore, err := nice.Background()
		defer restore()
		if err != nil {
			d.log.Warn("localrt: preparing a container", "err", err)
		}
		d.prepare(context.Background(), spec, key, background)
	}()
}

// prepare creates a container for key when Options.Spares allows one more
// for it and the budget has room once less recently used ones are gone;
// prio says whether the calling goroutine runs in nice.Background.
func (d *Driver) prepare(ctx context.Context, spec sandbox.Spec, key string, prio priority) error {
	p, evicted := d.reserve(key, verOf(spec))
	d.stopSpares(evicted)
	if p == nil {
		return nil
	}
	defer d.prepWG.Done()
	in, err := d.create(ctx, spec)
	var cost int64
	if err == nil {
		in.prio = prio
		cost = PreparedKernelOverhead
		if st, serr := in.cg.stats(); serr == nil {
			cost += int64(st.MemoryBytes)
		}
	}
	d.mu.Lock()
	delete(d.preparing, key)
	d.spareBytes -= p.cost
	if err != nil {
		close(p.done)
		d.mu.Unlock()
		d.log.Warn("localrt: preparing a container", "function", spec.Function, "err", err)
		return err
	}
	if d.closing || p.discard {
		close(p.done)
		d.mu.Unlock()
		in.Stop(context.Background())
		return nil
	}
	d.lastCost = cost
	sp := &spare{key: key, ver: verOf(spec), in: in, cost: cost}
	sp.elem = d.lru.PushBack(sp)
	d.spares[key] = append(d.spares[key], sp)
	d.spareBytes += cost
	evicted = d.evict(0, sp)
	close(p.done)
	d.mu.Unlock()
	d.stopSpares(evicted)
	return nil
}

// reserve registers a preparation of key with its estimated cost, after
// taking out of the budget the least recently used containers it needs
// room from; nil when key has its containers or the budget has no room.
func (d *Driver) reserve(key string, ver verID) (*preparation, []*spare) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closing || d.opts.Spares <= 0 || d.preparing[key] != nil || len(d.spares[key]) >= d.opts.Spares {
		return nil, nil
	}
	est := d.lastCost
	if est > d.opts.PreparedMaxMemory {
		return nil, nil // nothing to make room for
	}
	evicted := d.evict(est, nil)
	if d.spareBytes+est > d.opts.PreparedMaxMemory || d.lru.Len()+len(d.preparing) >= d.maxSpares {
		return nil, evicted
	}
	p := &preparation{done: make(chan struct{}), ver: ver, cost: est}
	d.preparing[key] = p
	d.spareBytes += est
	d.prepWG.Add(1) // Close waits for it
	return p, evicted
}

// evict unlinks the least recently used prepared containers, but keep,
// until extra more bytes and one more container fit. d.mu is held; the
// caller stops what it returns.
func (d *Driver) evict(extra int64, keep *spare) []*spare {
	var out []*spare
	more := 1
	if keep != nil {
		more = 0
	}
	for e := d.lru.Front(); e != nil; {
		if d.spareBytes+extra <= d.opts.PreparedMaxMemory && d.lru.Len()+len(d.preparing)+more <= d.maxSpares {
			break
		}
		sp := e.Value.(*spare)
		e = e.Next()
		if sp == keep {
			continue
		}
		d.unlink(sp)
		out = append(out, sp)
	}
	return out
}

// stopSpares removes discarded prepared containers.
func (d *Driver) stopSpares(spares []*spare) {
	for _, sp := range spares {
		sp.in.Stop(context.Background())
	}
}

// Spares counts the containers prepared ahead and waiting.
func (d *Driver) Spares() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lru.Len()
}

// PreparedMemory is what the prepared containers count against
// Options.PreparedMaxMemory, in bytes.
func (d *Driver) PreparedMemory() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.spareBytes
}

// backgroundPreparations is how many prepareLater creates run at once.
func backgroundPreparations() int { return max(1, runtime.NumCPU()/2) }

// Prepared reports whether a container is ready for the next start of
// spec.
func (d *Driver) Prepared(spec sandbox.Spec) bool {
	spec.ID = "p"
	spec, _, err := d.check(spec)
	if err != nil {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.spares[spareKey(spec)]) > 0
}

// QuietWait bounds how long a background preparation waits for a moment
// without starts in flight.
const QuietWait = 2 * time.Second

// Settle is how long after the last start, or Prepare, a moment counts
// as quiet: the started instances' first requests, which come right
// after (or the prepared version's first call), have the machine to
// themselves meanwhile.
const Settle = 100 * time.Millisecond

// startBegins counts a start in flight until the function it returns is
// called.
func (d *Driver) startBegins() (ends func()) {
	d.starting.Add(1)
	return func() {
		d.lastStart.Store(time.Now().UnixNano())
		d.starting.Add(-1)
	}
}

// quiet waits until no start has been in flight, and no Prepare
// returned, for Settle, or QuietWait passed; false when the driver closes
// meanwhile.
func (d *Driver) quiet() bool {
	deadline := time.Now().Add(QuietWait)
	for {
		now := time.Now()
		if !now.Before(deadline) {
			return true
		}
		wait := 2 * time.Millisecond
		if d.starting.Load() == 0 {
			since := now.Sub(time.Unix(0, d.lastStart.Load()))
			if since >= Settle {
				return true
			}
			wait = max(wait, Settle-since)
		}
		select {
		case <-d.closed:
			return false
		case <-time.After(min(wait, deadline.Sub(now))):
		}
	}
}

// readyPoll is the interval of the start-up connection checks of a start
// beginning now: Options.Poll, times the starts in flight per CPU, so
// that in a burst of starts the checks together stay at about one per
// millisecond and CPU rather than taking the CPU from the servers they
// wait for (at most 50 ms).
func (d *Driver) readyPoll() time.Duration {
	n := int(d.starting.Load()) / runtime.NumCPU()
	return min(d.opts.Poll*time.Duration(max(n, 1)), max(d.opts.Poll, 50*time.Millisecond))
}
