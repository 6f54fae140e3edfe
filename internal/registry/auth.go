package registry

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/distribution/distribution/v3/registry/auth"

	"github.com/scfd/scfd/internal/api"
	"github.com/scfd/scfd/internal/images"
)

// authName is the access controller's name in the library's registry of
// controllers; optController carries the controller itself through the
// configuration's parameters.
const (
	authName      = "scfd"
	optController = "controller"
	realm         = "scfd"
)

func init() {
	err := auth.Register(authName, func(options map[string]any) (auth.AccessController, error) {
		c, ok := options[optController].(*accessController)
		if !ok {
			return nil, errors.New("registry: scfd access controller not configured")
		}
		return c, nil
	})
	if err != nil {
		panic(err)
	}
}

// accessController authenticates with scfd's key pairs and checks each
// requested repository against the key's namespaces.
type accessController struct {
	keys api.KeyLookup
}

var (
	errNoNamespace = errors.New("repository names are <namespace>/<repo>")
	errNotAllowed  = errors.New("the key may not act on")
)

// Authorized implements auth.AccessController. A request of Transport
// carries the Access of its pull instead of credentials.
func (c *accessController) Authorized(req *http.Request, access ...auth.Access) (*auth.Grant, error) {
	if a, ok := inProcessAccess(req.Context()); ok {
		grant := &auth.Grant{User: auth.UserInfo{Name: "scfd"}}
		for _, acc := range access {
			if err := pullAllowed(a, acc); err != nil {
				return nil, challenge{err}
			}
			grant.Resources = append(grant.Resources, acc.Resource)
		}
		return grant, nil
	}
	scope, err := authenticate(c.keys, req)
	if err != nil {
		return nil, challenge{err}
	}
	user, _, _ := req.BasicAuth()
	grant := &auth.Grant{User: auth.UserInfo{Name: user}}
	for _, a := range access {
		if err := allowed(scope, a); err != nil {
			return nil, challenge{err}
		}
		grant.Resources = append(grant.Resources, a.Resource)
	}
	return grant, nil
}

// authenticate checks the request's Basic credentials: SecretId as the
// user name, SecretKey as the password.
func authenticate(keys api.KeyLookup, req *http.Request) (api.Scope, error) {
	id, secret, ok := req.BasicAuth()
	if !ok {
		return api.Scope{}, auth.ErrInvalidCredential
	}
	want, scope, err := keys.Lookup(id)
	if err != nil || want == "" || subtle.ConstantTimeCompare([]byte(want), []byte(secret)) != 1 {
		return api.Scope{}, auth.ErrAuthenticationFailure
	}
	return scope, nil
}

// allowed reports whether scope may perform a: on repositories of its
// namespaces, pulls for every role and any other action (push, delete)
// for keys that may change functions (role FullControl); the catalog only
// for administrators.
func allowed(scope api.Scope, a auth.Access) error {
	switch a.Type {
	case "repository":
		ns, _, ok := strings.Cut(a.Name, "/")
		if !ok {
			return errNoNamespace
		}
		if !scope.Allows(ns) {
			return fmt.Errorf("%w: namespace %q", errNotAllowed, ns)
		}
		if a.Action != "pull" && !scope.Has(api.RightWrite) {
			return fmt.Errorf("%w: %s %s (the key's role only pulls)", errNotAllowed, a.Action, a.Name)
		}
		return nil
	default:
		if !scope.Admin {
			return fmt.Errorf("%w: %s %s", errNotAllowed, a.Type, a.Name)
		}
		return nil
	}
}

// challenge asks for Basic credentials (the answer is 401).
type challenge struct{ err error }

func (c challenge) Error() string { return "registry: " + c.err.Error() }

func (c challenge) SetHeaders(_ *http.Request, w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q", realm))
}

func randomSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// pullAllowed reports whether an in-process pull with Access a may
// perform acc: pulls of repositories of a's namespaces, nothing else.
func pullAllowed(a images.Access, acc auth.Access) error {
	if acc.Type != "repository" || acc.Action != "pull" {
		return fmt.Errorf("%w: %s %s %s", errNotAllowed, acc.Type, acc.Name, acc.Action)
	}
	ns, _, ok := strings.Cut(acc.Name, "/")
	if !ok {
		return errNoNamespace
	}
	if !a.Allows(ns) {
		return fmt.Errorf("%w: namespace %q", errNotAllowed, ns)
	}
	return nil
}
