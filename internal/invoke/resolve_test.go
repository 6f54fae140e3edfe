package invoke

import (
	"context"
	"errors"
	"testing"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/scf"
)

type aliasMap map[string]*scf.Alias

func (m aliasMap) GetAlias(_ context.Context, _, function, name string) (*scf.Alias, error) {
	if a, ok := m[name]; ok {
		return a, nil
	}
	return nil, errdefs.NotFound("Alias", "alias %q of function %q not found", name, function)
}

// anyFunction has every function: Resolve reads $LATEST to tell an
// unknown alias from an unknown function.
type anyFunction struct{}

func (anyFunction) GetFunction(_ context.Context, ns, name, version string) (*scf.Function, error) {
	return &scf.Function{Namespace: ns, Name: name, Version: version}, nil
}

func TestResolve(t *testing.T) {
	aliases := aliasMap{
		"prod": {Name: "prod", FunctionVersion: "1", Routing: scf.RoutingConfig{AdditionalVersionWeights: []scf.VersionWeight{{Version: "2", Weight: 0.3}}}},
		"beta": {Name: "beta", FunctionVersion: "1", Routing: scf.RoutingConfig{AddtionVersionMatchs: []scf.VersionMatch{{Version: "3", Key: "invoke.headers.User", Method: "exact", Expression: "Bob"}}}},
	}
	roll := 0.0
	iv := New(Options{Functions: anyFunction{}, Aliases: aliases, Rand: func() float64 { return roll }})
	ctx := context.Background()
	for _, tc := range []struct {
		q    string
		roll float64
		key  map[string]string
		want string
	}{
		{"", 0, nil, "$LATEST"},
		{"$LATEST", 0, nil, "$LATEST"},
		{"4", 0, nil, "4"},
		{"$DEFAULT", 0, nil, "$LATEST"},
		{"prod", 0.1, nil, "2"},
		{"prod", 0.5, nil, "1"},
		{"beta", 0, map[string]string{"User": "Bob"}, "3"},
		{"beta", 0, map[string]string{"User": "Eve"}, "1"},
	} {
		roll = tc.roll
		got, err := iv.Resolve(ctx, "default", "fn", tc.q, tc.key)
		if err != nil || got != tc.want {
			t.Errorf("Resolve(%q, roll %v, %v) = %q, %v; want %q", tc.q, tc.roll, tc.key, got, err, tc.want)
		}
	}
	if _, err := iv.Resolve(ctx, "default", "fn", "ghost", nil); !errors.Is(err, errdefs.ErrNotFound) || errdefs.Resource(err) != "Qualifier" {
		t.Errorf("unknown alias: %v", err)
	}
	aliases["$DEFAULT"] = &scf.Alias{Name: "$DEFAULT", FunctionVersion: "2"}
	if got, _ := iv.Resolve(ctx, "default", "fn", "$DEFAULT", nil); got != "2" {
		t.Errorf("$DEFAULT pointed at version 2 resolved to %q", got)
	}
}
