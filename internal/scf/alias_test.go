package scf

import (
	"errors"
	"testing"

	"github.com/scfd/scfd/internal/errdefs"
)

func TestValidateAliasName(t *testing.T) {
	for name, ok := range map[string]bool{"prod": true, "$DEFAULT": true, "a": true, "v-1_x": true, "1abc": false, "": false, "a b": false} {
		if err := ValidateAliasName(name); (err == nil) != ok {
			t.Errorf("ValidateAliasName(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}

func TestValidateRouting(t *testing.T) {
	for name, tc := range map[string]struct {
		r  RoutingConfig
		ok bool
	}{
		"none":          {RoutingConfig{}, true},
		"weight":        {RoutingConfig{AdditionalVersionWeights: []VersionWeight{{"2", 0.3}}}, true},
		"weight > 1":    {RoutingConfig{AdditionalVersionWeights: []VersionWeight{{"2", 1.3}}}, false},
		"same version":  {RoutingConfig{AdditionalVersionWeights: []VersionWeight{{"1", 0.3}}}, false},
		"two weights":   {RoutingConfig{AdditionalVersionWeights: []VersionWeight{{"2", 0.1}, {"3", 0.1}}}, false},
		"exact":         {RoutingConfig{AddtionVersionMatchs: []VersionMatch{{"2", "invoke.headers.User", "exact", "Bob"}}}, true},
		"range":         {RoutingConfig{AddtionVersionMatchs: []VersionMatch{{"2", "invoke.headers.Uid", "range", "[1,10)"}}}, true},
		"bad range":     {RoutingConfig{AddtionVersionMatchs: []VersionMatch{{"2", "invoke.headers.Uid", "range", "[10,1]"}}}, false},
		"bad key":       {RoutingConfig{AddtionVersionMatchs: []VersionMatch{{"2", "User", "exact", "Bob"}}}, false},
		"bad method":    {RoutingConfig{AddtionVersionMatchs: []VersionMatch{{"2", "invoke.headers.User", "regex", "B.*"}}}, false},
		"alias version": {RoutingConfig{AdditionalVersionWeights: []VersionWeight{{"prod", 0.5}}}, false},
	} {
		err := ValidateRouting("1", tc.r)
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok=%v", name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%s: class of %v", name, err)
		}
	}
}

func TestRoute(t *testing.T) {
	weighted := &Alias{FunctionVersion: "1", Routing: RoutingConfig{AdditionalVersionWeights: []VersionWeight{{"2", 0.3}}}}
	for roll, want := range map[float64]string{0: "2", 0.29: "2", 0.3: "1", 0.99: "1"} {
		if got := weighted.Route(roll, nil); got != want {
			t.Errorf("weight 0.3, roll %v: %s, want %s", roll, got, want)
		}
	}
	exact := &Alias{FunctionVersion: "1", Routing: RoutingConfig{AddtionVersionMatchs: []VersionMatch{{"2", "invoke.headers.User", "exact", "Bob"}}}}
	for key, want := range map[string]string{"Bob": "2", "Alice": "1", "": "1"} {
		rk := map[string]string{}
		if key != "" {
			rk["User"] = key
		}
		if got := exact.Route(0, rk); got != want {
			t.Errorf("exact, User=%q: %s, want %s", key, got, want)
		}
	}
	rng := &Alias{FunctionVersion: "1", Routing: RoutingConfig{AddtionVersionMatchs: []VersionMatch{{"3", "invoke.headers.Uid", "range", "(10,20]"}}}}
	for uid, want := range map[string]string{"10": "1", "11": "3", "20": "3", "21": "1", "x": "1"} {
		if got := rng.Route(0, map[string]string{"Uid": uid}); got != want {
			t.Errorf("range (10,20], Uid=%s: %s, want %s", uid, got, want)
		}
	}
}
