// Package daemon is scfd's composition root: the one place that knows every
// concrete type. Run opens scfd's parts one after the other (the store,
// the embedded registry, the image cache, metering, the deployer, the data
// plane, the asynchronous queue, the triggers, the API and the gateway, the
// listeners), serves, and on a stop signal drains the listeners and closes
// the parts in reverse order. With SCFD_CLUSTER_ADDR it is one replica of
// several sharing the store (package cluster): it joins them, forwards
// what another owns, and leaves before it drains. cmd/scfd parses the
// configuration and calls Run.
package daemon

import (
	"context"
	"crypto/tls"
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
	"github.com/scfd/scfd/internal/async"
	"github.com/scfd/scfd/internal/config"
	"github.com/scfd/scfd/internal/credentials"
	"github.com/scfd/scfd/internal/deploy"
	"github.com/scfd/scfd/internal/gateway"
	"github.com/scfd/scfd/internal/images"
	"github.com/scfd/scfd/internal/meter"
	"github.com/scfd/scfd/internal/metrics"
	"github.com/scfd/scfd/internal/monitor"
	"github.com/scfd/scfd/internal/pool"
	"github.com/scfd/scfd/internal/scf"
	"github.com/scfd/scfd/internal/store"
	"github.com/scfd/scfd/internal/tc3"
	"github.com/scfd/scfd/internal/trigger"
)

// StopTimeout bounds how long stopping the instances, and forgetting a
// deleted function, may take.
const StopTimeout = 30 * time.Second

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

// Run serves until ctx is cancelled, then stops cleanly: the listeners
// stop accepting, requests in flight finish within c.ShutdownGrace (later
// ones are answered 503 with Retry-After), then the instances stop,
// background work stops and the store is closed. announce receives the
// lines meant for the person who started scfd (the generated key, the
// addresses).
func Run(ctx context.Context, c *config.Config, log *slog.Logger, announce io.Writer) (err error) {
	d := &daemon{c: c, log: log, announce: announce}
	defer func() { err = errors.Join(err, d.close()) }()
	for _, open := range []func(context.Context) error{
		d.openKeys,      // the data dir, the administrator's key, the functions' temporary keys
		d.openTLS,       // the listeners' certificate, when TLS is on
		d.openStore,     // SQLite: functions, versions, aliases, triggers, events, logs, usage, tenant keys
		d.openCluster,   // with SCFD_CLUSTER_ADDR: the internal listener, the other replicas' heartbeats
		d.openRegistry,  // the embedded image registry, listening already
		d.openImages,    // the image cache
		d.openMetering,  // Prometheus metrics, usage, the console's time series
		d.openDataPlane, // the runtime driver, the pool, the logs, the invoker
		d.shareWork,     // with a cluster: invocations forwarded to their function's owner, pools following ownership
		d.openDeployer,  // image pulls, resuming those a previous run left; each activated version's first start prepared by the pool
		d.openAsync,     // the queue of asynchronous invocations
		d.openTriggers,  // timers and API gateway triggers
		d.openAPI,       // the SCF API and the console
		d.openGateway,   // web functions and API gateway triggers
		d.listen,        // the listeners, drained on the way out
		d.joinCluster,   // with a cluster: the heartbeat; on the way out, leave before the drain
	} {
		if err := open(ctx); err != nil {
			return err
		}
	}
	return d.serve(ctx)
}

// daemon holds the parts of one run of scfd serve, each set by its open
// function.
type daemon struct {
	c        *config.Config
	log      *slog.Logger
	announce io.Writer
	closers  []func() error // in the order the parts opened

	admin   credentials.Key
	issuer  *credentials.Issuer
	keys    api.KeyLookup // the administrator's key, then the tenant keys, then the functions' temporary ones
	st      *store.Store
	reg     *embedded
	cache   *images.Cache
	met     *metrics.Metrics
	usage   *meter.Meter
	mon     *monitor.Monitor
	rec     recorder
	dep     *deploy.Deployer
	inv     *dataPlane
	cluster *replicas // nil without SCFD_CLUSTER_ADDR
	invoke  invoker   // the invoker, forwarding with a cluster
	queue   *async.Queue
	trig    *trigger.Service
	api     *api.Server
	servers []*server
	drain   *drain
	tls     *tls.Config // of the API, gateway and registry listeners; nil: plain HTTP
	// ready are the checks of GET /healthz/ready beyond serving at all:
	// each part that must be ready before the server takes requests adds
	// one, which returns why it is not.
	ready []func() error
	// replica is this server's name among the replicas (replicaName).
	replica string
}

