package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"github.com/distribution/distribution/v3"
	"github.com/distribution/distribution/v3/registry/storage"
	"github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/distribution/reference"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// GCResult counts what a GC removed.
type GCResult struct {
	Blobs     int // blobs (layers, configs, manifests) deleted from storage
	Manifests int // untagged manifests removed from their repository
	Uploads   int // abandoned uploads purged
}

// GC deletes what nothing needs: it runs the reference implementation's
// mark and sweep with these roots — every tagged manifest, every manifest
// a function version pins (Options.Pins), every manifest pushed within
// Options.GCGrace — and removes untagged manifests that are not roots and
// blobs no root references; blobs, links and uploads younger than the
// grace period are spared, so that a push in progress survives. Requests
// wait while GC runs.
func (r *Registry) GC(ctx context.Context) (GCResult, error) {
	pins := map[string]bool{}
	if r.o.Pins != nil {
		var err error
		if pins, err = r.o.Pins.ImageDigests(ctx); err != nil {
			return GCResult{}, fmt.Errorf("registry gc: %w", err)
		}
	}
	r.gcMu.Lock()
	defer r.gcMu.Unlock()
	if r.empty(ctx) {
		return GCResult{}, nil
	}

	cutoff := r.o.Now().Add(-r.o.GCGrace)
	d := &sparingDriver{StorageDriver: r.driver, cutoff: cutoff}
	ns, err := storage.NewRegistry(ctx, r.driver, storage.EnableDelete)
	if err != nil {
		return GCResult{}, fmt.Errorf("registry gc: %w", err)
	}
	roots := &rootedNamespace{Namespace: ns, driver: r.driver, pins: pins, cutoff: cutoff}
	if err := storage.MarkAndSweep(ctx, d, roots, storage.GCOpts{RemoveUntagged: true, Quiet: true}); err != nil {
		return GCResult{}, fmt.Errorf("registry gc: %w", err)
	}
	purged, errs := storage.PurgeUploads(ctx, r.driver, cutoff, true)
	res := GCResult{Blobs: int(d.blobs.Load()), Manifests: int(d.manifests.Load()), Uploads: len(purged)}
	if len(errs) > 0 {
		return res, fmt.Errorf("registry gc: purge uploads: %w", errs[0])
	}
	r.log.Info("registry gc", "blobs", res.Blobs, "manifests", res.Manifests, "uploads", res.Uploads)
	return res, nil
}

// empty reports whether nothing was ever pushed (the reference
// implementation's enumeration fails then).
func (r *Registry) empty(ctx context.Context) bool {
	_, err := r.driver.Stat(ctx, "/docker/registry/v2/repositories")
	var nf driver.PathNotFoundError
	return errors.As(err, &nf)
}

// sparingDriver skips deletions of paths modified after cutoff and counts
// the deletions it passes on.
type sparingDriver struct {
	driver.StorageDriver
	cutoff           time.Time
	blobs, manifests atomic.Int64
}

func (d *sparingDriver) Delete(ctx context.Context, p string) error {
	fi, err := d.Stat(ctx, p)
	if err != nil {
		return err
	}
	if fi.ModTime().After(d.cutoff) {
		return nil
	}
	if err := d.StorageDriver.Delete(ctx, p); err != nil {
		return err
	}
	switch {
	case strings.Contains(p, "/v2/blobs/"):
		d.blobs.Add(1)
	case strings.Contains(p, "/_manifests/revisions/"):
		d.manifests.Add(1)
	}
	return nil
}

// rootedNamespace makes pinned and recently pushed manifests look tagged
// to the mark phase, which marks every tagged manifest and what it
// references.
type rootedNamespace struct {
	distribution.Namespace
	driver driver.StorageDriver
	pins   map[string]bool
	cutoff time.Time
}

func (n *rootedNamespace) Enumerate(ctx context.Context, ingester func(string) error) error {
	return n.Namespace.(distribution.RepositoryEnumerator).Enumerate(ctx, ingester)
}

func (n *rootedNamespace) Repository(ctx context.Context, name reference.Named) (distribution.Repository, error) {
	repo, err := n.Namespace.Repository(ctx, name)
	if err != nil {
		return nil, err
	}
	return &rootedRepository{Repository: repo, ns: n}, nil
}

type rootedRepository struct {
	distribution.Repository
	ns *rootedNamespace
}

func (r *rootedRepository) Tags(ctx context.Context) distribution.TagService {
	return &rootedTags{TagService: r.Repository.Tags(ctx), repo: r}
}

type rootedTags struct {
	distribution.TagService
	repo *rootedRepository
}

// rootTag is the tag a root without a real tag appears to have.
const rootTag = "scfd-root"

func (t *rootedTags) Lookup(ctx context.Context, desc v1.Descriptor) ([]string, error) {
	tags, err := t.TagService.Lookup(ctx, desc)
	if err != nil || len(tags) > 0 {
		return tags, err
	}
	if t.repo.ns.pins[desc.Digest.String()] {
		return []string{rootTag}, nil
	}
	link := path.Join("/docker/registry/v2/repositories", t.repo.Named().Name(),
		"_manifests/revisions", desc.Digest.Algorithm().String(), desc.Digest.Encoded(), "link")
	if fi, err := t.repo.ns.driver.Stat(ctx, link); err == nil && fi.ModTime().After(t.repo.ns.cutoff) {
		return []string{rootTag}, nil
	}
	return nil, nil
}

// GCPath is where an administrator runs GC over HTTP: POST with the
// administrator's key as Basic credentials answers the GCResult as JSON.
const GCPath = "/scfd/gc"

func (r *Registry) serveGC(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "use POST")
		return
	}
	scope, err := authenticate(r.o.Keys, req)
	if err != nil {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf("Basic realm=%q", realm))
		writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
		return
	}
	if !scope.Admin {
		writeError(w, http.StatusForbidden, "DENIED", "only an administrator key may run GC")
		return
	}
	res, err := r.GC(req.Context())
	if err != nil {
		r.log.Error("registry gc", "err", err)
		writeError(w, http.StatusInternalServerError, "UNKNOWN", "gc failed; see the server log")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(res)
}
