// Package images turns an SCF ImageUri into a local, unpacked image: it
// resolves the reference against a private registry (credentials from the
// Docker config.json through go-containerregistry's keychain), checks SCF's
// rules (manifest format, linux/amd64, size below 1 GiB) before any layer
// is downloaded, then streams every layer through digest verification,
// decompression (gzip or zstd) and extraction into its own directory, ready
// to be an overlayfs lower layer.
//
// The cache is content-addressed and shared by every function: layers live
// in DIR/layers/<hex of the compressed digest>, image records in
// DIR/images/<hex of the manifest digest>.json. Work in progress goes to
// DIR/tmp and is renamed into place only when complete and verified; Open
// removes whatever a crashed run left there. Nothing in this package runs
// on the invocation path except Get, which never touches the network.
package images

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/singleflight"

	"github.com/scfd/scfd/internal/errdefs"
)

// Options configure a Cache. Only Dir is required.
type Options struct {
	// Dir is the cache's root directory; created if missing. Required.
	Dir string
	// InsecureRegistries are registry hosts ("host[:port]") reached over
	// plain HTTP. All others use HTTPS (go-containerregistry also uses
	// HTTP for localhost, loopback and RFC 1918 addresses on its own).
	InsecureRegistries []string
	// Keychain resolves registry credentials. Nil means
	// authn.DefaultKeychain: $DOCKER_CONFIG/config.json, credential
	// helpers included.
	Keychain authn.Keychain
	// MaxCacheBytes is the disk budget of the unpacked layers. Zero means
	// no budget: GC removes every image that is neither kept nor in use.
	// With a budget, GC keeps such images as a warm cache and evicts them,
	// least recently used first, only while the cache is above the budget.
	MaxCacheBytes int64
	// Concurrency bounds the layers downloaded at once across all pulls.
	// Zero means 4.
	Concurrency int
	// MaxUnpackedBytes bounds the bytes of file content one image unpacks
	// to; unpacking stops when an image passes it. Zero means
	// DefaultMaxUnpackedBytes.
	MaxUnpackedBytes int64
	// MaxFiles bounds the entries of one image's layers together. Zero
	// means DefaultMaxFiles.
	MaxFiles int
	// ReadTimeout is how long a registry may send nothing before a fetch
	// fails as stalled (a layer is tried again, up to three times). Zero
	// means DefaultReadTimeout.
	ReadTimeout time.Duration
	// Policy says which registry addresses pulls may connect to; it
	// shapes the transport built when Transport is nil.
	Policy RegistryPolicy
	// ScopedRegistries are the hosts ("host:port") of registries whose
	// repositories are scoped by namespace and read with the pull's
	// Access (scfd's embedded registry): a reference by digest to one of
	// them is resolved against it even when the image is cached, so that
	// knowing a digest gives no one an image their Access cannot read.
	ScopedRegistries []string
	// Transport is the HTTP transport to registries. Nil means
	// Policy.Transport(). A transport given here should itself be built
	// on Policy.Transport().
	Transport http.RoundTripper
	// Logger receives warnings (skipped device nodes, removed leftovers).
	// Nil means discard.
	Logger *slog.Logger
}

// ImageConfig is what an instance needs from the image's OCI config.
type ImageConfig struct {
	Entrypoint   []string `json:",omitempty"`
	Cmd          []string `json:",omitempty"`
	Env          []string `json:",omitempty"`
	WorkingDir   string   `json:",omitempty"`
	User         string   `json:",omitempty"`
	ExposedPorts []string `json:",omitempty"` // such as "9000/tcp", sorted
}

// Image is a pulled, verified and unpacked image.
type Image struct {
	Digest string      // manifest digest "sha256:..." of the linux/amd64 image
	Ref    string      // repository@digest, such as "reg:5000/ns/app@sha256:..."
	Size   int64       // config plus compressed layers, as the manifest declares them
	Config ImageConfig // from the image config
	// Layers are the absolute paths of the unpacked layer directories,
	// bottom first, ready as overlay lowerdirs (overlay lists the top
	// one first: reverse them for the mount option).
	Layers []string
	// LayerDigests are the compressed digests of Layers, in the same order.
	LayerDigests []string
}

