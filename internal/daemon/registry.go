package daemon

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"github.com/scfd/scfd/internal/api"
	"github.com/scfd/scfd/internal/config"
	"github.com/scfd/scfd/internal/registry"
	"github.com/scfd/scfd/internal/store"
)

// embedded is the embedded image registry, listening from the start so
// that the image cache reaches it in-process under its real address. Its
// zero value (SCFD_REGISTRY_ADDR off) has no registry; its methods then do
// nothing.
type embedded struct {
	reg *registry.Registry
	srv *server
}

// openRegistry opens the registry under DATA/registry and listens on
// c.RegistryAddr. It authenticates with keys (the administrator's, the
// tenant keys and the functions' temporary ones).
func openRegistry(ctx context.Context, c *config.Config, log *slog.Logger, st *store.Store, keys api.KeyLookup) (*embedded, error) {
	e := &embedded{}
	if c.RegistryAddr == "" {
		return e, nil
	}
	reg, err := registry.New(ctx, registry.Options{
		Dir:    filepath.Join(c.DataDir, "registry"),
		Addr:   c.RegistryAddr,
		Keys:   keys,
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
	e.srv = &server{name: "registry", addr: c.RegistryAddr, handler: reg, ln: ln, refuse: http.HandlerFunc(registryShuttingDown)}
	return e, nil
}

// transport is the image cache's transport: base, with the embedded
// registry's hosts served in-process when there is one.
func (e *embedded) transport(base *http.Transport) http.RoundTripper {
	if e.reg == nil {
		return base
	}
	base.MaxIdleConnsPerHost = 8
	return e.reg.Transport(base)
}

// hosts are the host:port names the image cache reaches the registry
// under, in-process.
func (e *embedded) hosts() []string {
	if e.reg == nil {
		return nil
	}
	return e.reg.Hosts()
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
	e.srv.ln.Close() // closed already after serving; not when scfd stops before
	return e.reg.Close()
}

// registryShuttingDown answers the registry's requests while scfd drains:
// 503 with Retry-After and an error of the distribution API.
func registryShuttingDown(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Retry-After", strconv.Itoa(int(RetryAfter/time.Second)))
	h.Set("Connection", "close")
	w.WriteHeader(http.StatusServiceUnavailable)
	io.WriteString(w, `{"errors":[{"code":"UNAVAILABLE","message":"scfd is shutting down: retry"}]}`+"\n")
}
