package pool

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/images"
	"github.com/scfd/scfd/internal/sandbox"
	"github.com/scfd/scfd/internal/scf"
)

// Defaults of Options.
const (
	// DefaultIdleTimeout is how long an unused instance is kept.
	DefaultIdleTimeout = 10 * time.Minute
	// DefaultMaxWaiters bounds the calls of one function version waiting
	// for an instance.
	DefaultMaxWaiters = 1000
	// DefaultProvisionRetry is the wait before a failed provisioned start
	// is tried again.
	DefaultProvisionRetry = 10 * time.Second
)

// DefaultMaxStarts is how many instance starts may run at once on this
// machine when Options.MaxStarts is zero: four per CPU.
func DefaultMaxStarts() int { return 4 * runtime.NumCPU() }

// Images finds an image's unpacked layers; *images.Cache has it.
type Images interface {
	Get(ctx context.Context, digest string) (*images.Image, error)
}

// Pinner is an image cache that keeps an image from collection while it
// is pinned; *images.Cache is one. When Options.Images is a Pinner, the
// pool pins each instance's image from before it looks the image up until
// the instance has stopped: the pool, which knows what runs, owns that
// retention.
type Pinner interface {
	Pin(digest string) (unpin func())
}

// Store is what the pool needs of the function store; *store.Store has
// it. The pool keeps its settings in its own tables (owner "pool") and
// reads published versions for provisioned concurrency.
type Store interface {
	DB() *sql.DB
	Migrate(ctx context.Context, owner string, migrations []string) error
	GetFunction(ctx context.Context, ns, name, version string) (*scf.Function, error)
}

// Options configure a Pool. Driver, Images and Store are required.
type Options struct {
	Driver sandbox.Driver
	Images Images
	Store  Store
	// IdleTimeout is how long an instance may stay unused before it is
	// stopped (SCFD_INSTANCE_IDLE_TIMEOUT). Zero means DefaultIdleTimeout.
	// Provisioned instances are never reaped.
	IdleTimeout time.Duration
	// MaxStarts bounds the instance starts in flight on this machine.
	// Zero means DefaultMaxStarts().
	MaxStarts int
	// MaxWaiters bounds the calls of one function version waiting for an
	// instance; more fail with errdefs.ErrUnavailable. Zero means
	// DefaultMaxWaiters.
	MaxWaiters int
	// QueueTimeout bounds the wait for an instance on top of the caller's
	// context. Zero means only the context bounds it.
	QueueTimeout time.Duration
	// ProvisionRetry is the wait before a failed provisioned start is
	// retried. Zero means DefaultProvisionRetry.
	ProvisionRetry time.Duration
	// Clock schedules reaping, queue timeouts and retries. Nil means
	// SystemClock.
	Clock Clock
	// Logger receives background errors. Nil discards them.
	Logger *slog.Logger
	// InstanceLog receives the output lines an instance prints while no
	// lease is attached to it (start-up output, background work). Nil
	// discards them.
	InstanceLog func(fn *scf.Function, line sandbox.LogLine)
	// LogRate bounds the bytes of output per second each instance may
	// print, whether a lease is attached or not; lines beyond are dropped
	// and a marker line says how many. Zero means DefaultLogRate; negative
	// means no bound.
	LogRate int
	// LogBurst is how many bytes an instance may print at once above
	// LogRate. Zero means DefaultLogBurst.
	LogBurst int
	// Owns tells whether this scfd replica owns a function (package
	// cluster): provisioned instances run only on the owner, and
	// Rebalance drains what it no longer owns. Nil: every function, as a
	// single scfd. It is called with the pool's lock held and must not
	// block.
	Owns func(namespace, name string) bool
	// OnProvisioned is called, outside any lock, when a provisioned
	// instance is ready, for its "Provisioned Report" log line.
	OnProvisioned func(fn *scf.Function, instanceID string, cs ColdStart)
}

type fnKey struct{ ns, name string }

type verKey struct{ ns, name, version string }

// Pool lends instances of function versions. It is safe for concurrent
// use. The zero value is not usable: call New.
type Pool struct {
	opts   Options
	log    *slog.Logger
	clock  Clock
	starts chan struct{} // one token per start in flight
	ctx    context.Context
	cancel context.CancelFunc
	bg     sync.WaitGroup // starts, stops and exit watchers
	setMu  sync.Mutex     // serialises changes of the settings

	mu             sync.Mutex
	closed         bool
	fns            map[fnKey]*fnState
	pools          map[verKey]*versionPool // the current pool of each version
	total          int64                   // account quota, MB
	reservedSum    int64                   // sum of reserved quotas, MB
	unreservedUsed int64                   // MB in use by functions without a reserved quota
	seq            uint64
}