// onClose adds the closing of the part being opened.
func (d *daemon) onClose(f func() error) { d.closers = append(d.closers, f) }

// background runs fns, each in a goroutine, until the part that started
// them closes.
func (d *daemon) background(fns ...func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, fn := range fns {
		wg.Go(func() { fn(ctx) })
	}
	d.onClose(func() error { cancel(); wg.Wait(); return nil })
}

// close closes the parts in the reverse order of their opening.
func (d *daemon) close() error {
	var errs []error
	for i := len(d.closers) - 1; i >= 0; i-- {
		errs = append(errs, d.closers[i]())
	}
	return errors.Join(errs...)
}

func (d *daemon) openKeys(ctx context.Context) error {
	c := d.c
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
		fmt.Fprintf(d.announce, "scfd: generated the administrator key pair, kept in %s (mode 0600):\n  SecretId:  %s\n  SecretKey: %s\n",
			credentials.Path(c.DataDir), key.SecretID, key.SecretKey)
	}
	d.admin = key
	d.issuer = credentials.NewIssuer(credentials.IssuerOptions{Reuse: CredentialReuse})
	return nil
}

func (d *daemon) openStore(ctx context.Context) error {
	var st *store.Store
	var err error
	if d.c.DatabaseURL != "" {
		st, err = store.OpenPostgres(ctx, d.c.DatabaseURL, store.PostgresOptions{})
	} else {
		st, err = store.Open(ctx, d.c.DataDir)
	}
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	d.st = st
	d.onClose(st.Close)
	d.keys = api.WithTemporaryKeys(api.WithTenantKeys(adminKeys{d.admin}, st), d.issuer)
	return nil
}

func (d *daemon) openRegistry(ctx context.Context) error {
	reg, err := openRegistry(ctx, d.c, d.log, d.st, d.keys)
	if err != nil {
		return fmt.Errorf("open registry: %w", err)
	}
	d.reg = reg
	d.onClose(reg.close)
	return nil
}

func (d *daemon) openImages(ctx context.Context) error {
	_, subnet, _ := RuntimeNames(d.c.DataDir)
	policy := images.RegistryPolicy{Allowed: d.c.AllowedRegistries, Denied: []netip.Prefix{netip.MustParsePrefix(subnet)}}
	cache, err := images.Open(ctx, images.Options{
		Dir:                filepath.Join(d.c.DataDir, "images"),
		InsecureRegistries: d.c.InsecureRegistries,
		MaxCacheBytes:      d.c.ImageCacheMax,
		MaxUnpackedBytes:   d.c.ImageMaxUnpacked,
		MaxFiles:           d.c.ImageMaxFiles,
		Policy:             policy,
		ScopedRegistries:   d.reg.hosts(),
		Transport:          d.reg.transport(policy.Transport()),
		Logger:             d.log,
	})
	if err != nil {
		return fmt.Errorf("open image cache: %w", err)
	}
	d.cache = cache
	return nil
}

// openMetering opens what is told of every finished invocation: the
// Prometheus metrics, the meter and the console's time series.
func (d *daemon) openMetering(ctx context.Context) error {
	d.met = metrics.New()
	usage, err := meter.Open(ctx, meter.Options{DB: d.st, Logger: d.log})
	if err != nil {
		return fmt.Errorf("open the meter: %w", err)
	}
	d.usage = usage
	d.onClose(usage.Close)
	// The monitor's minutes are written once a minute and when it stops,
	// after the invocations have.
	if d.mon, err = monitor.Open(ctx, monitor.Options{DB: d.st, Logger: d.log}); err != nil {
		return fmt.Errorf("open the monitor: %w", err)
	}
	d.background(func(ctx context.Context) { d.mon.Run(ctx, MonitorFlushInterval) })
	d.rec = recorder{meter: d.usage, metrics: d.met, monitor: d.mon, log: d.log}
	return nil
}

