package daemon

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/scfd/scfd/internal/cluster"
	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/gateway"
	"github.com/scfd/scfd/internal/images"
	"github.com/scfd/scfd/internal/invocation"
	"github.com/scfd/scfd/internal/scf"
	"github.com/scfd/scfd/internal/store"
)

// invoker runs event invocations: the API's, the queue's and the API
// gateway triggers'. *invoke.Invoker, or the cluster's forwarding one.
type invoker interface {
	Invoke(ctx context.Context, req invocation.Request) (*invocation.Result, error)
}

// replicas is what the daemon holds of the cluster when SCFD_CLUSTER_ADDR
// is set: the membership, the forwarder and the internal listener.
type replicas struct {
	members  *cluster.Membership
	fwd      *cluster.Forwarder
	internal *server
	// stopBeat stops the heartbeat, which goes on through the drain
	// until the instances have stopped; nil before it started.
	stopBeat func()

	mu   sync.Mutex
	gone []cluster.Member // replicas whose Pods are still to remove
	kick chan struct{}    // a change to follow

	// pulled holds, for each function whose images this replica has,
	// the ModTime it had then (followOwnership's own).
	pulled map[cluster.Key]time.Time
}

// SyncInterval is how often a replica reads the concurrency settings that
// others changed and looks for functions it owns whose images it lacks
// (created, or given new code, through another replica).
const SyncInterval = 5 * time.Second

// openCluster joins the replicas sharing the work when SCFD_CLUSTER_ADDR
// is set: it opens the internal listener and reads the others'
// heartbeats (this replica's own starts with joinCluster). Without
// the setting it does nothing, and nothing is forwarded.
func (d *daemon) openCluster(ctx context.Context) error {
	c := d.c.Cluster
	if !c.Enabled() {
		return nil
	}
	secret, err := cluster.LoadSecret(d.c.DataDir, c.Secret)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	advertise := c.Advertise
	if advertise == "" {
		advertise = ln.Addr().String()
	}
	id, err := d.replicaName()
	if err != nil {
		ln.Close()
		return err
	}
	self := cluster.Member{ID: id, Addr: advertise}
	m, err := cluster.Join(ctx, cluster.Options{DB: d.st, Self: self, Logger: d.log})
	if err != nil {
		ln.Close()
		return err
	}
	fwd, err := cluster.NewForwarder(cluster.ForwarderOptions{Owners: m, Self: self.ID, Secret: secret, Logger: d.log})
	if err != nil {
		ln.Close()
		return err
	}
	d.cluster = &replicas{
		members: m, fwd: fwd, kick: make(chan struct{}, 1), pulled: map[cluster.Key]time.Time{},
		internal: &server{name: "cluster", addr: c.Addr, ln: ln, plain: true, refuse: cluster.Draining(gateway.ShuttingDown(RetryAfter))},
	}
	d.log.Info("joined the replicas", "replica", self.ID, "advertise", self.Addr, "live", len(m.View().Members()))
	// Closed after the data plane, its instances stopped: the heartbeat
	// ends and the row goes, and only then may the others remove what
	// is left of this replica's instances.
	d.onClose(func() error {
		r := d.cluster
		if r.internal.srv == nil { // the start failed before listening
			ln.Close()
		}
		if r.stopBeat != nil {
			r.stopBeat()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return r.members.Depart(ctx)
	})
	return nil
}

// joinCluster starts the heartbeat once the listeners are open (the
// others forward to this replica from its first heartbeat on), and
// registers, last, what must run first on the way out: leaving, before
// the drain.
func (d *daemon) joinCluster(context.Context) error {
	if d.cluster == nil {
		return nil
	}
	d.onClose(d.leaveCluster)
	// Not d.background, which stops before the leave: the heartbeat
	// goes on, saying leaving, while the requests in flight finish.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { d.cluster.members.Run(ctx) })
	d.cluster.stopBeat = func() { cancel(); wg.Wait() }
	d.ready = append(d.ready, func() error {
		if !d.cluster.members.Joined() {
			return errors.New("the other replicas do not count this one in yet")
		}
		return nil
	})
	return nil
}

// shareWork wraps the invoker with forwarding, lets the pool follow the
// ownership of functions and removes the instances of replicas that are
// gone. Nothing without a cluster.
func (d *daemon) shareWork(ctx context.Context) error {
	d.invoke = d.inv.invoker
	r := d.cluster
	if r == nil {
		return nil
	}
	d.invoke = r.fwd.Invoker(d.inv.invoker)
	d.met.Replicas(func() []string {
		var ids []string
		for _, m := range r.members.View().Members() {
			ids = append(ids, m.ID)
		}
		return ids
	})
	r.members.Subscribe(func(ch cluster.Change) {
		r.mu.Lock()
		r.gone = append(r.gone, ch.Gone...)
		r.mu.Unlock()
		select {
		case r.kick <- struct{}{}:
		default:
		}
	})
	d.background(d.followOwnership)
	return nil
}

// podRemover is the Kubernetes driver's removal of a gone replica's Pods.
type podRemover interface {
	RemoveReplicaPods(ctx context.Context, replica string, mine func(namespace, function string) bool) (int, error)
}

// followOwnership follows each change of the view: the pool drains what
// this replica lost and starts the provisioned instances of what it
// gained, the images of what it owns are pulled when missing, and on
// Kubernetes the Pods of gone replicas for the functions this replica now
// owns are deleted. Every SyncInterval it also reads the settings again
// and pulls what is missing.
func (d *daemon) followOwnership(ctx context.Context) {
	r := d.cluster
	tick := time.NewTicker(SyncInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			d.syncSettings(ctx)
			d.pullOwned(ctx)
			continue
		case <-r.kick:
		}
		d.syncSettings(ctx)
		if p := d.inv.pool; p != nil {
			p.Rebalance(ctx)
		}
		d.pullOwned(ctx)
		r.mu.Lock()
		gone := r.gone
		r.gone = nil
		r.mu.Unlock()
		pr, ok := d.inv.driver.(podRemover)
		if !ok {
			continue
		}
		for _, m := range gone {
			n, err := pr.RemoveReplicaPods(ctx, m.ID, d.owns)
			if err != nil {
				d.log.Warn("removing the Pods of a replica gone", "replica", m.ID, "err", err)
			} else if n > 0 {
				d.log.Info("removed the Pods of a replica gone", "replica", m.ID, "pods", n)
			}
		}
	}
}

