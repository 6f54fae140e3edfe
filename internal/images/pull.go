package images

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"
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
// cached is answered without touching the network, unless it names one
// of Options.ScopedRegistries: the pull's Access (see WithAccess) must
// then read it there. Concurrent pulls of one
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
	img, unpin, err := c.PullPinned(ctx, ref, progress)
	if err != nil {
		return nil, err
	}
	unpin()
	return img, nil
}

// PullPinned is Pull that also pins the image (see Pin) before any
// collection may decide, until unpin is called: the caller that records
// the digest somewhere (the function store) releases the pin once it has.
func (c *Cache) PullPinned(ctx context.Context, ref string, progress func(Progress)) (_ *Image, unpin func(), _ error) {
	r, err := c.parse(ref)
	if err != nil {
		return nil, nil, err
	}
	if d, ok := r.(name.Digest); ok && !c.scoped(r) {
		if img, unpin := c.getPinned(d.DigestStr()); img != nil {
			return img, unpin, nil
		}
	}
	m, digest, err := c.resolve(ctx, r)
	if err != nil {
		return nil, nil, err
	}
	if img, unpin := c.getPinned(digest); img != nil {
		return img, unpin, nil
	}
	repo := r.Context()
	return c.join(ctx, digest, progress, func(ctx context.Context, report func(Progress)) (*Image, error) {
		return c.fetch(ctx, repo, digest, m, report)
	})
}