// record is an image as stored in DIR/images/<hex>.json.
type record struct {
	Digest       string
	Ref          string
	Size         int64
	Config       ImageConfig
	LayerDigests []string
	LayerBytes   []int64 // bytes of file content each layer unpacked to
	Pulled       time.Time

	lastUsed time.Time // in memory; persisted as the file's mtime
}

// Cache is the content-addressed image cache. Its methods are safe for
// concurrent use.
type Cache struct {
	o        Options
	log      *slog.Logger
	keychain authn.Keychain
	insecure map[string]bool
	rt       http.RoundTripper
	sem      chan struct{} // bounds concurrent layer downloads
	root     bool          // extraction may chown and mknod

	gcMu sync.RWMutex // pulls hold it shared; GC exclusively

	mu      sync.Mutex
	images  map[string]*record // by manifest digest
	flights map[string]*flight // pulls in progress, by manifest digest
	pins    map[string]int     // holders of Pin, by manifest digest
	// pinnedInGC collects every digest pinned while a GC runs, from its
	// start until it decides: nil when no GC runs.
	pinnedInGC map[string]bool

	layers singleflight.Group // one download per layer digest
}

// Open opens (creating if needed) the cache in o.Dir, removes what an
// interrupted run left behind (temporary downloads, image records whose
// layers are missing, stray files) and loads the image records.
func Open(ctx context.Context, o Options) (*Cache, error) {
	if o.Dir == "" {
		return nil, errdefs.New(errdefs.ErrMissingParameter, "Dir", "images: Options.Dir is required")
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	o.Dir = dir
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.MaxUnpackedBytes <= 0 {
		o.MaxUnpackedBytes = DefaultMaxUnpackedBytes
	}
	if o.MaxFiles <= 0 {
		o.MaxFiles = DefaultMaxFiles
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = DefaultReadTimeout
	}
	c := &Cache{
		o:        o,
		log:      o.Logger,
		keychain: o.Keychain,
		insecure: map[string]bool{},
		rt:       o.Transport,
		sem:      make(chan struct{}, o.Concurrency),
		root:     os.Geteuid() == 0,
		images:   map[string]*record{},
		flights:  map[string]*flight{},
		pins:     map[string]int{},
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.keychain == nil {
		c.keychain = authn.DefaultKeychain
	}
	if c.rt == nil {
		t := o.Policy.Transport()
		t.MaxIdleConnsPerHost = o.Concurrency * 2
		c.rt = t
	}
	for _, r := range o.InsecureRegistries {
		c.insecure[strings.TrimSpace(r)] = true
	}
	if err := os.RemoveAll(c.tmpDir()); err != nil {
		return nil, fmt.Errorf("images: remove leftovers of an interrupted run: %w", err)
	}
	for _, d := range []string{c.tmpDir(), c.layersDir(), c.imagesDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("images: %w", err)
		}
	}
	if err := c.load(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Cache) tmpDir() string    { return filepath.Join(c.o.Dir, "tmp") }
func (c *Cache) layersDir() string { return filepath.Join(c.o.Dir, "layers") }
func (c *Cache) imagesDir() string { return filepath.Join(c.o.Dir, "images") }

// layerDir is where the layer with compressed digest d is unpacked.
func (c *Cache) layerDir(d string) string {
	return filepath.Join(c.layersDir(), strings.TrimPrefix(d, "sha256:"))
}

func (c *Cache) recordPath(d string) string {
	return filepath.Join(c.imagesDir(), strings.TrimPrefix(d, "sha256:")+".json")
}

// load reads the image records, dropping those that are unreadable or
// whose layers are missing, and stray files.
func (c *Cache) load(ctx context.Context) error {
	entries, err := os.ReadDir(c.imagesDir())
	if err != nil {
		return fmt.Errorf("images: %w", err)
	}
	for _, e := range entries {
		p := filepath.Join(c.imagesDir(), e.Name())
		hex, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !validHex(hex) {
			c.log.WarnContext(ctx, "removing stray file from image cache", "path", p)
			os.RemoveAll(p)
			continue
		}
		r, err := readRecord(p)
		if err == nil && r.Digest != "sha256:"+hex {
			err = fmt.Errorf("record names digest %s", r.Digest)
		}
		if err == nil {
			for _, l := range r.LayerDigests {
				if _, serr := os.Stat(c.layerDir(l)); serr != nil {
					err = fmt.Errorf("layer %s: %w", l, serr)
					break
				}
			}
		}
		if err != nil {
			c.log.WarnContext(ctx, "dropping incomplete image record", "path", p, "err", err)
			os.Remove(p)
			continue
		}
		c.images[r.Digest] = r
	}
	layers, err := os.ReadDir(c.layersDir())
	if err != nil {
		return fmt.Errorf("images: %w", err)
	}
	for _, e := range layers {
		if !validHex(e.Name()) || !e.IsDir() {
			p := filepath.Join(c.layersDir(), e.Name())
			c.log.WarnContext(ctx, "removing stray file from layer cache", "path", p)
			os.RemoveAll(p)
		}
	}
	return nil
}

func readRecord(path string) (*record, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	if len(r.LayerBytes) != len(r.LayerDigests) {
		return nil, fmt.Errorf("record has %d layer sizes for %d layers", len(r.LayerBytes), len(r.LayerDigests))
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	r.lastUsed = fi.ModTime()
	return &r, nil
}

// writeRecord stores r atomically: a temporary file renamed into place.
func (c *Cache) writeRecord(r *record) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(c.tmpDir(), "image-*.json")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), c.recordPath(r.Digest))
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

func validHex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}

