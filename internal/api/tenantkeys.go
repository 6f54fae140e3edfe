package api

import (
	"context"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/scfd/scfd/internal/credentials"
	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/scf"
)

// TenantKeyStore keeps the tenant keys; *store.Store has it.
type TenantKeyStore interface {
	CreateKey(ctx context.Context, k scf.Key) (scf.Key, error)
	GetKey(ctx context.Context, secretID string) (scf.Key, error)
	ListKeys(ctx context.Context) ([]scf.Key, error)
	UpdateKey(ctx context.Context, secretID string, update func(*scf.Key) error) (scf.Key, error)
	DeleteKey(ctx context.Context, secretID string) error
}

// TenantKeyReader is what WithTenantKeys needs of the key store.
type TenantKeyReader interface {
	GetKey(ctx context.Context, secretID string) (scf.Key, error)
}

// WithTenantKeys returns a KeyLookup that tries keys first, then the
// tenant keys of st, read at every lookup so that disabling, changing or
// deleting a key holds from the next request on. A disabled key is not
// found (AuthFailure.SecretIdNotFound, as Tencent Cloud answers for a
// disabled key).
func WithTenantKeys(keys KeyLookup, st TenantKeyReader) KeyLookup {
	return KeyLookupFunc(func(secretID string) (string, Scope, error) {
		if keys != nil {
			key, scope, err := keys.Lookup(secretID)
			if err == nil || !isNotFound(err) {
				return key, scope, err
			}
		}
		k, err := st.GetKey(context.Background(), secretID)
		if err != nil {
			return "", Scope{}, err
		}
		if k.Disabled {
			return "", Scope{}, errdefs.NotFound("SecretId", "SecretId %q is disabled", secretID)
		}
		return k.SecretKey, Scope{Namespaces: k.Namespaces, Role: k.Role}, nil
	})
}

// Key is a tenant key as CreateKey, ListKeys and UpdateKey answer it.
type Key struct {
	SecretId    string
	SecretKey   string `json:",omitempty"` // CreateKey only: it is never shown again
	Description string
	Namespaces  []string
	Role        string // FullControl, InvokeAndRead or ReadOnly
	Status      string // Enabled or Disabled
	AddTime     string
	ModTime     string
}

// Key statuses.
const (
	KeyEnabled  = "Enabled"
	KeyDisabled = "Disabled"
)

// CreateKeyRequest is CreateKey's input.
type CreateKeyRequest struct {
	Namespaces  []string // required: existing namespaces
	Role        string   // required: FullControl, InvokeAndRead or ReadOnly
	Description string
}

// CreateKeyResponse is CreateKey's output.
type CreateKeyResponse struct {
	Key Key
}

// ListKeysRequest is ListKeys' input.
type ListKeysRequest struct {
	Offset    int64
	Limit     int64  // default 20, at most 1000
	Namespace string // only the keys naming this namespace
}

// ListKeysResponse is ListKeys' output.
type ListKeysResponse struct {
	Keys       []Key
	TotalCount int64
}

// UpdateKeyRequest is UpdateKey's input: the fields sent change.
type UpdateKeyRequest struct {
	SecretId    string
	Status      *string // Enabled or Disabled
	Role        *string
	Namespaces  []string // replaces the key's namespaces when sent
	Description *string
}

// UpdateKeyResponse is UpdateKey's output.
type UpdateKeyResponse struct {
	Key Key
}

// DeleteKeyRequest is DeleteKey's input.
type DeleteKeyRequest struct {
	SecretId string
}