// syncSettings has the pool read the settings again.
func (d *daemon) syncSettings(ctx context.Context) {
	if p := d.inv.pool; p != nil {
		if err := p.ReloadSettings(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("reading the concurrency settings", "err", err)
		}
	}
}

// pullOwned pulls into this replica's image cache the images of the
// Active function versions it owns and lacks (a function created through
// another replica, or one it gained), by digest from the registry the
// function names, with the rights of the function's namespace. Functions
// unchanged since their images were found here are skipped. A failure is
// logged and tried again at the next pass; until then the function
// answers 444 here.
func (d *daemon) pullOwned(ctx context.Context) {
	fns, _, err := d.st.ListFunctions(ctx, store.FunctionQuery{Statuses: []scf.Status{scf.StatusActive}, Limit: 1 << 30})
	if err != nil {
		d.log.Warn("listing the functions to pull the images of", "err", err)
		return
	}
	pulled := d.cluster.pulled
	for _, f := range fns {
		k := cluster.Key{Namespace: f.Namespace, Function: f.Name}
		if !d.owns(f.Namespace, f.Name) {
			delete(pulled, k)
			continue
		}
		if t, ok := pulled[k]; ok && t.Equal(f.ModTime) {
			continue
		}
		versions, err := d.st.ListVersions(ctx, f.Namespace, f.Name)
		if err != nil {
			d.log.Warn("listing the versions to pull the images of", "namespace", f.Namespace, "function", f.Name, "err", err)
			continue
		}
		complete := true
		for _, v := range versions {
			if v.ImageDigest == "" {
				continue
			}
			if _, err := d.cache.Get(ctx, v.ImageDigest); err == nil {
				continue
			}
			ref, err := name.ParseReference(v.Image.ImageUri)
			if err != nil {
				continue
			}
			pull := images.WithAccess(ctx, scf.Access{Namespaces: []string{v.Namespace}})
			if _, err := d.cache.Pull(pull, ref.Context().Name()+"@"+v.ImageDigest, nil); err != nil {
				complete = false
				if ctx.Err() == nil {
					d.log.Warn("pulling the image of a function this replica owns", "namespace", v.Namespace, "function", v.Name, "version", v.Version, "err", err)
				}
			}
		}
		if complete {
			pulled[k] = f.ModTime
		}
	}
}