// Get returns the cached image with manifest digest d without touching the
// network; ErrNotFound when it is not in the cache.
func (c *Cache) Get(ctx context.Context, digest string) (*Image, error) {
	c.mu.Lock()
	r := c.images[digest]
	if r != nil {
		c.touch(r)
	}
	c.mu.Unlock()
	if r == nil {
		return nil, errdefs.NotFound("Image", "image %s is not in the local cache", digest)
	}
	return c.image(r), nil
}

// Images returns the digests of every cached image.
func (c *Cache) Images() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.images))
	for d := range c.images {
		out = append(out, d)
	}
	return out
}

// touch records a use of r for LRU eviction; the file mtime is updated at
// most once a minute. Called with c.mu held.
func (c *Cache) touch(r *record) {
	now := time.Now()
	if now.Sub(r.lastUsed) > time.Minute {
		os.Chtimes(c.recordPath(r.Digest), now, now)
	}
	r.lastUsed = now
}

func (c *Cache) image(r *record) *Image {
	img := &Image{
		Digest:       r.Digest,
		Ref:          r.Ref,
		Size:         r.Size,
		Config:       r.Config,
		LayerDigests: append([]string(nil), r.LayerDigests...),
	}
	for _, l := range r.LayerDigests {
		img.Layers = append(img.Layers, c.layerDir(l))
	}
	return img
}

// configOf extracts the fields an instance needs from an OCI config.
func configOf(cf *v1.ConfigFile) ImageConfig {
	ic := ImageConfig{
		Entrypoint: cf.Config.Entrypoint,
		Cmd:        cf.Config.Cmd,
		Env:        cf.Config.Env,
		WorkingDir: cf.Config.WorkingDir,
		User:       cf.Config.User,
	}
	for p := range cf.Config.ExposedPorts {
		ic.ExposedPorts = append(ic.ExposedPorts, p)
	}
	slices.Sort(ic.ExposedPorts)
	return ic
}
