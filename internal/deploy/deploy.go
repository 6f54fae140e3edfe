// Package deploy is the background coordinator between the function store
// and the image cache. When a function is created, or its code updated,
// the API calls Deploy and answers at once; the Deployer then resolves the
// function's ImageUri to a digest, pulls and unpacks it through
// images.Cache, reports progress in StatusDesc, has the first start
// readied (Options.Prepare), and finally pins the digest and moves the
// function to Active — or CreateFailed/UpdateFailed
// with a StatusReason naming the cause; an update that asked for it
// (Publish TRUE) is then published as a version. A result is written only if the
// function's CodeRevision is still the one that was pulled, so a slow pull
// never overwrites a newer update. Deleted functions (Forget) and
// replaced images lead to a garbage collection of the cache.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/images"
	"github.com/scfd/scfd/internal/scf"
)

// Store is what the Deployer needs from the function store.
type Store interface {
	GetFunction(ctx context.Context, ns, name, version string) (*scf.Function, error)
	// UpdateFunction changes one version atomically; when update returns
	// an error nothing is written and the error is returned.
	UpdateFunction(ctx context.Context, ns, name, version string, update func(*scf.Function) error) (*scf.Function, error)
	// ImageDigests returns every digest some function version pins.
	ImageDigests(ctx context.Context) (map[string]bool, error)
}

// Images is what the Deployer needs from the image cache; *images.Cache
// has it.
type Images interface {
	// PullPinned pulls and keeps the image from collection until unpin
	// is called.
	PullPinned(ctx context.Context, ref string, progress func(images.Progress)) (*images.Image, func(), error)
	// GC collects what roots does not name and nobody pins; roots is
	// called once GC may decide.
	GC(ctx context.Context, roots func(context.Context) (map[string]bool, error)) (int, error)
}

// Options configure a Deployer; the zero value works.
type Options struct {
	// ProgressInterval is the least time between two progress writes to
	// the store. Zero means 500 ms.
	ProgressInterval time.Duration
	// PullTimeout bounds one pull. Zero means 30 minutes.
	PullTimeout time.Duration
	// Now is the clock used to throttle progress writes. Nil means time.Now.
	Now func() time.Time
	// Logger receives one line per failed pull and per GC. Nil means discard.
	Logger *slog.Logger
	// PullObserved is told how long each successful pull took (metrics).
	// Nil means nobody is.
	PullObserved func(time.Duration)
	// Prepare is called after a successful pull and before the version
	// is marked Active, with the version as it will be stored, so that
	// its first cold start can be readied (the instance pool prepares its
	// container). Its error is logged; the version becomes Active all the
	// same. Nil means nothing is prepared.
	Prepare func(ctx context.Context, fn *scf.Function) error
	// Publish publishes $LATEST as a new version. It is called once a
	// pull made the function Active when the update asked for it
	// (scf.Function.PublishOnActive); its error is logged. Nil means
	// such requests are dropped.
	Publish func(ctx context.Context, ns, name string) error
}

// Deployer runs image pulls in the background. Its methods are safe for
// concurrent use.
type Deployer struct {
	store  Store
	cache  Images
	o      Options
	log    *slog.Logger
	ctx    context.Context // background work; cancelled by Close after waiting
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool

	gcMu sync.Mutex // one GC at a time
}

// New returns a Deployer writing to store and pulling into cache.
func New(store Store, cache Images, o Options) *Deployer {
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = 500 * time.Millisecond
	}
	if o.PullTimeout <= 0 {
		o.PullTimeout = 30 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	d := &Deployer{store: store, cache: cache, o: o, log: o.Logger}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	return d
}

// Deploy starts pulling the image of the function's $LATEST and returns at
// once. It does nothing unless the function is Creating or Updating. The
// pull carries the function's PullAccess (see images.WithAccess): the
// rights of the key that created it or last updated its code; a function
// stored without them (before they were recorded) pulls with its
// namespace's rights only.
func (d *Deployer) Deploy(namespace, name string) {
	if !d.start() {
		return
	}
	go func() {
		defer d.wg.Done()
		d.deploy(namespace, name)
	}()
}

// Forget is called when a function was deleted: images no version pins
// any more are collected in the background.
func (d *Deployer) Forget(namespace, name string) {
	if !d.start() {
		return
	}
	go func() {
		defer d.wg.Done()
		d.gc(d.ctx)
	}()
}

// Resume restarts the pulls of functions a previous run left Creating or
// Updating (the daemon lists them from the store at start). Each carries
// the rights recorded with the function, as the pull it resumes did.
func (d *Deployer) Resume(ctx context.Context, pending []*scf.Function) {
	for _, f := range pending {
		if f.Version != "" && f.Version != scf.Latest {
			continue
		}
		if f.Status == scf.StatusCreating || f.Status == scf.StatusUpdating {
			d.Deploy(f.Namespace, f.Name)
		}
	}
}

// Close waits for the pulls and collections in flight; later calls to
// Deploy and Forget do nothing.
func (d *Deployer) Close() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.wg.Wait()
	d.cancel()
}

func (d *Deployer) start() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	d.wg.Add(1)
	return true
}

// errStale aborts a store update for a function whose code changed since
// the pull began.
var errStale = errors.New("function changed since the pull began")

func pulling(s scf.Status) bool { return s == scf.StatusCreating || s == scf.StatusUpdating }

