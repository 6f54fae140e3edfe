package scf

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/scfd/scfd/internal/errdefs"
)

// Alias names a published version (or $LATEST) of a function and may send
// a share of its traffic to one more version.
type Alias struct {
	Namespace       string // required, immutable
	Function        string // required, immutable
	Name            string // required, immutable; see ValidateAliasName
	FunctionVersion string // required, mutable: the main version
	Description     string // mutable
	Routing         RoutingConfig
	AddTime         time.Time // set by the store
	ModTime         time.Time // set by the store
}

// RoutingConfig splits an alias's traffic: by weight, or by rules on the
// invocation's RoutingKey. Both empty: everything goes to the main version.
type RoutingConfig struct {
	AdditionalVersionWeights []VersionWeight
	AddtionVersionMatchs     []VersionMatch // SCF's spelling
}

// VersionWeight sends Weight (0 to 1) of the traffic to Version.
type VersionWeight struct {
	Version string
	Weight  float64
}

// VersionMatch sends the invocations whose RoutingKey matches to Version.
// Key is "invoke.headers.<Name>"; Method is "exact" (Expression is the
// string) or "range" (Expression is "(a,b)" or "[a,b]", integers, either
// bracket open or closed).
type VersionMatch struct {
	Version    string
	Key        string
	Method     string
	Expression string
}

var aliasName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)

// ValidateAliasName checks SCF's rule: 1 to 64 letters, digits, '_' and
// '-', starting with a letter; $DEFAULT is allowed too.
func ValidateAliasName(name string) error {
	if name == "" {
		return errdefs.New(errdefs.ErrMissingParameter, "Name", "the alias Name is required")
	}
	if name == DefaultAlias || aliasName.MatchString(name) {
		return nil
	}
	return errdefs.Invalid("Name", "alias name %q is invalid: use 1 to 64 letters, digits, '_' and '-', starting with a letter", name)
}

// IsVersion reports whether q names a version ($LATEST or a number)
// rather than an alias.
func IsVersion(q string) bool {
	if q == Latest {
		return true
	}
	n, err := strconv.ParseUint(q, 10, 64)
	return err == nil && n > 0
}

// ValidateRouting checks an alias's routing rules against its main version.
func ValidateRouting(main string, r RoutingConfig) error {
	if len(r.AdditionalVersionWeights) > 0 && len(r.AddtionVersionMatchs) > 0 {
		return errdefs.Invalid("RoutingConfig", "use weights or rules, not both")
	}
	if len(r.AdditionalVersionWeights) > 1 || len(r.AddtionVersionMatchs) > 1 {
		return errdefs.Invalid("RoutingConfig", "an alias routes to at most one additional version")
	}
	for _, w := range r.AdditionalVersionWeights {
		if !IsVersion(w.Version) || w.Version == main {
			return errdefs.Invalid("RoutingConfig", "additional version %q must be a version other than %q", w.Version, main)
		}
		if w.Weight < 0 || w.Weight > 1 {
			return errdefs.Invalid("RoutingConfig", "weight %v of version %q is not between 0 and 1", w.Weight, w.Version)
		}
	}
	for _, m := range r.AddtionVersionMatchs {
		if !IsVersion(m.Version) || m.Version == main {
			return errdefs.Invalid("RoutingConfig", "additional version %q must be a version other than %q", m.Version, main)
		}
		if _, ok := strings.CutPrefix(m.Key, "invoke.headers."); !ok || m.Key == "invoke.headers." {
			return errdefs.Invalid("RoutingConfig", "rule key %q is invalid: use invoke.headers.<Name>", m.Key)
		}
		switch m.Method {
		case "exact":
		case "range":
			if _, err := parseRange(m.Expression); err != nil {
				return errdefs.Invalid("RoutingConfig", "range %q is invalid: %v", m.Expression, err)
			}
		default:
			return errdefs.Invalid("RoutingConfig", "rule method %q is invalid: use exact or range", m.Method)
		}
	}
	return nil
}

// Versions lists every version the alias may send traffic to.
func (a *Alias) Versions() []string {
	out := []string{a.FunctionVersion}
	for _, w := range a.Routing.AdditionalVersionWeights {
		out = append(out, w.Version)
	}
	for _, m := range a.Routing.AddtionVersionMatchs {
		out = append(out, m.Version)
	}
	return out
}

// Route picks the version one invocation runs. roll is a uniform random
// number in [0, 1); routingKey is the invocation's RoutingKey (may be nil).
func (a *Alias) Route(roll float64, routingKey map[string]string) string {
	for _, m := range a.Routing.AddtionVersionMatchs {
		name := strings.TrimPrefix(m.Key, "invoke.headers.")
		v, ok := routingKey[name]
		if ok && m.matches(v) {
			return m.Version
		}
	}
	for _, w := range a.Routing.AdditionalVersionWeights {
		if roll < w.Weight {
			return w.Version
		}
	}
	return a.FunctionVersion
}

func (m VersionMatch) matches(v string) bool {
	if m.Method == "exact" {
		return v == m.Expression
	}
	r, err := parseRange(m.Expression)
	if err != nil {
		return false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return false
	}
	return r.contains(n)
}

type intRange struct {
	lo, hi         int64
	loOpen, hiOpen bool
}

func (r intRange) contains(n int64) bool {
	if n < r.lo || (r.loOpen && n == r.lo) {
		return false
	}
	return n < r.hi || (!r.hiOpen && n == r.hi)
}

// parseRange reads "(a,b)", "[a,b]", "(a,b]" or "[a,b)".
func parseRange(s string) (intRange, error) {
	s = strings.TrimSpace(s)
	if len(s) < 5 {
		return intRange{}, fmt.Errorf("want (a,b) or [a,b]")
	}
	var r intRange
	switch s[0] {
	case '(':
		r.loOpen = true
	case '[':
	default:
		return r, fmt.Errorf("want ( or [ first")
	}
	switch s[len(s)-1] {
	case ')':
		r.hiOpen = true
	case ']':
	default:
		return r, fmt.Errorf("want ) or ] last")
	}
	lo, hi, ok := strings.Cut(s[1:len(s)-1], ",")
	if !ok {
		return r, fmt.Errorf("want two integers separated by a comma")
	}
	var err error
	if r.lo, err = strconv.ParseInt(strings.TrimSpace(lo), 10, 64); err != nil {
		return r, fmt.Errorf("%q is not an integer", lo)
	}
	if r.hi, err = strconv.ParseInt(strings.TrimSpace(hi), 10, 64); err != nil {
		return r, fmt.Errorf("%q is not an integer", hi)
	}
	if r.lo > r.hi {
		return r, fmt.Errorf("the lower bound is above the upper one")
	}
	return r, nil
}