func (d *daemon) openDeployer(ctx context.Context) error {
	versions := d.versions()
	d.dep = deploy.New(d.st, d.cache, deploy.Options{
		Logger: d.log, PullObserved: d.met.ImagePull, Prepare: prepareOn(d.inv.pool),
		Publish: func(ctx context.Context, ns, name string) error {
			_, err := versions.PublishVersion(ctx, ns, name, "")
			return err
		},
	})
	d.onClose(func() error { d.dep.Close(); return nil })
	pending, _, err := d.st.ListFunctions(ctx, store.FunctionQuery{
		Statuses: []scf.Status{scf.StatusCreating, scf.StatusUpdating},
		Limit:    1 << 30,
	})
	if err != nil {
		return fmt.Errorf("list pending functions: %w", err)
	}
	d.dep.Resume(ctx, pending)
	return nil
}

// openDataPlane starts the data plane and the samplers that read its
// pool. Closing it stops the instances.
func (d *daemon) openDataPlane(ctx context.Context) error {
	var replica string
	var owns func(namespace, name string) bool
	var imgs pool.Images = d.cache
	if d.cluster != nil {
		replica, owns = d.cluster.members.Self().ID, d.owns
		imgs = ownedImages{Cache: d.cache, st: d.st}
	}
	inv, err := startInvocation(ctx, d.c, d.log, d.st, imgs, d.issuer, d.rec, replica, owns)
	if err != nil {
		return err
	}
	d.inv = inv
	d.onClose(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), StopTimeout)
		defer cancel()
		return inv.close(ctx, d.log)
	})
	d.met.Instances(instanceStates(inv.pool))
	var samplers []func(context.Context)
	if p := inv.pool; p != nil {
		samplers = append(samplers,
			func(ctx context.Context) { d.usage.RunIdleSampler(ctx, provisionedIdle(p, d.st)) },
			func(ctx context.Context) { d.mon.RunSampler(ctx, MonitorSampleInterval, instanceCounts(p)) })
	}
	if eg, ok := inv.driver.(egressCounter); ok {
		samplers = append(samplers, func(ctx context.Context) { d.usage.RunOutboundSampler(ctx, OutboundInterval, outbound(eg)) })
	}
	d.background(samplers...)
	return nil
}

// openAsync opens the queue of asynchronous invocations over the
// invoker; the events a previous run left unfinished run again when their
// lease expires (at once when this replica restarts: see replicaID). It
// closes before the data plane: running attempts go back to the queue.
func (d *daemon) openAsync(ctx context.Context) error {
	replica, err := d.replicaName()
	if err != nil {
		return err
	}
	q, err := async.Open(ctx, async.Options{Store: d.st, Functions: d.st, Aliases: d.st, Invoker: d.invoke, Replica: replica, Logger: d.log})
	if err != nil {
		return fmt.Errorf("open the asynchronous queue: %w", err)
	}
	d.queue = q
	d.onClose(q.Close)
	d.met.AsyncQueueDepth(func() float64 {
		n, err := q.Depth(context.Background())
		if err != nil {
			d.log.Warn("reading the async queue depth", "err", err)
		}
		return float64(n)
	})
	return nil
}

func (d *daemon) openTriggers(ctx context.Context) error {
	trig, err := trigger.Open(ctx, trigger.Options{
		DB: d.st, Functions: d.st, Aliases: d.st, Queue: d.queue, GatewayURL: gatewayURL(d.c.GatewayAddr, d.tls != nil), Logger: d.log,
		Authorize: d.authorizeSigned,
	})
	if err != nil {
		return fmt.Errorf("open the triggers: %w", err)
	}
	d.trig = trig
	d.background(trig.Run)
	return nil
}

