package api

import (
	"context"
	"slices"

	"github.com/scfd/scfd/internal/invocation"
	"github.com/scfd/scfd/internal/scf"
)

// qualifiers resolves the Qualifier of any action, a version or an alias
// (invocation.Qualifiers, as the engine does for Invoke).
func (s *Server) qualifiers() invocation.Qualifiers {
	q := invocation.Qualifiers{Functions: s.opts.Store}
	if s.opts.Versions != nil {
		q.Aliases = s.opts.Versions
	}
	return q
}

// versionsOf returns the versions a qualifier covers: the version it
// names, or every version an alias routes to, its main one first.
func (s *Server) versionsOf(ctx context.Context, ns, function, qualifier string) ([]string, error) {
	var versions []string
	main, _, err := s.qualifiers().Resolve(ctx, ns, function, qualifier, func(a *scf.Alias) string {
		versions = a.Versions()
		return a.FunctionVersion
	})
	if err != nil {
		return nil, err
	}
	if len(versions) == 0 {
		versions = []string{main}
	}
	return slices.Compact(versions), nil
}
