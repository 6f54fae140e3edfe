package images

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/scf"
)

// Progress of a pull. Bytes count compressed layer bytes.
type Progress struct {
	LayersDone, Layers int
	BytesDone, Bytes   int64
}

// String renders p for a function's StatusDesc.
func (p Progress) String() string {
	return fmt.Sprintf("pulling image: %d/%d layers, %s of %s", p.LayersDone, p.Layers, humanBytes(p.BytesDone), humanBytes(p.Bytes))
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// Pull resolves ref (host[:port]/repo[:tag], ...@sha256:..., or
// ...:tag@sha256:...; no tag means "latest") to the digest of its
// linux/amd64 image manifest, checks SCF's rules, and downloads and unpacks
// every layer not yet in the cache. A reference by digest that is already
// cached is answered without touching the network. Concurrent pulls of one
// digest share the work; the shared pull is cancelled only when every
// caller waiting for it has gone. progress, if not nil, is called from
// several goroutines, never at once.
//
// Errors carry an errdefs class: ErrNotFound (no such image),
// ErrUnauthorized (credentials refused), ErrResourceExhausted (image too
// large), ErrUnsupported (architecture, manifest or layer format),
// ErrInvalidArgument (malformed reference), ErrUnavailable (registry
// unreachable after retries).
func (c *Cache) Pull(ctx context.Context, ref string, progress func(Progress)) (*Image, error) {
	r, err := c.parse(ref)
	if err != nil {
		return nil, err
	}
	if d, ok := r.(name.Digest); ok {
		if img, err := c.Get(ctx, d.DigestStr()); err == nil {
			return img, nil
		}
	}
	img, digest, err := c.resolve(ctx, r)
	if err != nil {
		return nil, err
	}
	if cached, err := c.Get(ctx, digest); err == nil {
		return cached, nil
	}
	repo := r.Context()
	return c.join(ctx, digest, progress, func(ctx context.Context, report func(Progress)) (*Image, error) {
		return c.fetch(ctx, repo, digest, img, report)
	})
}

// parse turns ref into a go-containerregistry reference, plain HTTP for
// the configured insecure registries.
func (c *Cache) parse(ref string) (name.Reference, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, errdefs.Invalid("ImageUri", "ImageUri %q is invalid: %v", ref, err)
	}
	if c.insecure[r.Context().RegistryStr()] {
		r, err = name.ParseReference(ref, name.Insecure)
		if err != nil {
			return nil, errdefs.Invalid("ImageUri", "ImageUri %q is invalid: %v", ref, err)
		}
	}
	return r, nil
}

func (c *Cache) remoteOptions(ctx context.Context) []remote.Option {
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(c.keychain),
		remote.WithTransport(c.rt),
		remote.WithUserAgent("scfd"),
	}
}

// resolve fetches the manifest of r and, for an index, picks its
// linux/amd64 image. It returns the image (layers not yet fetched) and its
// manifest digest.
func (c *Cache) resolve(ctx context.Context, r name.Reference) (v1.Image, string, error) {
	desc, err := remote.Get(r, c.remoteOptions(ctx)...)
	if err != nil {
		return nil, "", classify(r, err)
	}
	switch desc.MediaType {
	case types.OCIManifestSchema1, types.DockerManifestSchema2:
		img, err := desc.Image()
		if err != nil {
			return nil, "", classify(r, err)
		}
		return img, desc.Digest.String(), nil
	case types.OCIImageIndex, types.DockerManifestList:
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, "", classify(r, err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return nil, "", classify(r, err)
		}
		var found []string
		for _, m := range im.Manifests {
			if m.Platform == nil {
				continue
			}
			if m.Platform.OS == "linux" && m.Platform.Architecture == "amd64" {
				if m.MediaType != types.OCIManifestSchema1 && m.MediaType != types.DockerManifestSchema2 {
					return nil, "", errdefs.New(errdefs.ErrUnsupported, "ImageUri",
						"image %s: the linux/amd64 entry has media type %q; only Docker v2 schema 2 and OCI image manifests are supported", r, m.MediaType)
				}
				img, err := idx.Image(m.Digest)
				if err != nil {
					return nil, "", classify(r, err)
				}
				return img, m.Digest.String(), nil
			}
			found = append(found, m.Platform.OS+"/"+m.Platform.Architecture)
		}
		return nil, "", errdefs.New(errdefs.ErrUnsupported, "ImageArchitecture",
			"image %s has no linux/amd64 entry (found %s): only x86-64 (amd64) images run", r, orNone(found))
	default:
		return nil, "", errdefs.New(errdefs.ErrUnsupported, "ImageUri",
			"image %s has manifest media type %q: only Docker v2 schema 2 and OCI image manifests are supported", r, desc.MediaType)
	}
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "no platforms"
	}
	return strings.Join(s, ", ")
}

