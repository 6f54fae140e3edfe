package images

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// Pin keeps the image with this manifest digest from collection until
// unpin is called (once; later calls do nothing). The owners of an image's
// use take pins: the deployer from the end of its pull until the function
// store names the digest, the pool while an instance runs the image. A
// digest may be pinned before it is cached, and a pin taken while a GC
// runs counts until that GC has decided.
func (c *Cache) Pin(digest string) (unpin func()) {
	c.mu.Lock()
	c.pinLocked(digest)
	c.mu.Unlock()
	return c.unpinner(digest)
}

func (c *Cache) pinLocked(digest string) {
	c.pins[digest]++
	if c.pinnedInGC != nil {
		c.pinnedInGC[digest] = true
	}
}

func (c *Cache) unpinLocked(digest string) {
	if c.pins[digest]--; c.pins[digest] <= 0 {
		delete(c.pins, digest)
	}
}

// unpinner releases one pin of digest, once.
func (c *Cache) unpinner(digest string) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			c.unpinLocked(digest)
			c.mu.Unlock()
		})
	}
}

// GC removes cached images that roots does not name and nobody pins,
// then every layer no remaining image needs. Without a budget
// (Options.MaxCacheBytes zero) every such image goes; with one, they are
// evicted least recently used first only while the unpacked layers exceed
// the budget. GC waits for pulls in progress and keeps pulls out while it
// runs. roots (nil means none) is called once, after that wait, so that it
// sees what became in use meanwhile; an image pinned at any moment from
// then until GC decides is kept too. It returns how many images it
// removed.
func (c *Cache) GC(ctx context.Context, roots func(context.Context) (map[string]bool, error)) (removed int, err error) {
	c.gcMu.Lock()
	defer c.gcMu.Unlock()

	c.mu.Lock()
	c.pinnedInGC = map[string]bool{}
	c.mu.Unlock()
	keep := map[string]bool{}
	if roots != nil {
		if keep, err = roots(ctx); err != nil {
			c.mu.Lock()
			c.pinnedInGC = nil
			c.mu.Unlock()
			return 0, fmt.Errorf("images: GC roots: %w", err)
		}
	}

	c.mu.Lock()
	var candidates []*record
	for d, r := range c.images {
		if keep[d] || c.pins[d] > 0 || c.pinnedInGC[d] {
			continue
		}
		candidates = append(candidates, r)
	}
	c.pinnedInGC = nil
	slices.SortFunc(candidates, func(a, b *record) int { return a.lastUsed.Compare(b.lastUsed) })
	var victims []*record
	if c.o.MaxCacheBytes <= 0 {
		victims = candidates
	} else {
		for _, r := range candidates {
			if c.usageLocked() <= c.o.MaxCacheBytes {
				break
			}
			victims = append(victims, r)
			delete(c.images, r.Digest)
		}
		for _, r := range victims { // put back; removed below, record first
			c.images[r.Digest] = r
		}
	}
	for _, r := range victims {
		// The record goes first: a crash after this leaves only
		// unreferenced layers, which the next GC removes.
		if err := os.Remove(c.recordPath(r.Digest)); err != nil && !os.IsNotExist(err) {
			c.mu.Unlock()
			return removed, fmt.Errorf("images: remove %s: %w", r.Digest, err)
		}
		delete(c.images, r.Digest)
		removed++
	}
	needed := map[string]bool{}
	for _, r := range c.images {
		for _, l := range r.LayerDigests {
			needed[strings.TrimPrefix(l, "sha256:")] = true
		}
	}
	if c.o.MaxCacheBytes > 0 && c.usageLocked() > c.o.MaxCacheBytes {
		c.log.WarnContext(ctx, "image cache is above its budget with only images in use", "bytes", c.usageLocked(), "budget", c.o.MaxCacheBytes)
	}
	c.mu.Unlock()

	entries, err := os.ReadDir(c.layersDir())
	if err != nil {
		return removed, fmt.Errorf("images: %w", err)
	}
	for _, e := range entries {
		if needed[e.Name()] {
			continue
		}
		if err := c.removeDir(filepath.Join(c.layersDir(), e.Name())); err != nil {
			return removed, err
		}
	}
	for _, r := range victims {
		c.log.InfoContext(ctx, "removed image from cache", "digest", r.Digest, "ref", r.Ref)
	}
	return removed, nil
}

// removeDir moves dir into the temporary area, so that it disappears from
// the cache at once, then deletes it.
func (c *Cache) removeDir(dir string) error {
	tmp, err := os.MkdirTemp(c.tmpDir(), "rm-")
	if err != nil {
		return fmt.Errorf("images: %w", err)
	}
	dst := filepath.Join(tmp, "d")
	if err := os.Rename(dir, dst); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("images: %w", err)
	}
	return os.RemoveAll(tmp)
}

// Usage returns the bytes of file content of the unpacked layers of every
// cached image, each layer counted once.
func (c *Cache) Usage() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.usageLocked()
}

func (c *Cache) usageLocked() int64 {
	size := map[string]int64{}
	for _, r := range c.images {
		for i, l := range r.LayerDigests {
			size[l] = max(size[l], r.LayerBytes[i])
		}
	}
	var n int64
	for _, b := range size {
		n += b
	}
	return n
}