func (d *daemon) openAPI(ctx context.Context) error {
	c := d.c
	// A deleted function is forgotten by everything that holds something
	// of it.
	forget := &lifecycle{Deployer: d.dep, log: d.log, others: []forgetter{
		forgetFunc(func(_ context.Context, ns, name string) error { d.met.Forget(ns, name); return nil }),
		forgetFunc(d.trig.Forget), forgetFunc(d.mon.Forget), forgetFunc(d.queue.Forget),
	}}
	opts := api.Options{
		Store:    d.st,
		Deployer: forget,
		Keys:     d.keys,
		Region:   c.Region,
		AppID:    c.AppID,
		UIN:      c.UIN,
		Logger:   d.log,
		Invoker:  d.invoke,
		Queue:    d.queue,
		Async:    d.queue,
		Logs:     d.inv.logs,
		Triggers: d.trig,
		Metrics:  d.mon,
		Usage:    d.usage,
		Prices:   meter.Prices(c.Prices),
		Versions: d.versions(),

		TenantKeys: d.st,
		Registries: d.reg.hosts(),
	}
	if d.st.Dialect() == "postgres" {
		// Replicas may share the database: they share the replay check.
		opts.Replays = d.st
		d.background(func(ctx context.Context) { expireSignatures(ctx, d.st, SignatureExpiryInterval, d.log) })
	}
	if p := d.inv.pool; p != nil {
		forget.others = append(forget.others, forgetFunc(p.Remove))
		opts.Concurrency = p
		opts.Instances = poolInstances{p}
	}
	d.api = api.New(opts)
	d.servers = append(d.servers, &server{
		name:    apiServerName,
		addr:    c.APIAddr,
		handler: withConsole(d.api, apiMux(d.toOwner(d.api), d.met, d.scrapers(), d.readiness), d.keys, gatewayURL(d.c.GatewayAddr, d.tls != nil), d.reg, d.log, d.tls != nil),
		refuse:  api.ShuttingDown(RetryAfter),
	})
	return nil
}

func (d *daemon) openGateway(ctx context.Context) error {
	gw := newGateway(d.log, d.st, d.inv, d.forwarder())
	d.servers = append(d.servers, &server{
		name:    "gateway",
		addr:    d.c.GatewayAddr,
		handler: d.trig.Endpoints(d.invoke, gw),
		refuse:  gateway.ShuttingDown(RetryAfter),
	})
	d.listenCluster(gw)
	return nil
}

// authorizeSigned checks a request to a function URL of AuthType CAM as
// the API checks a call that invokes (the API opens after the triggers;
// requests come once both are open).
func (d *daemon) authorizeSigned(r *http.Request, body []byte, namespace string) error {
	return d.api.AuthorizeInvoke(r, body, namespace)
}

// scrapers may read the metrics on the API listener: the holder of
// SCFD_METRICS_TOKEN, and the administrator, with its SecretId and
// SecretKey as Basic credentials (as the registry takes keys). Tenant keys
// may not: the series name every tenant's functions.
func (d *daemon) scrapers() metrics.Scrapers {
	return metrics.Scrapers{Token: d.c.MetricsToken, User: d.admin.SecretID, Password: d.admin.SecretKey}
}

// adminKeys lets the administrator's key act on everything.
type adminKeys struct{ key credentials.Key }

func (k adminKeys) Lookup(secretID string) (string, api.Scope, error) {
	if secretID != k.key.SecretID {
		return "", api.Scope{}, tc3.ErrSecretIDNotFound
	}
	return k.key.SecretKey, api.Scope{Admin: true}, nil
}

// gatewayURL is the base URL of the gateway listening on addr, over
// HTTPS when secure, as API gateway triggers show it.
func gatewayURL(addr string, secure bool) string {
	scheme := "http://"
	if secure {
		scheme = "https://"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return scheme + addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return scheme + net.JoinHostPort(host, port)
}
