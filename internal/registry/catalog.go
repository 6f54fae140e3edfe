package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/registry/storage"
	"github.com/distribution/reference"

	"github.com/scfd/scfd/internal/api"
)

// Repository is one repository of the registry and its tags.
type Repository struct {
	Name string   // <namespace>/<repo>
	Tags []string // sorted
}

// Repositories lists the repositories scope may pull from (every one for
// an administrator, those under its namespaces for another key) with
// their tags, sorted by name. Repositories without a tag are left out.
func (r *Registry) Repositories(ctx context.Context, scope api.Scope) ([]Repository, error) {
	r.gcMu.RLock()
	defer r.gcMu.RUnlock()
	if r.empty(ctx) {
		return []Repository{}, nil
	}
	ns, err := storage.NewRegistry(ctx, r.driver)
	if err != nil {
		return nil, fmt.Errorf("registry: catalog: %w", err)
	}
	var names []string
	err = ns.(distribution.RepositoryEnumerator).Enumerate(ctx, func(name string) error {
		if space, _, ok := strings.Cut(name, "/"); ok && scope.Allows(space) {
			names = append(names, name)
		}
		return nil
	})
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("registry: catalog: %w", err)
	}
	slices.Sort(names)
	out := []Repository{}
	for _, name := range names {
		named, err := reference.WithName(name)
		if err != nil {
			continue
		}
		repo, err := ns.Repository(ctx, named)
		if err != nil {
			return nil, fmt.Errorf("registry: catalog: %s: %w", name, err)
		}
		tags, err := repo.Tags(ctx).All(ctx)
		var unknown distribution.ErrRepositoryUnknown
		if errors.As(err, &unknown) || len(tags) == 0 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("registry: catalog: %s: %w", name, err)
		}
		slices.Sort(tags)
		out = append(out, Repository{Name: name, Tags: tags})
	}
	return out, nil
}
