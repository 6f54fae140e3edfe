// Package registry is scfd's embedded image registry: the OCI distribution
// API served by the reference implementation
// (github.com/distribution/distribution/v3) as a library, with filesystem
// storage under the data directory.
//
// Requests authenticate with scfd's own key pairs over HTTP Basic auth
// (SecretId as the user name, SecretKey as the password). Repositories are
// named <namespace>/<repo>: an administrator key reaches every repository,
// a key limited to namespaces (tenant keys, the temporary keys functions
// receive) only those under its namespaces, pushing only when its role
// may change functions. Transport serves requests for the registry's own
// address in-process with the rights of the pull (images.WithAccess), so
// that scfd's image cache pulls from it without TCP and without a
// config.json, never with more rights than the key that asked for it. GC deletes
// what no tag, no function version and no recent push references; deleting
// a manifest some function version pins is refused.
//
// The reference implementation logs through the process-wide logrus
// logger; opening a Registry discards logrus output and forwards its
// server-side errors to Options.Logger.
package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/distribution/v3/registry/storage/driver/factory"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem" // the filesystem driver

	"github.com/scfd/scfd/internal/api"
	"github.com/scfd/scfd/internal/errdefs"
)

// DefaultGCGrace is how long GC spares blobs and manifests after they were
// pushed, so that a push in progress (blobs first, manifest last) is never
// collected half way.
const DefaultGCGrace = time.Hour

// Pins lists the manifest digests that function versions use; GC treats
// them as roots and they cannot be deleted. *store.Store has it.
type Pins interface {
	ImageDigests(ctx context.Context) (map[string]bool, error)
}

// Options configure a Registry. Dir and Keys are required.
type Options struct {
	// Dir holds the registry's content; created if missing. Required.
	Dir string
	// Addr is the listen address, such as "127.0.0.1:9300"; Listen uses
	// it and Transport intercepts requests for it. Empty means Listen
	// fails and Transport intercepts nothing.
	Addr string
	// Keys authenticates requests and scopes them to namespaces. Required.
	Keys api.KeyLookup
	// Pins are the digests function versions use. Nil means none.
	Pins Pins
	// GCGrace is how long after a push GC spares what it wrote. Zero means
	// DefaultGCGrace.
	GCGrace time.Duration
	// Now is the clock of GC. Nil means time.Now.
	Now func() time.Time
	// Logger receives one line per GC and per refused request worth a
	// look. Nil means discard.
	Logger *slog.Logger
}

// Registry is the embedded registry. It is an http.Handler serving the
// distribution API under /v2/. Its methods are safe for concurrent use.
type Registry struct {
	o       Options
	log     *slog.Logger
	app     *handlers.App
	driver  driver.StorageDriver
	handler http.Handler

	// gcMu is held shared by every request and exclusively by GC: the
	// reference collector needs the repository to hold still while it
	// marks and sweeps.
	gcMu sync.RWMutex

	mu     sync.Mutex
	hosts  map[string]bool // host:port names of this registry
	mem    *memListener    // in-process connections, served by memSrv
	memSrv *http.Server
	memRT  *http.Transport
}

// New opens (creating if needed) the registry in o.Dir.
func New(ctx context.Context, o Options) (r *Registry, err error) {
	if o.Dir == "" {
		return nil, errdefs.New(errdefs.ErrMissingParameter, "Dir", "registry: Options.Dir is required")
	}
	if o.Keys == nil {
		return nil, errdefs.New(errdefs.ErrMissingParameter, "Keys", "registry: Options.Keys is required")
	}
	if o.GCGrace <= 0 {
		o.GCGrace = DefaultGCGrace
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	r = &Registry{o: o, log: o.Logger, hosts: map[string]bool{}}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	routeLogrus(r.log)
	r.driver, err = factory.Create(ctx, "filesystem", map[string]any{"rootdirectory": o.Dir})
	if err != nil {
		return nil, fmt.Errorf("registry: storage: %w", err)
	}
	cfg := &configuration.Configuration{
		Storage: configuration.Storage{
			"filesystem": configuration.Parameters{"rootdirectory": o.Dir},
			"delete":     configuration.Parameters{"enabled": true},
			// GC purges abandoned uploads; the library's own purger
			// would run a goroutine per registry that nothing stops.
			"maintenance": configuration.Parameters{"uploadpurging": map[any]any{"enabled": false}},
		},
		Auth: configuration.Auth{authName: configuration.Parameters{optController: &accessController{keys: o.Keys}}},
	}
	cfg.HTTP.Secret = randomSecret()
	app, err := newApp(ctx, cfg)
	if err != nil {
		return nil, err
	}
	r.app = app
	r.handler = r.guardDeletes(app)
	r.setHosts(o.Addr)
	r.startMem()
	return r, nil
}

// newApp builds the reference implementation's handler, which panics on
// a configuration it cannot use.
func newApp(ctx context.Context, cfg *configuration.Configuration) (app *handlers.App, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("registry: %v", p)
		}
	}()
	return handlers.NewApp(ctx, cfg), nil
}

