package invocation

import (
	"context"
	"errors"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/scf"
)

// Aliases finds a function's aliases; *store.Store has it.
type Aliases interface {
	GetAlias(ctx context.Context, namespace, function, name string) (*scf.Alias, error)
}

// Functions finds a function version; *store.Store has it.
type Functions interface {
	GetFunction(ctx context.Context, namespace, name, version string) (*scf.Function, error)
}

// Qualifiers resolve the Qualifier of a request, a version or an alias,
// to the function version it names. Every action that takes a Qualifier
// resolves it here, so that an alias works wherever a version does.
// Aliases may be nil: then only versions and $DEFAULT (as $LATEST)
// resolve.
type Qualifiers struct {
	Functions Functions
	Aliases   Aliases
}

// Resolve returns the version qualifier names: a version ("" is $LATEST)
// names itself; an alias names the version pick chooses among its routes
// (Alias.Route, per invocation), or its main version when pick is nil.
// $DEFAULT without an alias of that name means $LATEST. An unknown alias
// is ErrNotFound about "Qualifier" (SCF's ResourceNotFound.Qualifier), or
// about "Function" when the function does not exist. viaAlias tells
// whether qualifier was an alias.
func (q Qualifiers) Resolve(ctx context.Context, namespace, function, qualifier string, pick func(*scf.Alias) string) (version string, viaAlias bool, err error) {
	qualifier = ResolveQualifier(qualifier)
	if scf.IsVersion(qualifier) {
		return qualifier, false, nil
	}
	var a *scf.Alias
	if q.Aliases != nil {
		a, err = q.Aliases.GetAlias(ctx, namespace, function, qualifier)
	} else {
		err = errdefs.NotFound("Alias", "alias %q of function %q not found", qualifier, function)
	}
	if errors.Is(err, errdefs.ErrNotFound) {
		if _, ferr := q.Functions.GetFunction(ctx, namespace, function, scf.Latest); ferr != nil {
			return "", false, ferr
		}
		if qualifier == scf.DefaultAlias {
			return scf.Latest, false, nil
		}
		return "", false, errdefs.NotFound("Qualifier", "function %q has no version or alias %q", function, qualifier)
	}
	if err != nil {
		return "", false, err
	}
	if pick == nil {
		return a.FunctionVersion, true, nil
	}
	return pick(a), true, nil
}

// Function returns the function version qualifier names (see Resolve).
// An unknown version is ErrNotFound about "Qualifier"; a version an alias
// routes to that is gone is ErrNotFound about "FunctionVersion" (SCF's
// ResourceNotFound.FunctionVersion).
func (q Qualifiers) Function(ctx context.Context, namespace, function, qualifier string, pick func(*scf.Alias) string) (*scf.Function, error) {
	version, viaAlias, err := q.Resolve(ctx, namespace, function, qualifier, pick)
	if err != nil {
		return nil, err
	}
	fn, err := q.Functions.GetFunction(ctx, namespace, function, version)
	if errdefs.Resource(err) != "Version" {
		return fn, err
	}
	if viaAlias {
		return nil, errdefs.NotFound("FunctionVersion", "alias %q of function %q routes to version %s, which does not exist", qualifier, function, version)
	}
	return nil, errdefs.NotFound("Qualifier", "function %q has no version or alias %q", function, qualifier)
}
