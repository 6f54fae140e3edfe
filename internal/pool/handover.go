package pool

import (
	"context"
)

// owns reports whether this replica owns the function k (Options.Owns).
func (p *Pool) owns(k fnKey) bool {
	return p.opts.Owns == nil || p.opts.Owns(k.ns, k.name)
}

// ReloadSettings reads the concurrency settings from the store again and
// applies what changed: replicas sharing a store (package cluster) change
// them through whichever replica answered the API, and each replica's
// pool learns of them so. A provisioned setting of a function this
// replica owns starts or stops its instances, as when set here.
func (p *Pool) ReloadSettings(ctx context.Context) error {
	p.setMu.Lock() // no change of this pool's own between reading and applying
	defer p.setMu.Unlock()
	set, err := p.readSettings(ctx)
	if err != nil {
		return err
	}
	var adopt []verKey
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	if set.total > 0 {
		p.total = set.total
	}
	reserve := func(fs *fnState, want int64) {
		if fs.reserved == want {
			return
		}
		if fs.reserved < 0 {
			p.unreservedUsed -= fs.used
		} else {
			p.reservedSum -= fs.reserved
		}
		if want < 0 {
			p.unreservedUsed += fs.used
		} else {
			p.reservedSum += want
		}
		fs.reserved = want
	}
	for k, fs := range p.fns {
		want, ok := set.reserved[k]
		if !ok {
			want = -1
		}
		reserve(fs, want)
		for v, ps := range fs.prov {
			if _, ok := set.provisioned[verKey{k.ns, k.name, v}]; ok {
				continue
			}
			ps.stopRetry()
			delete(fs.prov, v)
			if vp := p.pools[verKey{k.ns, k.name, v}]; vp != nil {
				p.ensureProvisioned(vp)
			}
		}
	}
	for k, mem := range set.reserved {
		reserve(p.fnState(k), mem)
	}
	for k, r := range set.provisioned {
		fs := p.fnState(fnKey{k.ns, k.name})
		ps := fs.prov[k.version]
		if ps == nil {
			ps = &provState{}
			fs.prov[k.version] = ps
		}
		if ps.target == r.num && ps.mem == r.mem {
			continue
		}
		ps.target, ps.mem = r.num, r.mem
		if vp := p.pools[k]; vp != nil {
			p.ensureProvisioned(vp)
		} else if p.owns(fs.key) {
			adopt = append(adopt, k)
		}
	}
	p.mu.Unlock()
	p.adopt(ctx, adopt)
	return nil
}

// Rebalance follows a change of ownership (Options.Owns): the functions
// this replica no longer owns are drained (idle instances stop now, busy
// ones when their requests end, provisioned ones no longer come back,
// prepared containers go), and the provisioned instances of the functions
// it owns now are started. Settings stay: they are the account's, whoever
// runs the function.
func (p *Pool) Rebalance(ctx context.Context) {
	var drain []fnKey
	var adopt []verKey
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	for k, fs := range p.fns {
		if !p.owns(k) {
			if len(fs.vps) > 0 {
				drain = append(drain, k)
			}
			continue
		}
		for v := range fs.prov {
			if vp := p.pools[verKey{k.ns, k.name, v}]; vp != nil {
				p.ensureProvisioned(vp)
			} else {
				adopt = append(adopt, verKey{k.ns, k.name, v})
			}
		}
	}
	for _, k := range drain {
		fs := p.fns[k]
		for vp := range fs.vps {
			p.retire(vp)
			p.ensureProvisioned(vp) // busy provisioned instances stop when released
		}
		for _, ps := range fs.prov {
			ps.stopRetry()
		}
	}
	p.mu.Unlock()
	for _, k := range drain {
		p.Unprepare(k.ns, k.name, "")
	}
	p.adopt(ctx, adopt)
}

// adopt starts the provisioned instances of versions that have no pool
// here yet.
func (p *Pool) adopt(ctx context.Context, versions []verKey) {
	for _, k := range versions {
		fn, err := p.opts.Store.GetFunction(ctx, k.ns, k.name, k.version)
		if err != nil {
			p.log.Warn("pool: provisioned version", "namespace", k.ns, "function", k.name, "version", k.version, "err", err)
			continue
		}
		p.mu.Lock()
		if !p.closed && p.owns(fnKey{k.ns, k.name}) {
			p.ensureProvisioned(p.poolFor(fn))
		}
		p.mu.Unlock()
	}
}
