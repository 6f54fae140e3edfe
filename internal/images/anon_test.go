package images

import "github.com/google/go-containerregistry/pkg/authn"

// anonymous is a keychain with no credentials.
type anonymous struct{}

func (anonymous) Resolve(authn.Resource) (authn.Authenticator, error) { return authn.Anonymous, nil }