// ServeHTTP serves the distribution API, and GCPath.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path == GCPath {
		r.serveGC(w, req)
		return
	}
	r.gcMu.RLock()
	defer r.gcMu.RUnlock()
	r.handler.ServeHTTP(w, req)
}

// Listen listens on Options.Addr and records the bound address (which
// differs from Addr when its port is 0) as one Transport intercepts.
func (r *Registry) Listen() (net.Listener, error) {
	if r.o.Addr == "" {
		return nil, errdefs.New(errdefs.ErrFailedPrecondition, "Addr", "registry: no listen address")
	}
	ln, err := net.Listen("tcp", r.o.Addr)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	r.setHosts(ln.Addr().String())
	return ln, nil
}

// Hosts returns the host:port names under which Transport reaches this
// registry in-process, sorted.
func (r *Registry) Hosts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.hosts))
	for h := range r.hosts {
		out = append(out, h)
	}
	slices.Sort(out)
	return out
}

// setHosts records addr, and for an unspecified host (":9300",
// "0.0.0.0:9300") the loopback names of its port.
func (r *Registry) setHosts(addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "0" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ip := net.ParseIP(host)
	if host == "" || (ip != nil && ip.IsUnspecified()) {
		for _, h := range []string{"127.0.0.1", "localhost", "::1"} {
			r.hosts[net.JoinHostPort(h, port)] = true
		}
		return
	}
	r.hosts[net.JoinHostPort(host, port)] = true
	if ip != nil && ip.IsLoopback() {
		r.hosts[net.JoinHostPort("localhost", port)] = true
	}
}

func (r *Registry) isHost(h string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hosts[h]
}

// Close stops the in-process server and the library's background work.
// It does not close listeners returned by Listen.
func (r *Registry) Close() error {
	r.memRT.CloseIdleConnections()
	err := r.memSrv.Close()
	return errors.Join(err, r.app.Shutdown())
}

// manifestByDigest matches DELETE /v2/<name>/manifests/<digest>.
var manifestByDigest = regexp.MustCompile(`^/v2/(.+)/manifests/(sha256:[a-f0-9]{64})$`)

// guardDeletes refuses, to an authenticated caller, the deletion of a
// manifest that a function version pins. Deleting its tags stays allowed:
// GC keeps pinned manifests whether tagged or not.
func (r *Registry) guardDeletes(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodDelete || r.o.Pins == nil {
			next.ServeHTTP(w, req)
			return
		}
		m := manifestByDigest.FindStringSubmatch(req.URL.Path)
		if m == nil {
			next.ServeHTTP(w, req)
			return
		}
		if _, err := authenticate(r.o.Keys, req); err != nil {
			next.ServeHTTP(w, req) // the library answers 401
			return
		}
		pins, err := r.o.Pins.ImageDigests(req.Context())
		if err != nil {
			r.log.Error("registry: list pinned digests", "err", err)
			writeError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "cannot tell whether a function uses this manifest; try again")
			return
		}
		if pins[m[2]] {
			writeError(w, http.StatusConflict, "DENIED", "manifest "+m[2]+" is used by a function version; delete or update the function first")
			return
		}
		next.ServeHTTP(w, req)
	})
}

// writeError answers in the distribution API's error format.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"errors":[{"code":%q,"message":%q}]}`+"\n", code, msg)
}