func (d *Deployer) deploy(ns, name string) {
	ctx, cancel := context.WithTimeout(d.ctx, d.o.PullTimeout)
	defer cancel()
	f, err := d.store.GetFunction(ctx, ns, name, scf.Latest)
	if err != nil {
		d.log.WarnContext(ctx, "deploy: function gone before its pull", "namespace", ns, "function", name, "err", err)
		return
	}
	if !pulling(f.Status) {
		return
	}
	access := f.PullAccess
	if !access.All && len(access.Namespaces) == 0 {
		access = images.Access{Namespaces: []string{ns}}
	}
	ctx = images.WithAccess(ctx, access)
	rev, uri, oldDigest := f.CodeRevision, f.Image.ImageUri, f.ImageDigest
	failed := scf.StatusCreateFailed
	if f.Status == scf.StatusUpdating {
		failed = scf.StatusUpdateFailed
	}
	current := func(f *scf.Function) error {
		if f.CodeRevision != rev || !pulling(f.Status) {
			return errStale
		}
		return nil
	}

	var last time.Time
	progress := func(p images.Progress) {
		now := d.o.Now()
		if !last.IsZero() && now.Sub(last) < d.o.ProgressInterval {
			return
		}
		last = now
		d.store.UpdateFunction(ctx, ns, name, scf.Latest, func(f *scf.Function) error {
			if err := current(f); err != nil {
				return err
			}
			f.StatusDesc = p.String()
			return nil
		})
	}

	began := time.Now()
	// Pinned until the store names the digest, so that a collection
	// deciding meanwhile keeps the image.
	img, unpin, pullErr := d.cache.PullPinned(ctx, uri, progress)
	if pullErr == nil {
		defer unpin()
		if d.o.PullObserved != nil {
			d.o.PullObserved(time.Since(began))
		}
		if d.o.Prepare != nil {
			next := *f
			next.ImageDigest, next.Status, next.StatusDesc = img.Digest, scf.StatusActive, ""
			if err := d.o.Prepare(ctx, &next); err != nil {
				d.log.WarnContext(ctx, "deploy: preparing the first start", "namespace", ns, "function", name, "err", err)
			}
		}
	}
	publish := false
	_, err = d.store.UpdateFunction(ctx, ns, name, scf.Latest, func(f *scf.Function) error {
		if err := current(f); err != nil {
			return err
		}
		publish = f.PublishOnActive && pullErr == nil
		f.PublishOnActive = false
		if pullErr != nil {
			reason := Reason(pullErr)
			f.Status = failed
			f.StatusDesc = reason.ErrorMessage
			f.StatusReasons = []scf.StatusReason{reason}
			return nil
		}
		f.ImageDigest = img.Digest
		f.Status = scf.StatusActive
		f.StatusDesc = ""
		f.StatusReasons = Warnings(f, img)
		return nil
	})
	switch {
	case errors.Is(err, errStale):
		return
	case err != nil:
		d.log.ErrorContext(ctx, "deploy: recording the pull", "namespace", ns, "function", name, "err", err)
		return
	case pullErr != nil:
		d.log.WarnContext(ctx, "deploy: image pull failed", "namespace", ns, "function", name, "image", uri, "err", pullErr)
		return
	}
	if publish && d.o.Publish != nil {
		if err := d.o.Publish(ctx, ns, name); err != nil {
			d.log.ErrorContext(ctx, "deploy: publishing the updated function", "namespace", ns, "function", name, "err", err)
		}
	}
	if oldDigest != "" && oldDigest != img.Digest {
		d.gc(ctx)
	}
}

// gc collects every cached image no function version pins. The pinned
// digests are read when the collection may decide (after the pulls it
// waits for), and images pulled but not yet recorded in the store are
// pinned in the cache.
func (d *Deployer) gc(ctx context.Context) {
	d.gcMu.Lock()
	defer d.gcMu.Unlock()
	n, err := d.cache.GC(ctx, d.store.ImageDigests)
	if err != nil {
		d.log.ErrorContext(ctx, "deploy: image GC", "err", err)
		return
	}
	if n > 0 {
		d.log.InfoContext(ctx, "deploy: collected unused images", "removed", n)
	}
}

// Reason turns a pull error into the StatusReason a client sees: the
// error code from scf.ErrorCode, named after the image when the error
// names no resource (FailedOperation.Image for an error of no class), the
// message naming the cause.
func Reason(err error) scf.StatusReason {
	if errors.Is(err, context.DeadlineExceeded) {
		return scf.StatusReason{ErrorCode: "FailedOperation.PullImage", ErrorMessage: "pulling the image timed out"}
	}
	code, ok := scf.ErrorCode(err)
	if !ok {
		code = "FailedOperation"
	}
	if !strings.Contains(code, ".") {
		code += ".Image"
	}
	return scf.StatusReason{
		ErrorCode:    code,
		ErrorMessage: errdefs.Message(err, "pulling the image failed: "+err.Error()),
	}
}

// Warnings returns the advice SCF's image-size table gives for f's
// MemorySize: a Warning.MemorySize reason when it is below the
// recommendation for img's size, else nothing.
func Warnings(f *scf.Function, img *images.Image) []scf.StatusReason {
	want := images.RecommendedMemoryMB(img.Size)
	if f.MemorySize >= want {
		return nil
	}
	return []scf.StatusReason{{
		ErrorCode: "Warning.MemorySize",
		ErrorMessage: fmt.Sprintf("the image is %.1f MB; for images of this size SCF advises a MemorySize of at least %d MB, and this function has %d MB",
			float64(img.Size)/(1<<20), want, f.MemorySize),
	}}
}

var _ Images = (*images.Cache)(nil)
