package pool

import (
	"cmp"
	"context"
	"errors"
	"slices"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/scf"
)

// provState is one version's provisioned concurrency.
type provState struct {
	target  int64
	mem     int64  // the version's memory size, MB
	failure string // the last start error, until a start succeeds
	retry   Timer  // scheduled retry after a failure
}

func (ps *provState) stopRetry() {
	if ps.retry != nil {
		ps.retry.Stop()
		ps.retry = nil
	}
}

// ensureProvisioned starts or stops provisioned instances of vp until
// their number matches the version's setting. p.mu is held.
func (p *Pool) ensureProvisioned(vp *versionPool) {
	if p.closed {
		return
	}
	var target int64
	ps := vp.fs.prov[vp.key.version]
	current := !vp.retired && p.pools[vp.key] == vp && p.owns(vp.fs.key)
	if ps != nil && current {
		target = ps.target
	}
	have := p.provisionedLive(vp)
	// Too many: stop idle ones, let busy ones become ordinary instances.
	for i := 0; have > target && i < len(vp.live); {
		in := vp.live[i]
		if !in.provisioned {
			i++
			continue
		}
		in.provisioned, in.fresh = false, false
		have--
		if in.active == 0 {
			p.drop(in) // removes it from vp.live
			continue
		}
		i++
	}
	if ps == nil || !current || ps.retry != nil {
		return
	}
	for have+int64(vp.provOn) < target {
		vp.provOn++
		p.bg.Add(1)
		go p.startInstance(vp, true)
	}
}

// provisionedLive counts vp's provisioned instances. p.mu is held.
func (p *Pool) provisionedLive(vp *versionPool) int64 {
	var n int64
	for _, in := range vp.live {
		if in.provisioned {
			n++
		}
	}
	return n
}

// provisionFailed records a failed provisioned start and schedules a
// retry. p.mu is held.
func (p *Pool) provisionFailed(vp *versionPool, err error) {
	ps := vp.fs.prov[vp.key.version]
	if ps == nil || p.pools[vp.key] != vp || p.closed {
		return
	}
	ps.failure = err.Error()
	if ps.retry != nil {
		return
	}
	var t Timer
	t = p.clock.AfterFunc(p.opts.ProvisionRetry, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if ps.retry != t {
			return
		}
		ps.retry = nil
		if vp := p.pools[vp.key]; vp != nil {
			p.ensureProvisioned(vp)
		}
	})
	ps.retry = t
}

// PutProvisioned sets how many instances of a published version are kept
// started (0 removes the setting). $LATEST is refused
// (InvalidParameterValue.Qualifier). The instances of all versions
// together must fit the function's reserved quota
// (FailedOperation.ProvisionedExceedReserved) or, without one, the
// account's unreserved quota (FailedOperation.ProvisionedExceedAvailable).
func (p *Pool) PutProvisioned(ctx context.Context, ns, name, version string, n int64) error {
	if version == "" || version == scf.Latest {
		return errdefs.Invalid("Qualifier", "provisioned concurrency is not supported on %s; publish a version", scf.Latest)
	}
	if n < 0 {
		return errdefs.Invalid("VersionProvisionedConcurrencyNum", "VersionProvisionedConcurrencyNum must not be negative")
	}
	if n == 0 {
		return p.DeleteProvisioned(ctx, ns, name, version)
	}
	fn, err := p.version(ctx, ns, name, version)
	if err != nil {
		return err
	}
	mem := memoryMB(fn)
	p.setMu.Lock()
	defer p.setMu.Unlock()
	p.mu.Lock()
	fs := p.fns[fnKey{ns, name}]
	want := n * mem
	if fs != nil {
		for v, ps := range fs.prov {
			if v != version {
				want += ps.target * ps.mem
			}
		}
	}
	var quotaErr error
	if fs != nil && fs.reserved >= 0 {
		if want > fs.reserved {
			quotaErr = errdefs.New(errdefs.ErrFailedPrecondition, "ProvisionedExceedReserved",
				"provisioned concurrency of function %q would hold %d MB, above its reserved quota of %d MB", name, want, fs.reserved)
		}
	} else if free := p.total - p.reservedSum; want > free {
		quotaErr = errdefs.New(errdefs.ErrFailedPrecondition, "ProvisionedExceedAvailable",
			"provisioned concurrency of function %q would hold %d MB, above the unreserved quota of %d MB", name, want, free)
	}
	p.mu.Unlock()
	if quotaErr != nil {
		return quotaErr
	}
	if err := p.saveProvisioned(ctx, ns, name, version, n, mem); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fs = p.fnState(fnKey{ns, name})
	ps := fs.prov[version]
	if ps == nil {
		ps = &provState{}
		fs.prov[version] = ps
	}
	ps.target, ps.mem = n, mem
	if !p.closed {
		p.ensureProvisioned(p.poolFor(fn))
	}
	return nil
}