var layerTypes = map[types.MediaType]bool{
	types.DockerLayer:             true,
	types.DockerUncompressedLayer: true,
	types.OCILayer:                true,
	types.OCILayerZStd:            true,
	types.OCIUncompressedLayer:    true,
}

// checkManifest applies SCF's format and size rules to a manifest, before
// the config or any layer is fetched.
func checkManifest(repo name.Repository, digest string, m *v1.Manifest) (size int64, err error) {
	ref := repo.String() + "@" + digest
	if m.Config.MediaType != types.DockerConfigJSON && m.Config.MediaType != types.OCIConfigJSON {
		return 0, errdefs.New(errdefs.ErrUnsupported, "ImageUri", "image %s has config media type %q: it is not a container image", ref, m.Config.MediaType)
	}
	size = m.Config.Size
	for _, l := range m.Layers {
		if !layerTypes[l.MediaType] {
			return 0, errdefs.New(errdefs.ErrUnsupported, "ImageUri", "image %s has a layer of media type %q: only tar, tar+gzip and tar+zstd layers are supported", ref, l.MediaType)
		}
		if l.Size < 0 {
			return 0, errdefs.Invalid("ImageUri", "image %s declares a negative layer size", ref)
		}
		size += l.Size
	}
	if size >= scf.MaxImageBytes {
		return 0, errdefs.New(errdefs.ErrResourceExhausted, "ImageSize",
			"image %s is %d bytes (%s) as its manifest declares; images must be below %d bytes (1 GiB)", ref, size, humanBytes(size), int64(scf.MaxImageBytes))
	}
	return size, nil
}

// checkConfig applies SCF's architecture rule.
func checkConfig(repo name.Repository, digest string, m *v1.Manifest, cf *v1.ConfigFile) error {
	ref := repo.String() + "@" + digest
	if cf.Architecture != "amd64" || (cf.OS != "" && cf.OS != "linux") {
		return errdefs.New(errdefs.ErrUnsupported, "ImageArchitecture",
			"image %s is built for %s/%s: only x86-64 (amd64) images run", ref, cf.OS, orUnknown(cf.Architecture))
	}
	if len(cf.RootFS.DiffIDs) != len(m.Layers) {
		return errdefs.Invalid("ImageUri", "image %s lists %d layers but its config has %d diff IDs", ref, len(m.Layers), len(cf.RootFS.DiffIDs))
	}
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown architecture"
	}
	return s
}