// owns reports whether this replica owns a function; always true without
// a cluster.
func (d *daemon) owns(namespace, name string) bool {
	if d.cluster == nil {
		return true
	}
	_, self := d.cluster.members.Owner(cluster.Key{Namespace: namespace, Function: name})
	return self
}

// leaveCluster deletes this replica's row: the others stop forwarding to
// it at their next heartbeat. It runs first on the way out, before the
// drain.
func (d *daemon) leaveCluster() error {
	if d.cluster == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return d.cluster.members.Leave(ctx)
}

// listenCluster adds the internal listener to the servers, serving what
// other replicas forward: web requests with the gateway, invocations with
// the local invoker.
func (d *daemon) listenCluster(gw *gateway.Gateway) {
	if r := d.cluster; r != nil {
		r.internal.handler = r.fwd.Handler(gw, d.api, d.inv.invoker)
		d.servers = append(d.servers, r.internal)
	}
}

// forwarder is the gateway's Forwarder: nil without a cluster.
func (d *daemon) forwarder() gateway.Forwarder {
	if d.cluster == nil {
		return nil
	}
	return d.cluster.fwd
}

// newReplicaName names a replica: the host name and random hex, usable as
// a Kubernetes label value.
func newReplicaName() string {
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '-'
	}, host)
	if len(host) > 40 {
		host = host[:40]
	}
	b := make([]byte, 4)
	rand.Read(b)
	return strings.Trim(host+"-"+hex.EncodeToString(b), "-")
}

// ownedImages is the pool's image cache on a replica sharing the work: an
// image it lacks (its function was deployed through another replica,
// which pulled it, and the background pull of owned functions' images has
// not got to it yet) is pulled by digest at the start that needs it, from
// the registry the function names and with the rights recorded with the
// function, instead of failing the start with 444.
type ownedImages struct {
	*images.Cache // Pin comes from it: the pool pins what runs
	st            *store.Store
}

func (o ownedImages) Get(ctx context.Context, digest string) (*images.Image, error) {
	img, err := o.Cache.Get(ctx, digest)
	if !errors.Is(err, errdefs.ErrNotFound) {
		return img, err
	}
	fn, ferr := o.st.FunctionWithImage(ctx, digest)
	if ferr != nil {
		return nil, err
	}
	ref, ferr := name.ParseReference(fn.Image.ImageUri)
	if ferr != nil {
		return nil, err
	}
	access := fn.PullAccess
	if !access.All && len(access.Namespaces) == 0 {
		access = scf.Access{Namespaces: []string{fn.Namespace}}
	}
	return o.Cache.Pull(images.WithAccess(ctx, access), ref.Context().Name()+"@"+digest, nil)
}

// ownerActions are the API actions that act on the pool of a function's
// owner: its reserved and provisioned concurrency, and deleting it (which
// stops its instances).
var ownerActions = map[string]bool{
	"DeleteFunction":                     true,
	"PutReservedConcurrencyConfig":       true,
	"GetReservedConcurrencyConfig":       true,
	"DeleteReservedConcurrencyConfig":    true,
	"PutProvisionedConcurrencyConfig":    true,
	"GetProvisionedConcurrencyConfig":    true,
	"DeleteProvisionedConcurrencyConfig": true,
}

// maxOwnerActionBody bounds the body read to find the function of an
// ownerActions request; theirs are a few hundred bytes.
const maxOwnerActionBody = 64 << 10

// toOwner sends the API requests of ownerActions to the owner of their
// function, whose pool they act on; others, and all without a cluster,
// go to api.
func (d *daemon) toOwner(api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d.cluster == nil || !ownerActions[r.Header.Get("X-TC-Action")] || cluster.Forwarded(r.Context()) {
			api.ServeHTTP(w, r)
			return
		}
		orig := r.Body
		body, err := io.ReadAll(io.LimitReader(orig, maxOwnerActionBody))
		whole := func() io.ReadCloser { return io.NopCloser(io.MultiReader(bytes.NewReader(body), orig)) }
		var req struct{ Namespace, FunctionName string }
		if err != nil || len(body) == maxOwnerActionBody || json.Unmarshal(body, &req) != nil || req.FunctionName == "" {
			r.Body = whole()
			api.ServeHTTP(w, r) // the API answers what is wrong with it
			return
		}
		if req.Namespace == "" {
			req.Namespace = scf.DefaultNamespace
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if d.cluster.fwd.ForwardAPI(w, r, req.Namespace, req.FunctionName) {
			return
		}
		r.Body = whole()
		api.ServeHTTP(w, r)
	})
}
