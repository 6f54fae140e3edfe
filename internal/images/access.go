package images

import (
	"context"

	"github.com/scfd/scfd/internal/scf"
)

// Access is whose rights a pull carries to a registry that scopes its
// repositories by namespace, as scfd's embedded registry does: the
// registry's in-process transport reads it from the request's context
// and authenticates the request with it (see Options.ScopedRegistries).
type Access = scf.Access

type accessKey struct{}

// WithAccess returns ctx carrying a: the pulls made with it read scoped
// registries with a's rights.
func WithAccess(ctx context.Context, a Access) context.Context {
	return context.WithValue(ctx, accessKey{}, a)
}

// AccessFrom returns the Access ctx carries, if any.
func AccessFrom(ctx context.Context) (Access, bool) {
	a, ok := ctx.Value(accessKey{}).(Access)
	return a, ok
}
