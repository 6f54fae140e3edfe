package pool

import (
	"context"
)

// owns reports whether this replica owns the function k (Options.Owns).
func (p *Pool) owns(k fnKey) bool {
	return p.opts.Owns == nil || p.opts.Owns(k.ns, k.name)
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
	for _, k := range adopt {
		fn, err := p.opts.Store.GetFunction(ctx, k.ns, k.name, k.version)
		if err != nil {
			p.log.Warn("pool: provisioned version of a function adopted", "namespace", k.ns, "function", k.name, "version", k.version, "err", err)
			continue
		}
		p.mu.Lock()
		if !p.closed && p.owns(fnKey{k.ns, k.name}) {
			p.ensureProvisioned(p.poolFor(fn))
		}
		p.mu.Unlock()
	}
}
