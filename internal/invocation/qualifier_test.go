package invocation

import (
	"context"
	"errors"
	"testing"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/scf"
)

// versions is a function "fn" with the versions listed, and its aliases.
type versions struct {
	have    map[string]bool
	aliases map[string]*scf.Alias
}

func (v versions) GetFunction(_ context.Context, ns, name, version string) (*scf.Function, error) {
	if name != "fn" {
		return nil, errdefs.NotFound("Function", "no function %q", name)
	}
	if !v.have[version] {
		return nil, errdefs.NotFound("Version", "no version %q", version)
	}
	return &scf.Function{Namespace: ns, Name: name, Version: version}, nil
}

func (v versions) GetAlias(_ context.Context, _, function, name string) (*scf.Alias, error) {
	if a, ok := v.aliases[name]; ok && function == "fn" {
		return a, nil
	}
	return nil, errdefs.NotFound("Alias", "no alias %q", name)
}

func TestQualifiers(t *testing.T) {
	v := versions{
		have: map[string]bool{scf.Latest: true, "1": true, "2": true},
		aliases: map[string]*scf.Alias{
			"prod":  {Name: "prod", FunctionVersion: "1", Routing: scf.RoutingConfig{AdditionalVersionWeights: []scf.VersionWeight{{Version: "2", Weight: 0.5}}}},
			"stale": {Name: "stale", FunctionVersion: "3"},
		},
	}
	q := Qualifiers{Functions: v, Aliases: v}
	second := func(a *scf.Alias) string { return a.Versions()[len(a.Versions())-1] }
	for _, tc := range []struct {
		name, function, qualifier string
		pick                      func(*scf.Alias) string
		want                      string // the version, or the resource of the ErrNotFound
	}{
		{"empty is $LATEST", "fn", "", nil, scf.Latest},
		{"a version", "fn", "2", nil, "2"},
		{"an alias: its main version", "fn", "prod", nil, "1"},
		{"an alias: the version picked", "fn", "prod", second, "2"},
		{"$DEFAULT without an alias", "fn", scf.DefaultAlias, nil, scf.Latest},
		{"an unknown version", "fn", "7", nil, "Qualifier"},
		{"an unknown alias", "fn", "ghost", nil, "Qualifier"},
		{"an alias to a version that is gone", "fn", "stale", nil, "FunctionVersion"},
		{"an unknown function", "nope", "ghost", nil, "Function"},
	} {
		fn, err := q.Function(context.Background(), "default", tc.function, tc.qualifier, tc.pick)
		got := ""
		switch {
		case errors.Is(err, errdefs.ErrNotFound):
			got = errdefs.Resource(err)
		case err != nil:
			got = err.Error()
		default:
			got = fn.Version
		}
		if got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
	if _, err := (Qualifiers{Functions: v}).Function(context.Background(), "default", "fn", "prod", nil); errdefs.Resource(err) != "Qualifier" {
		t.Errorf("without Aliases, an alias: %v, want ResourceNotFound.Qualifier", err)
	}
}
