package api

import (
	"slices"

	"github.com/scfd/scfd/internal/scf"
)

// Scope is what a key may act on.
type Scope struct {
	// Admin keys act on every namespace and may create, update and delete
	// namespaces.
	Admin bool
	// Namespaces a non-admin key may act on (its functions, and listing).
	Namespaces []string
	// Role of a non-admin key: which actions it may call (see
	// actionRights). Empty means scf.RoleFullControl, the rights of the
	// temporary credentials functions receive.
	Role scf.Role
	// Token, when set, is the session token the request must carry in
	// X-TC-Token (temporary credentials).
	Token string
}

// Allows reports whether the scope covers namespace.
func (s Scope) Allows(namespace string) bool {
	return s.Admin || slices.Contains(s.Namespaces, namespace)
}

// KeyLookup finds the secret key and scope of a SecretId. An unknown
// SecretId is an error wrapping errdefs.ErrNotFound (or
// tc3.ErrSecretIDNotFound).
type KeyLookup interface {
	Lookup(secretID string) (secretKey string, scope Scope, err error)
}

// KeyLookupFunc adapts a function to KeyLookup.
type KeyLookupFunc func(secretID string) (secretKey string, scope Scope, err error)

// Lookup calls f.
func (f KeyLookupFunc) Lookup(secretID string) (string, Scope, error) { return f(secretID) }

// Access is the rights the scope's key gives a pull from scfd's registry:
// its namespaces' repositories, or every one for an administrator.
func (s Scope) Access() scf.Access {
	return scf.Access{All: s.Admin, Namespaces: slices.Clone(s.Namespaces)}
}