func (s *Server) createKey(ctx context.Context, call *Call, req *CreateKeyRequest) (any, error) {
	namespaces, err := scf.ValidateKeyNamespaces(req.Namespaces)
	if err != nil {
		return nil, err
	}
	role, err := scf.ParseRole(req.Role)
	if err != nil {
		return nil, err
	}
	if err := scf.ValidateKeyDescription(req.Description); err != nil {
		return nil, err
	}
	pair := credentials.Generate()
	k, err := s.opts.TenantKeys.CreateKey(ctx, scf.Key{
		SecretID: pair.SecretID, SecretKey: pair.SecretKey, Description: req.Description, Namespaces: namespaces, Role: role,
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "api: key created", "secret_id", k.SecretID, "namespaces", k.Namespaces, "role", k.Role, "by", call.SecretID)
	out := s.keyToWire(k)
	out.SecretKey = k.SecretKey
	return CreateKeyResponse{Key: out}, nil
}

func (s *Server) listKeys(ctx context.Context, call *Call, req *ListKeysRequest) (any, error) {
	offset, limit, err := page(req.Offset, req.Limit)
	if err != nil {
		return nil, err
	}
	all, err := s.opts.TenantKeys.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	resp := ListKeysResponse{Keys: []Key{}}
	var n int
	for _, k := range all {
		if req.Namespace != "" && !slices.Contains(k.Namespaces, req.Namespace) {
			continue
		}
		if n >= offset && n < offset+limit {
			resp.Keys = append(resp.Keys, s.keyToWire(k))
		}
		n++
	}
	resp.TotalCount = int64(n)
	return resp, nil
}

func (s *Server) updateKey(ctx context.Context, call *Call, req *UpdateKeyRequest) (any, error) {
	if req.SecretId == "" {
		return nil, errdefs.New(errdefs.ErrMissingParameter, "SecretId", "SecretId is required")
	}
	var disabled *bool
	if req.Status != nil {
		switch {
		case strings.EqualFold(*req.Status, KeyEnabled):
			disabled = new(bool)
		case strings.EqualFold(*req.Status, KeyDisabled):
			disabled = new(bool)
			*disabled = true
		default:
			return nil, errdefs.Invalid("Status", "Status %q is invalid: use Enabled or Disabled", *req.Status)
		}
	}
	var role scf.Role
	if req.Role != nil {
		r, err := scf.ParseRole(*req.Role)
		if err != nil {
			return nil, err
		}
		role = r
	}
	var namespaces []string
	if req.Namespaces != nil {
		ns, err := scf.ValidateKeyNamespaces(req.Namespaces)
		if err != nil {
			return nil, err
		}
		namespaces = ns
	}
	if req.Description != nil {
		if err := scf.ValidateKeyDescription(*req.Description); err != nil {
			return nil, err
		}
	}
	k, err := s.opts.TenantKeys.UpdateKey(ctx, req.SecretId, func(k *scf.Key) error {
		if disabled != nil {
			k.Disabled = *disabled
		}
		if role != "" {
			k.Role = role
		}
		if namespaces != nil {
			k.Namespaces = namespaces
		}
		if req.Description != nil {
			k.Description = *req.Description
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "api: key updated", "secret_id", k.SecretID, "namespaces", k.Namespaces, "role", k.Role, "disabled", k.Disabled, "by", call.SecretID)
	return UpdateKeyResponse{Key: s.keyToWire(k)}, nil
}

func (s *Server) deleteKey(ctx context.Context, call *Call, req *DeleteKeyRequest) (any, error) {
	if req.SecretId == "" {
		return nil, errdefs.New(errdefs.ErrMissingParameter, "SecretId", "SecretId is required")
	}
	if err := s.opts.TenantKeys.DeleteKey(ctx, req.SecretId); err != nil {
		return nil, err
	}
	s.log.InfoContext(ctx, "api: key deleted", "secret_id", req.SecretId, "by", call.SecretID)
	return struct{}{}, nil
}

func (s *Server) keyToWire(k scf.Key) Key {
	status := KeyEnabled
	if k.Disabled {
		status = KeyDisabled
	}
	return Key{
		SecretId: k.SecretID, Description: k.Description, Namespaces: k.Namespaces, Role: string(k.Role), Status: status,
		AddTime: s.formatTime(k.AddTime), ModTime: s.formatTime(k.ModTime),
	}
}

// authorizeImage checks that an ImageUri naming scfd's embedded registry
// names a repository of a namespace the caller may read: the pull will
// carry the caller's rights, and later pulls the function's namespace's.
func (s *Server) authorizeImage(call *Call, uri string) error {
	if len(s.opts.Registries) == 0 || call.Scope.Admin {
		return nil
	}
	ref, err := name.ParseReference(uri)
	if err != nil {
		return nil // the pull reports it
	}
	host := ref.Context().RegistryStr()
	embedded := false
	for _, h := range s.opts.Registries {
		if strings.EqualFold(h, host) {
			embedded = true
		}
	}
	if !embedded {
		return nil
	}
	repo := ref.Context().RepositoryStr()
	ns, _, ok := strings.Cut(repo, "/")
	if !ok || !call.Scope.Allows(ns) {
		return errdefs.New(errdefs.ErrUnauthorized, "CAM", "ImageUri %q names repository %q of scfd's registry, which this key may not read: use an image of namespace %s",
			uri, repo, strings.Join(call.Scope.Namespaces, ", "))
	}
	return nil
}
