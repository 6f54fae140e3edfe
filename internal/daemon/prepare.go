package daemon

import (
	"context"
	"log/slog"

	"github.com/scfd/scfd/internal/api"
	"github.com/scfd/scfd/internal/pool"
	"github.com/scfd/scfd/internal/scf"
	"github.com/scfd/scfd/internal/store"
)

// prepareOn is the deployer's Prepare: it readies a version's first cold
// start on the pool; nil (nothing prepared) when instances cannot run here.
func prepareOn(p *pool.Pool) func(context.Context, *scf.Function) error {
	if p == nil {
		return nil
	}
	return p.Prepare
}

// preparedVersions is the API's version store: a version's first cold
// start is readied as it is published, and what was prepared for a
// deleted version goes.
type preparedVersions struct {
	*store.Store
	pool *pool.Pool
	log  *slog.Logger
}

func (v preparedVersions) PublishVersion(ctx context.Context, ns, name, description string) (*scf.Function, error) {
	fn, err := v.Store.PublishVersion(ctx, ns, name, description)
	if err == nil && fn.Status == scf.StatusActive {
		if err := v.pool.Prepare(ctx, fn); err != nil {
			v.log.Warn("preparing a published version's first start", "namespace", ns, "function", name, "version", fn.Version, "err", err)
		}
	}
	return fn, err
}

func (v preparedVersions) DeleteVersion(ctx context.Context, ns, name, version string) error {
	err := v.Store.DeleteVersion(ctx, ns, name, version)
	if err == nil {
		v.pool.Unprepare(ns, name, version)
	}
	return err
}

// versions is the API's version store: with a pool, publishing prepares
// the new version's first start.
func (d *daemon) versions() api.VersionStore {
	if p := d.inv.pool; p != nil {
		return preparedVersions{Store: d.st, pool: p, log: d.log}
	}
	return d.st
}
