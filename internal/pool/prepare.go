package pool

import (
	"context"
	"fmt"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/sandbox"
	"github.com/scfd/scfd/internal/scf"
)

// Prepare has the driver create, ahead of demand, the container of the
// next cold start of fn (one version, as stored), so that the start only
// starts a process (see sandbox.Preparer). It returns once the container
// is ready, or at once when the driver cannot prepare or has one ready.
// The create holds a start token like a start's (Options.MaxStarts). The
// driver keeps prepared containers within its own budget. A function
// another replica owns (Options.Owns) is prepared there, not here.
func (p *Pool) Prepare(ctx context.Context, fn *scf.Function) error {
	pr, ok := p.opts.Driver.(sandbox.Preparer)
	if !ok || fn.ImageDigest == "" || !p.owns(fnKey{fn.Namespace, fn.Name}) {
		return nil
	}
	img, err := p.opts.Images.Get(ctx, fn.ImageDigest)
	if err != nil {
		return fmt.Errorf("pool: image of function %q: %w", fn.Name, err)
	}
	select {
	case p.starts <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-p.ctx.Done():
		return errdefs.New(errdefs.ErrUnavailable, "", "scfd is shutting down")
	}
	defer func() { <-p.starts }()
	return pr.Prepare(ctx, specOf(fn, img, "", nil))
}

// Unprepare discards the containers prepared for a version of a function
// (a deleted version), or for all its versions when version is empty.
func (p *Pool) Unprepare(namespace, name, version string) {
	if pr, ok := p.opts.Driver.(sandbox.Preparer); ok {
		pr.Unprepare(namespace, name, version)
	}
}
