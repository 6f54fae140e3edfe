// Package daemon is scfd's composition root: the one place that knows every
// concrete type. It opens the store and the image cache, builds the API,
// the deployer, the data plane (the runc driver, the instance pool, the
// invoker, the logs and the functions' temporary credentials) and the
// gateway, serves them, and shuts them down in order.
// cmd/scfd parses the configuration and calls Run.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/scfd/scfd/internal/api"
	"github.com/scfd/scfd/internal/config"
	"github.com/scfd/scfd/internal/credentials"
	"github.com/scfd/scfd/internal/deploy"
	"github.com/scfd/scfd/internal/images"
	"github.com/scfd/scfd/internal/meter"
	"github.com/scfd/scfd/internal/metrics"
	"github.com/scfd/scfd/internal/scf"
	"github.com/scfd/scfd/internal/store"
	"github.com/scfd/scfd/internal/tc3"
	"github.com/scfd/scfd/internal/trigger"
)

// ShutdownGrace bounds how long in-flight API calls may take to finish
// after a stop signal.
const ShutdownGrace = 30 * time.Second

// NewLogger builds the server's structured logger from the configuration.
func NewLogger(c *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Run serves until ctx is cancelled, then stops cleanly: listeners close,
// in-flight calls finish, background work stops, the store is closed.
// announce receives the lines meant for the person who started scfd (the
// generated key, the addresses).
func Run(ctx context.Context, c *config.Config, log *slog.Logger, announce io.Writer) (err error) {
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	if c.DockerConfig != "" {
		// go-containerregistry's default keychain reads DOCKER_CONFIG.
		os.Setenv("DOCKER_CONFIG", c.DockerConfig)
	}
	key, created, err := credentials.EnsureAdmin(c.DataDir, credentials.Key{SecretID: c.SecretID, SecretKey: c.SecretKey})
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(announce, "scfd: generated the administrator key pair, kept in %s (mode 0600):\n  SecretId:  %s\n  SecretKey: %s\n",
			credentials.Path(c.DataDir), key.SecretID, key.SecretKey)
	}

	st, err := store.Open(ctx, c.DataDir)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer func() { err = errors.Join(err, st.Close()) }()

	emb, err := openRegistry(ctx, c, log, st, key)
	if err != nil {
		return fmt.Errorf("open registry: %w", err)
	}
	defer func() { err = errors.Join(err, emb.close()) }()

	_, subnet, _ := RuntimeNames(c.DataDir)
	policy := images.RegistryPolicy{Allowed: c.AllowedRegistries, Denied: []netip.Prefix{netip.MustParsePrefix(subnet)}}
	cache, err := images.Open(ctx, images.Options{
		Dir:                filepath.Join(c.DataDir, "images"),
		InsecureRegistries: c.InsecureRegistries,
		MaxCacheBytes:      c.ImageCacheMax,
		MaxUnpackedBytes:   c.ImageMaxUnpacked,
		MaxFiles:           c.ImageMaxFiles,
		Policy:             policy,
		Transport:          emb.transport(policy.Transport()),
		Logger:             log,
	})
	if err != nil {
		return fmt.Errorf("open image cache: %w", err)
	}
	met := metrics.New()
	usage, err := meter.Open(ctx, meter.Options{DB: st, Logger: log})
	if err != nil {
		return fmt.Errorf("open the meter: %w", err)
	}
	defer func() { err = errors.Join(err, usage.Close()) }()
	mon, startMonitor, stopMonitor, err := openMonitor(ctx, st, log)
	if err != nil {
		return fmt.Errorf("open the monitor: %w", err)
	}
	defer stopMonitor()
	inv, err := startInvocation(ctx, c, log, st, cache, recorder{meter: usage, metrics: met, monitor: mon, log: log})
	if err != nil {
		return err
	}
	// The deployer comes after the pool, which prepares the first start
	// of each version it activates.
	dep := deploy.New(st, cache, deploy.Options{Logger: log, PullObserved: met.ImagePull, Prepare: prepareOn(inv.pool)})
	defer dep.Close()
	pending, _, err := st.ListFunctions(ctx, store.FunctionQuery{
		Statuses: []scf.Status{scf.StatusCreating, scf.StatusUpdating},
		Limit:    1 << 30,
	})
	if err != nil {
		return fmt.Errorf("list pending functions: %w", err)
	}
	dep.Resume(ctx, pending)
	startMonitor(inv.pool)
	met.Instances(instanceStates(inv.pool))
	sampling, stopSampling := context.WithCancel(context.Background())
	defer stopSampling()
	if inv.pool != nil {
		go usage.RunIdleSampler(sampling, provisionedIdle(inv.pool, st))
	}
	if eg, ok := inv.driver.(egressCounter); ok {
		go usage.RunOutboundSampler(sampling, OutboundInterval, outbound(eg))
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
		defer cancel()
		err = errors.Join(err, inv.close(cctx, log))
	}()

	forget := &lifecycle{Deployer: dep, log: log, others: []forgetter{
		forgetFunc(func(_ context.Context, ns, name string) error { met.Forget(ns, name); return nil }),
	}}
	if inv.pool != nil {
		forget.others = append(forget.others, forgetFunc(inv.pool.Remove))
	}
	apiSrv := api.New(api.Options{
		Store:    st,
		Deployer: forget,
		Keys:     inv.keys(adminKeys{key}),
		Region:   c.Region,
		AppID:    c.AppID,
		UIN:      c.UIN,
		Logger:   log,
	})
	inv.register(apiSrv)
	queue, err := startAsync(ctx, log, st, inv, apiSrv)
	if err != nil {
		return err
	}
	defer queue.Close()
	met.AsyncQueueDepth(func() float64 {
		n, err := queue.Depth(context.Background())
		if err != nil {
			log.Warn("reading the async queue depth", "err", err)
		}
		return float64(n)
	})
	trig, err := trigger.Open(ctx, trigger.Options{
		DB: st, Functions: st, Queue: queue, GatewayURL: gatewayURL(c.GatewayAddr), Logger: log,
	})
	if err != nil {
		return fmt.Errorf("open the triggers: %w", err)
	}
	go trig.Run(sampling)
	api.RegisterTriggers(apiSrv, trig)
	forget.others = append(forget.others, forgetFunc(trig.Forget), forgetFunc(mon.Forget), forgetFunc(queue.Forget))
	api.RegisterUsage(apiSrv, usage, meter.Prices(c.Prices))
	if inv.pool != nil {
		api.RegisterVersions(apiSrv, preparedVersions{Store: st, pool: inv.pool, log: log})
	} else {
		api.RegisterVersions(apiSrv, st)
	}
	emb.useKeys(inv.keys(adminKeys{key}))
	servers := []*server{
		{name: "SCF API", addr: c.APIAddr, handler: registerConsole(apiSrv, apiMux(apiSrv, met), mon, inv.pool, inv.keys(adminKeys{key}), log)},
		{name: "gateway", addr: c.GatewayAddr, handler: trig.APIGW(inv.invoker, newGateway(log, st, inv))},
	}
	servers = append(servers, emb.servers()...)
	for _, s := range servers {
		if err := s.listen(); err != nil {
			closeAll(servers)
			return err
		}
		fmt.Fprintf(announce, "scfd: %s listening on %s\n", s.name, s.ln.Addr())
		log.Info("listening", "server", s.name, "addr", s.ln.Addr().String())
	}
	errc := make(chan error, len(servers))
	for _, s := range servers {
		go func() { errc <- s.serve() }()
	}
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.srv.Shutdown(sctx)
		}()
	}
	wg.Wait()
	return err
}

type server struct {
	name, addr string
	handler    http.Handler
	ln         net.Listener
	srv        *http.Server
}

func (s *server) listen() error {
	if s.ln == nil { // else listening already
		ln, err := net.Listen("tcp", s.addr)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		s.ln = ln
	}
	s.srv = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	return nil
}

func (s *server) serve() error {
	if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	return nil
}

func closeAll(servers []*server) {
	for _, s := range servers {
		if s.ln != nil {
			s.ln.Close()
		}
	}
}

// notFound answers the gateway until web functions are served.
func notFound(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNotFound)
	io.WriteString(w, `{"error":"function not found"}`+"\n")
}

// adminKeys lets the administrator's key act on everything.
type adminKeys struct{ key credentials.Key }

func (k adminKeys) Lookup(secretID string) (string, api.Scope, error) {
	if secretID != k.key.SecretID {
		return "", api.Scope{}, tc3.ErrSecretIDNotFound
	}
	return k.key.SecretKey, api.Scope{Admin: true}, nil
}

// gatewayURL is the base URL of the gateway listening on addr, as API
// gateway triggers show it.
func gatewayURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}
