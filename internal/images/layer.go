package images

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"time"

	"github.com/containerd/containerd/v2/pkg/archive"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/scfd/scfd/internal/errdefs"
)

// errNetwork marks a failure while streaming a layer that is worth a retry.
var errNetwork = errors.New("layer download interrupted")

// layerAttempts is how many times a layer download is tried.
const layerAttempts = 3

// layer makes sure the layer with descriptor desc is unpacked in the
// cache, downloading it if needed, and returns the bytes of file content
// it unpacked to (0 when it was already there). add reports progress.
// Concurrent calls for one layer share a single download.
func (c *Cache) layer(ctx context.Context, puller *remote.Puller, ref name.Digest, desc v1.Descriptor, diffID v1.Hash, b *budget, add func(int64, bool)) (int64, error) {
	d := desc.Digest.String()
	for attempt := 1; ; attempt++ {
		leader := false
		ch := c.layers.DoChan(d, func() (any, error) {
			leader = true
			if fi, err := os.Stat(c.layerDir(d)); err == nil && fi.IsDir() {
				return int64(-1), nil
			}
			select {
			case c.sem <- struct{}{}:
			case <-ctx.Done():
				return int64(0), ctx.Err()
			}
			defer func() { <-c.sem }()
			return c.unpack(ctx, puller, ref, desc, diffID, b, add)
		})
		var res singleflightResult
		select {
		case r := <-ch:
			res = singleflightResult{r.Val, r.Err}
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		if res.err == nil {
			n := res.val.(int64)
			if n < 0 || !leader { // already cached, or another pull did the work
				add(desc.Size, true)
				return 0, nil
			}
			return n, nil
		}
		err := res.err
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		// A shared download cancelled by another caller, or interrupted:
		// try again ourselves.
		retry := errors.Is(err, context.Canceled) || errors.Is(err, errNetwork) || errors.Is(err, errStalled)
		if !retry || attempt >= layerAttempts {
			return 0, classify(ref, err)
		}
		select {
		case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

type singleflightResult struct {
	val any
	err error
}

// unpack streams one layer: download → verify the compressed digest →
// decompress → extract into a temporary directory while hashing the
// uncompressed stream against diffID → rename into the cache. The
// compressed blob is never stored. The download stops when the registry
// sends more than desc.Size or nothing for Options.ReadTimeout; the
// extraction stops when the image passes its budget of bytes or entries.
func (c *Cache) unpack(ctx context.Context, puller *remote.Puller, ref name.Digest, desc v1.Descriptor, diffID v1.Hash, b *budget, add func(int64, bool)) (_ any, err error) {
	d := desc.Digest.String()
	tmp, err := os.MkdirTemp(c.tmpDir(), "layer-")
	if err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, err
	}

	ctx, dog, stop := withWatchdog(ctx, c.o.ReadTimeout)
	defer stop()
	defer func() {
		if err != nil && stalled(ctx) {
			err = fmt.Errorf("%w: %w", errStalled, stallError(ref, "layer "+d, c.o.ReadTimeout))
		}
	}()
	l, err := puller.Layer(ctx, ref.Context().Digest(d))
	if err != nil {
		return nil, err
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var done int64
	defer func() {
		if err != nil { // take back the bytes of a failed attempt
			add(-done, false)
		}
	}()
	bounded := &boundedReader{r: rc, max: desc.Size, dog: dog, what: "layer " + d}
	compressed := &hashingReader{r: bounded, h: sha256.New(), count: func(n int64) {
		done += n
		add(n, false)
	}}
	br := bufio.NewReaderSize(compressed, 256<<10)
	dec, err := decompressor(br)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNetwork, err)
	}
	defer dec.Close()
	// The uncompressed stream holds the file content plus tar headers: a
	// stream past the budget with room for headers is a bomb too.
	streamMax := b.maxBytes + int64(b.maxFiles)*1024 + 1<<20
	uncompressed := &hashingReader{r: &boundedReader{r: dec, max: streamMax, what: "layer " + d + " uncompressed"}, h: sha256.New()}

	overBudget := false
	var tookBytes, tookFiles int64
	defer func() {
		if err != nil && !overBudget { // a retry spends the budget again
			b.bytes.Add(tookBytes)
			b.files.Add(tookFiles)
		}
	}()
	opts := []archive.ApplyOpt{
		archive.WithConvertWhiteout(archive.OverlayConvertWhiteout),
		archive.WithFilter(func(h *tar.Header) (bool, error) {
			tookBytes += max(h.Size, 0)
			tookFiles++
			if !b.take(h.Size) {
				overBudget = true
				return false, errOverBudget
			}
			if h.Typeflag == tar.TypeChar || h.Typeflag == tar.TypeBlock {
				c.log.WarnContext(ctx, "skipping device node in image layer", "layer", d, "path", h.Name)
				return false, nil
			}
			return true, nil
		}),
	}
	if !c.root {
		opts = append(opts, archive.WithNoSameOwner())
	}
	n, err := archive.Apply(ctx, tmp, uncompressed, opts...)
	if err != nil {
		var over *overrunError
		switch {
		case overBudget || errors.As(uncompressed.err, &over) && over.what != bounded.what:
			return nil, c.overBudget(ref, b)
		case errors.As(compressed.err, &over):
			return nil, classify(ref, over)
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case compressed.err != nil:
			return nil, fmt.Errorf("%w: %v", errNetwork, compressed.err)
		}
		return nil, errdefs.New(errdefs.ErrUnsupported, "ImageUri", "image %s: layer %s cannot be unpacked: %w", ref, d, err)
	}
	// Read what the tar reader left: end-of-archive padding, the
	// compression trailer, so that both digests cover every byte.
	if _, err := io.Copy(io.Discard, uncompressed); err != nil {
		var over *overrunError
		if errors.As(err, &over) {
			if over.what == bounded.what {
				return nil, classify(ref, over)
			}
			return nil, c.overBudget(ref, b)
		}
		return nil, fmt.Errorf("%w: %v", errNetwork, err)
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		var over *overrunError
		if errors.As(err, &over) {
			return nil, classify(ref, over)
		}
		return nil, fmt.Errorf("%w: %v", errNetwork, err)
	}
	if got := "sha256:" + hex.EncodeToString(compressed.h.Sum(nil)); got != d || compressed.n != desc.Size {
		return nil, errdefs.Invalid("ImageUri", "image %s: layer %s arrived as %s (%d bytes, %d declared): corrupt download", ref, d, got, compressed.n, desc.Size)
	}
	if got := "sha256:" + hex.EncodeToString(uncompressed.h.Sum(nil)); got != diffID.String() {
		return nil, errdefs.Invalid("ImageUri", "image %s: layer %s uncompresses to %s, but the config says %s", ref, d, got, diffID)
	}
	if err := os.Rename(tmp, c.layerDir(d)); err != nil {
		if _, serr := os.Stat(c.layerDir(d)); serr == nil { // another process won
			os.RemoveAll(tmp)
		} else {
			return nil, fmt.Errorf("images: %w", err)
		}
	}
	add(0, true)
	return n, nil
}

// errOverBudget stops an extraction past the image's budget.
var errOverBudget = errors.New("image unpacks past its budget")

// overBudget is the reason an image failed for unpacking past b.
func (c *Cache) overBudget(ref name.Reference, b *budget) error {
	if b.files.Load() < 0 {
		return errdefs.New(errdefs.ErrResourceExhausted, "ImageSize",
			"image %s has more than %d files, the limit of this server (SCFD_IMAGE_MAX_FILES); unpacking stopped", ref, b.maxFiles)
	}
	return unpackedTooLarge(ref, b.maxBytes, 0)
}

// decompressor picks gzip, zstd or none by the stream's magic bytes.
func decompressor(br *bufio.Reader) (io.ReadCloser, error) {
	magic, err := br.Peek(4)
	if err != nil && err != io.EOF {
		return nil, err
	}
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		zr.Multistream(true)
		return zr, nil
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, err
		}
		return zr.IOReadCloser(), nil
	}
	return io.NopCloser(br), nil
}

// hashingReader hashes and counts what passes through it, and remembers
// the first read error.
type hashingReader struct {
	r     io.Reader
	h     hash.Hash
	n     int64
	err   error
	count func(int64)
}

func (r *hashingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.h.Write(p[:n])
		r.n += int64(n)
		if r.count != nil {
			r.count(int64(n))
		}
	}
	if err != nil && err != io.EOF && r.err == nil {
		r.err = err
	}
	return n, err
}