// fetch downloads and unpacks the layers of img and records it.
func (c *Cache) fetch(ctx context.Context, repo name.Repository, digest string, img v1.Image, report func(Progress)) (*Image, error) {
	c.gcMu.RLock()
	defer c.gcMu.RUnlock()
	if cached, err := c.Get(ctx, digest); err == nil {
		return cached, nil
	}
	ref := repo.Digest(digest)
	m, err := img.Manifest()
	if err != nil {
		return nil, classify(ref, err)
	}
	size, err := checkManifest(repo, digest, m)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, classify(ref, err)
	}
	if err := checkConfig(repo, digest, m, cf); err != nil {
		return nil, err
	}

	var mu sync.Mutex
	p := Progress{Layers: len(m.Layers)}
	for _, l := range m.Layers {
		p.Bytes += l.Size
	}
	report(p)
	add := func(bytes int64, layerDone bool) {
		mu.Lock()
		defer mu.Unlock()
		p.BytesDone += bytes
		if layerDone {
			p.LayersDone++
		}
		report(p)
	}

	layerBytes := make([]int64, len(m.Layers))
	g, gctx := errgroup.WithContext(ctx)
	for i, desc := range m.Layers {
		diffID := cf.RootFS.DiffIDs[i]
		g.Go(func() error {
			l, err := img.LayerByDigest(desc.Digest)
			if err != nil {
				return classify(ref, err)
			}
			n, err := c.layer(gctx, ref, l, desc, diffID, add)
			if err != nil {
				return err
			}
			layerBytes[i] = n
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}

	c.mu.Lock()
	for i, l := range m.Layers { // layers unpacked earlier: take the size other records know
		for _, o := range c.images {
			if j := slices.Index(o.LayerDigests, l.Digest.String()); j >= 0 && layerBytes[i] == 0 {
				layerBytes[i] = o.LayerBytes[j]
			}
		}
	}
	c.mu.Unlock()

	r := &record{
		Digest:     digest,
		Ref:        ref.String(),
		Size:       size,
		Config:     configOf(cf),
		LayerBytes: layerBytes,
		Pulled:     time.Now().UTC(),
		lastUsed:   time.Now(),
	}
	for _, l := range m.Layers {
		r.LayerDigests = append(r.LayerDigests, l.Digest.String())
	}
	if err := c.writeRecord(r); err != nil {
		return nil, fmt.Errorf("images: record %s: %w", digest, err)
	}
	c.mu.Lock()
	c.images[digest] = r
	c.mu.Unlock()
	return c.image(r), nil
}

// classify gives a registry error its errdefs class and a message naming
// the image and the cause.
func classify(ref name.Reference, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var e *errdefs.Error
	if errors.As(err, &e) {
		return err
	}
	reg := ref.Context().RegistryStr()
	var te *transport.Error
	if errors.As(err, &te) {
		for _, d := range te.Errors {
			switch d.Code {
			case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode:
				return errdefs.New(errdefs.ErrNotFound, "Image", "image %s not found in registry %s: %w", ref, reg, err)
			case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
				return errdefs.New(errdefs.ErrUnauthorized, "Image", "registry %s refused access to %s: check the credentials in DOCKER_CONFIG: %w", reg, ref, err)
			}
		}
		switch te.StatusCode {
		case http.StatusNotFound:
			return errdefs.New(errdefs.ErrNotFound, "Image", "image %s not found in registry %s: %w", ref, reg, err)
		case http.StatusUnauthorized, http.StatusForbidden:
			return errdefs.New(errdefs.ErrUnauthorized, "Image", "registry %s refused access to %s: check the credentials in DOCKER_CONFIG: %w", reg, ref, err)
		}
		return errdefs.New(errdefs.ErrUnavailable, "Image", "registry %s failed while pulling %s: %w", reg, ref, err)
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, errNetwork) {
		return errdefs.New(errdefs.ErrUnavailable, "Image", "network error pulling %s from registry %s after retries: %w", ref, reg, err)
	}
	return errdefs.New(errdefs.ErrUnavailable, "Image", "pulling %s from registry %s failed: %w", ref, reg, err)
}

// RecommendedMemoryMB is the smallest MemorySize SCF's image-size table
// advises for an image of size bytes: below 256 MB → 256 MB; 256–512 MB →
// 512 MB; 512 MB–1 GiB → 1024 MB.
func RecommendedMemoryMB(size int64) int64 {
	switch {
	case size < 256<<20:
		return 256
	case size < 512<<20:
		return 512
	default:
		return 1024
	}
}