// DeleteProvisioned removes a version's provisioned concurrency: its idle
// provisioned instances stop, busy ones become ordinary instances.
func (p *Pool) DeleteProvisioned(ctx context.Context, ns, name, version string) error {
	if version == "" || version == scf.Latest {
		return errdefs.Invalid("Qualifier", "provisioned concurrency is not supported on %s", scf.Latest)
	}
	p.setMu.Lock()
	defer p.setMu.Unlock()
	if err := p.deleteProvisioned(ctx, ns, name, version); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fs := p.fns[fnKey{ns, name}]
	if fs == nil || fs.prov[version] == nil {
		return nil
	}
	fs.prov[version].stopRetry()
	delete(fs.prov, version)
	if vp := p.pools[verKey{ns, name, version}]; vp != nil {
		p.ensureProvisioned(vp)
	}
	return nil
}

// GetProvisioned reports the provisioned concurrency of one version, or
// of every version when version is empty, with how many more instances
// (of $LATEST's memory size) the function's quota leaves room for.
func (p *Pool) GetProvisioned(ctx context.Context, ns, name, version string) (unallocated int64, out []scf.ProvisionedConcurrency, err error) {
	latest, err := p.opts.Store.GetFunction(ctx, ns, name, scf.Latest)
	if err != nil {
		return 0, nil, err
	}
	if version != "" && version != scf.Latest {
		if _, err := p.version(ctx, ns, name, version); err != nil {
			return 0, nil, err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	quota := p.total - p.reservedSum
	out = []scf.ProvisionedConcurrency{}
	var used int64
	if fs := p.fns[fnKey{ns, name}]; fs != nil {
		if fs.reserved >= 0 {
			quota = fs.reserved
		}
		for v, ps := range fs.prov {
			used += ps.target * ps.mem
			if version != "" && v != version {
				continue
			}
			out = append(out, p.provStatus(fs, v, ps))
		}
	}
	slices.SortFunc(out, func(a, b scf.ProvisionedConcurrency) int {
		return cmp.Or(cmp.Compare(len(a.Qualifier), len(b.Qualifier)), cmp.Compare(a.Qualifier, b.Qualifier))
	})
	return max(quota-used, 0) / memoryMB(latest), out, nil
}

func (p *Pool) provStatus(fs *fnState, version string, ps *provState) scf.ProvisionedConcurrency {
	pc := scf.ProvisionedConcurrency{Qualifier: version, Allocated: ps.target}
	if vp := p.pools[verKey{fs.key.ns, fs.key.name, version}]; vp != nil {
		for _, in := range vp.live {
			if in.provisioned {
				pc.Available++
			}
		}
	}
	switch {
	case pc.Available >= pc.Allocated:
		pc.Status = scf.ProvisionedDone
	case ps.failure != "":
		pc.Status, pc.StatusReason = scf.ProvisionedFailed, ps.failure
	default:
		pc.Status = scf.ProvisionedInProgress
	}
	return pc
}

// version looks up a published version; a missing version of an existing
// function is ResourceNotFound.Version.
func (p *Pool) version(ctx context.Context, ns, name, version string) (*scf.Function, error) {
	fn, err := p.opts.Store.GetFunction(ctx, ns, name, version)
	if err == nil {
		return fn, nil
	}
	if !errors.Is(err, errdefs.ErrNotFound) {
		return nil, err
	}
	if _, lerr := p.opts.Store.GetFunction(ctx, ns, name, scf.Latest); lerr != nil {
		return nil, lerr
	}
	return nil, errdefs.NotFound("Version", "version %q of function %q not found", version, name)
}
