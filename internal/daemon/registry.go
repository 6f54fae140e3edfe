package daemon

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync/atomic"

	"github.com/scfd/scfd/internal/api"
	"github.com/scfd/scfd/internal/config"
	"github.com/scfd/scfd/internal/credentials"
	"github.com/scfd/scfd/internal/registry"
	"github.com/scfd/scfd/internal/store"
)

// embedded is the embedded image registry, listening from the start so
// that the image cache reaches it in-process under its real address. Its
// zero value (SCFD_REGISTRY_ADDR off) has no registry; its methods then do
// nothing.
type embedded struct {
	reg  *registry.Registry
	srv  *server
	keys atomic.Pointer[api.KeyLookup]
}

// openRegistry opens the registry under DATA/registry and listens on
// c.RegistryAddr. It authenticates with the administrator's key until
// useKeys adds the functions' temporary keys.
func openRegistry(ctx context.Context, c *config.Config, log *slog.Logger, st *store.Store, admin credentials.Key) (*embedded, error) {
	e := &embedded{}
	if c.RegistryAddr == "" {
		return e, nil
	}
	e.useKeys(adminKeys{admin})
	reg, err := registry.New(ctx, registry.Options{
		Dir:    filepath.Join(c.DataDir, "registry"),
		Addr:   c.RegistryAddr,
		Keys:   api.KeyLookupFunc(func(id string) (string, api.Scope, error) { return (*e.keys.Load()).Lookup(id) }),
		Admin:  admin,
		Pins:   st,
		Logger: log,
	})
	if err != nil {
		return nil, err
	}
	ln, err := reg.Listen()
	if err != nil {
		reg.Close()
		return nil, err
	}
	e.reg = reg
	e.srv = &server{name: "registry", addr: c.RegistryAddr, handler: reg, ln: ln}
	return e, nil
}

func (e *embedded) useKeys(k api.KeyLookup) { e.keys.Store(&k) }

// transport is the image cache's transport: base, with the embedded
// registry's hosts served in-process when there is one.
func (e *embedded) transport(base *http.Transport) http.RoundTripper {
	if e.reg == nil {
		return base
	}
	base.MaxIdleConnsPerHost = 8
	return e.reg.Transport(base)
}

func (e *embedded) servers() []*server {
	if e.srv == nil {
		return nil
	}
	return []*server{e.srv}
}

func (e *embedded) close() error {
	if e.reg == nil {
		return nil
	}
	e.srv.ln.Close()
	return e.reg.Close()
}