// scoped reports whether r names a registry of Options.ScopedRegistries.
func (c *Cache) scoped(r name.Reference) bool {
	host := r.Context().RegistryStr()
	for _, h := range c.o.ScopedRegistries {
		if strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

// getPinned returns the cached image with this digest, pinned, or nil.
func (c *Cache) getPinned(digest string) (*Image, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.images[digest]
	if r == nil {
		return nil, nil
	}
	c.touch(r)
	c.pinLocked(digest)
	return c.image(r), c.unpinner(digest)
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

// resolve fetches the manifest of r and, for an index, that of its
// linux/amd64 image. It returns the image manifest and its digest. The
// registry must answer within Options.ReadTimeout.
func (c *Cache) resolve(ctx context.Context, r name.Reference) (_ *v1.Manifest, _ string, err error) {
	ctx, cancel := context.WithTimeoutCause(ctx, c.o.ReadTimeout, errStalled)
	defer cancel()
	defer func() {
		if err != nil && stalled(ctx) {
			err = stallError(r, "its manifest", c.o.ReadTimeout)
		}
	}()
	desc, err := remote.Get(r, c.remoteOptions(ctx)...)
	if err != nil {
		return nil, "", classify(r, err)
	}
	switch desc.MediaType {
	case types.OCIManifestSchema1, types.DockerManifestSchema2:
		m, err := parseManifest(desc.Manifest)
		if err != nil {
			return nil, "", errdefs.New(errdefs.ErrInvalidArgument, "ImageUri", "image %s has a malformed manifest: %w", r, err)
		}
		return m, desc.Digest.String(), nil
	case types.OCIImageIndex, types.DockerManifestList:
		im, err := parseIndex(desc.Manifest)
		if err != nil {
			return nil, "", errdefs.New(errdefs.ErrInvalidArgument, "ImageUri", "image %s has a malformed index: %w", r, err)
		}
		var found []string
		for _, d := range im.Manifests {
			if d.Platform == nil {
				continue
			}
			if d.Platform.OS == "linux" && d.Platform.Architecture == "amd64" {
				if d.MediaType != types.OCIManifestSchema1 && d.MediaType != types.DockerManifestSchema2 {
					return nil, "", errdefs.New(errdefs.ErrUnsupported, "ImageUri",
						"image %s: the linux/amd64 entry has media type %q; only Docker v2 schema 2 and OCI image manifests are supported", r, d.MediaType)
				}
				child := r.Context().Digest(d.Digest.String())
				cd, err := remote.Get(child, c.remoteOptions(ctx)...)
				if err != nil {
					return nil, "", classify(child, err)
				}
				if cd.MediaType != types.OCIManifestSchema1 && cd.MediaType != types.DockerManifestSchema2 {
					return nil, "", errdefs.New(errdefs.ErrUnsupported, "ImageUri",
						"image %s has manifest media type %q: only Docker v2 schema 2 and OCI image manifests are supported", child, cd.MediaType)
				}
				m, err := parseManifest(cd.Manifest)
				if err != nil {
					return nil, "", errdefs.New(errdefs.ErrInvalidArgument, "ImageUri", "image %s has a malformed manifest: %w", child, err)
				}
				return m, cd.Digest.String(), nil
			}
			found = append(found, d.Platform.OS+"/"+d.Platform.Architecture)
		}
		return nil, "", errdefs.New(errdefs.ErrUnsupported, "ImageArchitecture",
			"image %s has no linux/amd64 entry (found %s): only x86-64 (amd64) images run", r, orNone(found))
	default:
		return nil, "", errdefs.New(errdefs.ErrUnsupported, "ImageUri",
			"image %s has manifest media type %q: only Docker v2 schema 2 and OCI image manifests are supported", r, desc.MediaType)
	}
}

// stallError is the reason a pull failed because the registry stopped
// sending.
func stallError(r name.Reference, what string, timeout time.Duration) error {
	return errdefs.New(errdefs.ErrUnavailable, "Image",
		"registry %s sent nothing for %s while scfd fetched %s of %s: the registry stalled", r.Context().RegistryStr(), timeout, what, r)
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
	if m.Config.Size < 0 {
		return 0, errdefs.Invalid("ImageUri", "image %s declares a negative config size", ref)
	}
	if m.Config.Size > maxConfigBytes {
		return 0, errdefs.New(errdefs.ErrResourceExhausted, "ImageSize", "image %s declares a config of %d bytes; at most %d are read", ref, m.Config.Size, maxConfigBytes)
	}
	sizes := []int64{m.Config.Size}
	for _, l := range m.Layers {
		if !layerTypes[l.MediaType] {
			return 0, errdefs.New(errdefs.ErrUnsupported, "ImageUri", "image %s has a layer of media type %q: only tar, tar+gzip and tar+zstd layers are supported", ref, l.MediaType)
		}
		if l.Size < 0 {
			return 0, errdefs.Invalid("ImageUri", "image %s declares a negative layer size", ref)
		}
		sizes = append(sizes, l.Size)
	}
	size, ok := sumBelow(scf.MaxImageBytes, sizes...)
	if !ok {
		return 0, errdefs.New(errdefs.ErrResourceExhausted, "ImageSize",
			"image %s is %s as its manifest declares; images must be below %d bytes (1 GiB)", ref, declaredSize(sizes), int64(scf.MaxImageBytes))
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

// declaredSize renders the sum of sizes exactly, however large.
func declaredSize(sizes []int64) string {
	sum := new(big.Int)
	for _, s := range sizes {
		sum.Add(sum, big.NewInt(s))
	}
	if sum.IsInt64() {
		return fmt.Sprintf("%d bytes (%s)", sum.Int64(), humanBytes(sum.Int64()))
	}
	return sum.String() + " bytes"
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown architecture"
	}
	return s
}

// fetch downloads and unpacks the layers of the image with manifest m and
// records it.
// Called with c.gcMu held shared (by join).
func (c *Cache) fetch(ctx context.Context, repo name.Repository, digest string, m *v1.Manifest, report func(Progress)) (*Image, error) {
	if cached, err := c.Get(ctx, digest); err == nil {
		return cached, nil
	}
	ref := repo.Digest(digest)
	size, err := checkManifest(repo, digest, m)
	if err != nil {
		return nil, err
	}
	puller, err := remote.NewPuller(c.remoteOptions(ctx)...)
	if err != nil {
		return nil, classify(ref, err)
	}
	cf, err := c.config(ctx, puller, ref, m.Config)
	if err != nil {
		return nil, err
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

	b := newBudget(c.o.MaxUnpackedBytes, int64(c.o.MaxFiles))
	layerBytes := make([]int64, len(m.Layers))
	g, gctx := errgroup.WithContext(ctx)
	for i, desc := range m.Layers {
		diffID := cf.RootFS.DiffIDs[i]
		g.Go(func() error {
			n, err := c.layer(gctx, puller, ref, desc, diffID, b, add)
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
	if total, ok := sumBelow(c.o.MaxUnpackedBytes+1, layerBytes...); !ok {
		return nil, unpackedTooLarge(ref, c.o.MaxUnpackedBytes, total)
	}

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

// config fetches and parses the image config blob, at most its declared
// size, within the read timeout.
func (c *Cache) config(ctx context.Context, puller *remote.Puller, ref name.Digest, desc v1.Descriptor) (*v1.ConfigFile, error) {
	ctx, dog, stop := withWatchdog(ctx, c.o.ReadTimeout)
	defer stop()
	b, err := func() ([]byte, error) {
		l, err := puller.Layer(ctx, ref.Context().Digest(desc.Digest.String()))
		if err != nil {
			return nil, err
		}
		rc, err := l.Compressed()
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(&boundedReader{r: rc, max: desc.Size, dog: dog, what: "the image config"})
	}()
	if err != nil {
		if stalled(ctx) {
			return nil, stallError(ref, "the config", c.o.ReadTimeout)
		}
		return nil, classify(ref, err)
	}
	if int64(len(b)) != desc.Size {
		return nil, errdefs.Invalid("ImageUri", "image %s: its config is %d bytes, %d declared", ref, len(b), desc.Size)
	}
	cf, err := parseConfig(b)
	if err != nil {
		return nil, errdefs.New(errdefs.ErrInvalidArgument, "ImageUri", "image %s has a malformed config: %w", ref, err)
	}
	return cf, nil
}

func unpackedTooLarge(ref name.Reference, max, got int64) error {
	return errdefs.New(errdefs.ErrResourceExhausted, "ImageSize",
		"image %s unpacks to more than %d bytes (%s) of files, the limit of this server (SCFD_IMAGE_MAX_UNPACKED); unpacking stopped", ref, max, humanBytes(max))
}

// classify gives a registry error its errdefs class and a message naming
// the image and the cause. The message never carries what the registry
// sent (an ImageUri may name any server, and the message reaches the
// caller in StatusReasons): only status codes and the registry's error
// codes; the full error stays the cause, for the server's log.
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
	safe := func(class error, format string, args ...any) error {
		return &errdefs.Error{Class: class, Resource: "Image", Msg: fmt.Sprintf(format, args...), Cause: err}
	}
	var refused *refusedError
	if errors.As(err, &refused) {
		return &errdefs.Error{Class: errdefs.ErrInvalidArgument, Resource: "ImageUri", Cause: err,
			Msg: fmt.Sprintf("image %s: registry %s: %s", ref, reg, refused)}
	}
	var over *overrunError
	if errors.As(err, &over) {
		return safe(errdefs.ErrInvalidArgument, "image %s: %s: download stopped", ref, over)
	}
	var te *transport.Error
	if errors.As(err, &te) {
		var codes []string
		for _, d := range te.Errors {
			switch d.Code {
			case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode:
				return safe(errdefs.ErrNotFound, "image %s not found in registry %s (%s)", ref, reg, d.Code)
			case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
				return safe(errdefs.ErrUnauthorized, "registry %s refused access to %s (%s): check the credentials in DOCKER_CONFIG", reg, ref, d.Code)
			}
			if validCode(string(d.Code)) {
				codes = append(codes, string(d.Code))
			}
		}
		switch te.StatusCode {
		case http.StatusNotFound:
			return safe(errdefs.ErrNotFound, "image %s not found in registry %s (HTTP 404)", ref, reg)
		case http.StatusUnauthorized, http.StatusForbidden:
			return safe(errdefs.ErrUnauthorized, "registry %s refused access to %s (HTTP %d): check the credentials in DOCKER_CONFIG", reg, ref, te.StatusCode)
		}
		detail := fmt.Sprintf("HTTP %d", te.StatusCode)
		if len(codes) > 0 {
			detail += ", " + strings.Join(codes, ", ")
		}
		return safe(errdefs.ErrUnavailable, "registry %s failed while pulling %s (%s)", reg, ref, detail)
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, errNetwork) {
		return safe(errdefs.ErrUnavailable, "network error pulling %s from registry %s after retries", ref, reg)
	}
	return safe(errdefs.ErrUnavailable, "pulling %s from registry %s failed", ref, reg)
}

// validCode reports whether a registry error code looks like one (upper
// case letters and underscores, short): anything else is not repeated.
func validCode(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r == '_') {
			return false
		}
	}
	return true
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
