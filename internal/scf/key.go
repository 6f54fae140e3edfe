package scf

import (
	"slices"
	"strings"
	"time"

	"github.com/scfd/scfd/internal/errdefs"
)

// Role is what a tenant key may do in its namespaces.
type Role string

// The roles of tenant keys, from the most to the least rights.
const (
	// RoleFullControl creates, changes, deletes, invokes and reads the
	// functions of its namespaces (and everything attached to them:
	// versions, aliases, triggers, concurrency), and pushes to and pulls
	// from their repositories of the embedded registry.
	RoleFullControl Role = "FullControl"
	// RoleInvoke invokes and reads: functions, logs, metrics, async
	// events (and retries or stops them); it pulls images.
	RoleInvoke Role = "InvokeAndRead"
	// RoleReadOnly reads functions, logs, metrics and usage; it pulls
	// images.
	RoleReadOnly Role = "ReadOnly"
)

// Roles are the valid roles, from the most to the least rights.
var Roles = []Role{RoleFullControl, RoleInvoke, RoleReadOnly}

// ParseRole accepts a role's name in any case.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if strings.EqualFold(s, string(r)) {
			return r, nil
		}
	}
	if s == "" {
		return "", errdefs.New(errdefs.ErrMissingParameter, "Role", "Role is required: FullControl, InvokeAndRead or ReadOnly")
	}
	return "", errdefs.Invalid("Role", "Role %q is invalid: use FullControl, InvokeAndRead or ReadOnly", s)
}

// Key is a tenant key: an API key pair limited to namespaces, with a role.
// The administrator's key is not a Key (it is kept in a file of the data
// directory).
type Key struct {
	SecretID    string    // required, immutable; generated
	SecretKey   string    // required, immutable; generated, shown once
	Description string    // mutable; may be empty; at most MaxKeyDescription characters
	Namespaces  []string  // required (at least one), mutable, sorted, each a valid namespace name
	Role        Role      // required, mutable
	Disabled    bool      // mutable; a disabled key authenticates nothing
	AddTime     time.Time // set by the store
	ModTime     time.Time // set by the store
}

// MaxKeyDescription bounds a key's description, in characters.
const MaxKeyDescription = 100

// MaxKeyNamespaces bounds how many namespaces one key names.
const MaxKeyNamespaces = 100

// ValidateKeyNamespaces checks a key's namespaces and returns them
// sorted without duplicates.
func ValidateKeyNamespaces(names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, errdefs.New(errdefs.ErrMissingParameter, "Namespaces", "Namespaces is required: name at least one namespace")
	}
	if len(names) > MaxKeyNamespaces {
		return nil, errdefs.Invalid("Namespaces", "a key may name at most %d namespaces", MaxKeyNamespaces)
	}
	out := slices.Clone(names)
	for _, n := range out {
		if err := ValidateNamespaceName(n); err != nil {
			return nil, err
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// ValidateKeyDescription checks a key's description.
func ValidateKeyDescription(d string) error {
	if len([]rune(d)) > MaxKeyDescription {
		return errdefs.Invalid("Description", "Description is longer than %d characters", MaxKeyDescription)
	}
	return nil
}

// Access is whose rights a pull from scfd's embedded registry carries:
// the key's that created or updated the function, or later its
// namespace's. The zero Access reaches no repository.
type Access struct {
	// All is the administrator's rights: every repository.
	All bool `json:",omitempty"`
	// Namespaces whose repositories (<namespace>/<repo>) may be read.
	Namespaces []string `json:",omitempty"`
}

// Allows reports whether a may read the repositories of namespace.
func (a Access) Allows(namespace string) bool {
	return a.All || slices.Contains(a.Namespaces, namespace)
}