// fnState is what the pool knows of one function, across its versions.
type fnState struct {
	key      fnKey
	reserved int64 // reserved quota in MB; -1 when none is set
	used     int64 // MB in use (busy instances and pending starts)
	vps      map[*versionPool]struct{}
	prov     map[string]*provState // by version
}

// versionPool holds the instances of one version with one configuration
// fingerprint.
type versionPool struct {
	key verKey
	fs  *fnState
	fn  *scf.Function
	fp  string
	// src is the last *scf.Function whose fingerprint was fp: the same
	// pointer again (a caller's cached copy; functions read from the
	// store are not changed afterwards) skips the fingerprint.
	src      *scf.Function
	mem      int64
	slots    int       // requests one instance takes at once
	live     []*inst   // ready instances, not stopping
	idle     []*inst   // live instances with no request; most recently used last
	busy     int       // live or dropped instances with at least one request
	waiters  []*waiter // oldest first
	starting int       // demand starts in flight, queued ones included
	provOn   int       // provisioned starts in flight
	charged  int64     // units (instances) counted in fs.used
	retired  bool      // replaced by a newer configuration, or removed
}

type waiter struct {
	done chan struct{} // closed when granted or failed
	in   *inst
	cold *ColdStart
	err  error
}

// New opens the pool's settings in the store and starts the provisioned
// instances they name (in the background).
func New(ctx context.Context, opts Options) (*Pool, error) {
	if opts.Driver == nil || opts.Images == nil || opts.Store == nil {
		return nil, errors.New("pool: Driver, Images and Store are required")
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.MaxStarts <= 0 {
		opts.MaxStarts = DefaultMaxStarts()
	}
	if opts.MaxWaiters <= 0 {
		opts.MaxWaiters = DefaultMaxWaiters
	}
	if opts.ProvisionRetry <= 0 {
		opts.ProvisionRetry = DefaultProvisionRetry
	}
	if opts.Clock == nil {
		opts.Clock = SystemClock{}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Pool{
		opts: opts, log: log, clock: opts.Clock,
		starts: make(chan struct{}, opts.MaxStarts),
		fns:    map[fnKey]*fnState{}, pools: map[verKey]*versionPool{},
		total: scf.DefaultTotalConcurrencyMB,
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	if err := p.load(ctx); err != nil {
		p.cancel()
		return nil, err
	}
	return p, nil
}

// Acquire lends an instance of fn (one version of a function, as stored):
// an idle warm one, the most recently used first; or a slot on a busy
// HTTP-function instance that takes more requests; or else it waits for
// the first instance that becomes free or ready, starting a new one when
// the waiting calls outnumber the starts in flight.
//
// Over the function's reserved quota or the account's unreserved quota it
// fails at once with errdefs.ErrResourceExhausted (Resource
// "Concurrency") and SCF's message. It fails with errdefs.ErrUnavailable
// when too many calls wait, and with the start-up error when the start
// it waited for failed.
//
// fn must not change once passed: a function
// passed again (the same pointer, as a cache hands it out) is taken to
// have the configuration it had.
func (p *Pool) Acquire(ctx context.Context, fn *scf.Function) (Lease, error) {
	if fn.ImageDigest == "" {
		return nil, errdefs.New(errdefs.ErrFailedPrecondition, "Function", "function %q has no image yet", fn.Name)
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errdefs.New(errdefs.ErrUnavailable, "", "scfd is shutting down")
	}
	vp := p.poolFor(fn)
	if in := vp.freeSlot(); in != nil {
		l := p.grant(in)
		p.mu.Unlock()
		return l, nil
	}
	if n := len(vp.idle); n > 0 {
		if err := p.admit(vp); err != nil {
			p.mu.Unlock()
			return nil, err
		}
		l := p.grant(vp.idle[n-1])
		p.recount(vp)
		p.mu.Unlock()
		return l, nil
	}
	if ceilDiv(len(vp.waiters)+1, vp.slots) > ceilDiv(len(vp.waiters), vp.slots) {
		if err := p.admit(vp); err != nil {
			p.mu.Unlock()
			return nil, err
		}
	}
	if len(vp.waiters) >= p.opts.MaxWaiters {
		p.mu.Unlock()
		return nil, errdefs.New(errdefs.ErrUnavailable, "", "too many calls of function %q are waiting for an instance", fn.Name)
	}
	w := &waiter{done: make(chan struct{})}
	vp.waiters = append(vp.waiters, w)
	p.recount(vp)
	p.startMore(vp)
	p.mu.Unlock()
	return p.wait(ctx, vp, w)
}

func (p *Pool) wait(ctx context.Context, vp *versionPool, w *waiter) (Lease, error) {
	var timeout <-chan struct{}
	if p.opts.QueueTimeout > 0 {
		ch := make(chan struct{})
		t := p.clock.AfterFunc(p.opts.QueueTimeout, func() { close(ch) })
		defer t.Stop()
		timeout = ch
	}
	var cause error
	select {
	case <-w.done:
	case <-ctx.Done():
		cause = ctx.Err()
	case <-timeout:
		cause = errdefs.New(errdefs.ErrUnavailable, "", "no instance of function %q became free within %s", vp.key.name, p.opts.QueueTimeout)
	}
	p.mu.Lock()
	if cause != nil {
		select {
		case <-w.done:
			// Granted or failed at the same moment: a granted instance
			// goes back.
			if w.in != nil {
				p.releaseLocked(w.in, Healthy)
			}
		default:
			vp.removeWaiter(w)
			p.recount(vp)
		}
		p.mu.Unlock()
		return nil, cause
	}
	p.mu.Unlock()
	if w.err != nil {
		return nil, w.err
	}
	return &lease{p: p, in: w.in, cold: w.cold}, nil
}

// admit checks that one more instance of vp may be in use.
func (p *Pool) admit(vp *versionPool) error {
	fs := vp.fs
	if fs.reserved >= 0 {
		if fs.used+vp.mem > fs.reserved {
			return errdefs.New(errdefs.ErrResourceExhausted, "Concurrency",
				"Function [ %s ] concurrency exceeded reserved quota %d MB", vp.key.name, fs.reserved)
		}
		return nil
	}
	if free := p.total - p.reservedSum; p.unreservedUsed+vp.mem > free {
		return errdefs.New(errdefs.ErrResourceExhausted, "Concurrency",
			"Function [ %s ] concurrency exceeded region unreserved quota %d MB", vp.key.name, free)
	}
	return nil
}

// recount updates the memory in use after vp's busy instances or waiters
// changed.
func (p *Pool) recount(vp *versionPool) {
	units := int64(vp.busy + ceilDiv(len(vp.waiters), vp.slots))
	d := (units - vp.charged) * vp.mem
	if d == 0 {
		return
	}
	vp.charged = units
	vp.fs.used += d
	if vp.fs.reserved < 0 {
		p.unreservedUsed += d
	}
}

// poolFor returns the current pool of fn's version, replacing it when
// fn's configuration changed: the old one's idle instances stop, its busy
// ones stop when released.
func (p *Pool) poolFor(fn *scf.Function) *versionPool {
	version := fn.Version
	if version == "" {
		version = scf.Latest
	}
	key := verKey{fn.Namespace, fn.Name, version}
	vp := p.pools[key]
	if vp != nil && vp.src == fn {
		return vp
	}
	fp := fingerprint(fn)
	if vp != nil && vp.fp == fp {
		vp.src = fn
		return vp
	}
	if vp != nil {
		p.retire(vp)
	}
	fs := p.fnState(fnKey{fn.Namespace, fn.Name})
	c := *fn
	c.Version = version
	vp = &versionPool{key: key, fs: fs, fn: &c, fp: fp, src: fn, mem: memoryMB(fn), slots: slotsOf(fn)}
	fs.vps[vp] = struct{}{}
	p.pools[key] = vp
	if ps := fs.prov[version]; ps != nil {
		ps.mem = vp.mem
		p.ensureProvisioned(vp)
	}
	return vp
}

func (p *Pool) fnState(k fnKey) *fnState {
	fs := p.fns[k]
	if fs == nil {
		fs = &fnState{key: k, reserved: -1, vps: map[*versionPool]struct{}{}, prov: map[string]*provState{}}
		p.fns[k] = fs
	}
	return fs
}

// retire takes vp out of service: idle instances stop now, busy ones
// when released; its waiters are still served.
func (p *Pool) retire(vp *versionPool) {
	vp.retired = true
	if p.pools[vp.key] == vp {
		delete(p.pools, vp.key)
	}
	for len(vp.idle) > 0 {
		p.drop(vp.idle[len(vp.idle)-1])
	}
	p.forgetIfEmpty(vp)
}

func (p *Pool) forgetIfEmpty(vp *versionPool) {
	if vp.retired && len(vp.live) == 0 && len(vp.waiters) == 0 && vp.busy == 0 && vp.starting == 0 && vp.provOn == 0 {
		delete(vp.fs.vps, vp)
	}
}

// freeSlot returns a busy instance that takes another request (HTTP
// functions with MaxConcurrency above 1), the fullest first.
func (vp *versionPool) freeSlot() *inst {
	if vp.slots <= 1 {
		return nil
	}
	var best *inst
	for _, in := range vp.live {
		if in.active > 0 && in.active < vp.slots && (best == nil || in.active > best.active) {
			best = in
		}
	}
	return best
}

func (vp *versionPool) removeWaiter(w *waiter) {
	for i, x := range vp.waiters {
		if x == w {
			vp.waiters = append(vp.waiters[:i], vp.waiters[i+1:]...)
			return
		}
	}
}

func (vp *versionPool) removeIdle(in *inst) {
	for i, x := range vp.idle {
		if x == in {
			vp.idle = append(vp.idle[:i], vp.idle[i+1:]...)
			return
		}
	}
}

func (vp *versionPool) removeLive(in *inst) {
	for i, x := range vp.live {
		if x == in {
			vp.live = append(vp.live[:i], vp.live[i+1:]...)
			return
		}
	}
}

// Remove stops every instance of a deleted function, discards the
// containers prepared for it, fails its waiting calls with
// errdefs.ErrNotFound and forgets its concurrency settings.
func (p *Pool) Remove(ctx context.Context, ns, name string) error {
	k := fnKey{ns, name}
	p.mu.Lock()
	fs := p.fns[k]
	if fs != nil {
		for vp := range fs.vps {
			for _, w := range vp.waiters {
				w.err = errdefs.NotFound("Function", "function %q was deleted", name)
				close(w.done)
			}
			vp.waiters = nil
			for len(vp.live) > 0 {
				p.drop(vp.live[len(vp.live)-1])
			}
			p.recount(vp)
			p.retire(vp)
		}
		for _, ps := range fs.prov {
			ps.stopRetry()
		}
		fs.prov = map[string]*provState{}
		if fs.reserved >= 0 {
			p.reservedSum -= fs.reserved
		}
		delete(p.fns, k)
	}
	p.mu.Unlock()
	p.Unprepare(ns, name, "")
	return p.deleteSettings(ctx, ns, name)
}

// Close stops every instance and fails the waiting calls; Acquire fails
// afterwards. It waits for the stops until ctx ends.
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		for _, fs := range p.fns {
			for _, ps := range fs.prov {
				ps.stopRetry()
			}
			for vp := range fs.vps {
				for _, w := range vp.waiters {
					w.err = errdefs.New(errdefs.ErrUnavailable, "", "scfd is shutting down")
					close(w.done)
				}
				vp.waiters = nil
				for len(vp.live) > 0 {
					p.drop(vp.live[len(vp.live)-1])
				}
				p.recount(vp)
			}
		}
		p.cancel()
	}
	p.mu.Unlock()
	done := make(chan struct{})
	go func() {
		p.bg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("pool: stopping instances: %w", ctx.Err())
	}
}

// InstanceInfo describes one instance, for the console and metrics.
type InstanceInfo struct {
	Namespace   string
	Function    string
	Version     string
	ID          string
	State       sandbox.State
	Requests    int   // requests it serves now
	Served      int64 // requests it was lent for since it started
	Provisioned bool
	Started     time.Time
	LastUsed    time.Time
}

// Instances returns a snapshot of the started instances.
func (p *Pool) Instances() []InstanceInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []InstanceInfo
	for _, fs := range p.fns {
		for vp := range fs.vps {
			for _, in := range vp.live {
				out = append(out, InstanceInfo{
					Namespace: vp.key.ns, Function: vp.key.name, Version: vp.key.version,
					ID: in.id, State: in.sb.State(), Requests: in.active, Served: in.served, Provisioned: in.provisioned,
					Started: in.started, LastUsed: in.lastUsed,
				})
			}
		}
	}
	return out
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func memoryMB(fn *scf.Function) int64 {
	if fn.MemorySize <= 0 {
		return 128
	}
	return fn.MemorySize
}

func slotsOf(fn *scf.Function) int {
	if fn.Type == scf.TypeHTTP && fn.Concurrency.MaxConcurrency > 1 {
		return int(fn.Concurrency.MaxConcurrency)
	}
	return 1
}
