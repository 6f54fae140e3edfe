package images

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/scfd/scfd/internal/testenv"
)

func TestConcurrentPullsOfOneImageShareTheWork(t *testing.T) {
	needRoot(t)
	r, c, ct := setup(t)
	img := testenv.Image(t, testenv.ImageOptions{}, testenv.Layer(t, baseFiles), testenv.Layer(t, appFiles))
	r.Push(t, "shared/app:v1", img)
	var wg sync.WaitGroup
	got := make([]*Image, 4)
	errs := make([]error, 4)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = c.Pull(context.Background(), r.Ref("shared/app:v1"), nil)
		}()
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil || got[i].Digest != digestOf(t, img) {
			t.Fatalf("pull %d: %v, %v", i, got[i], errs[i])
		}
	}
	m, _ := img.Manifest()
	for _, l := range m.Layers {
		if n := ct.count(l.Digest.String()); n != 1 {
			t.Errorf("layer %s fetched %d times by 4 concurrent pulls, want 1", l.Digest, n)
		}
	}
}

func TestGCRemovesUnreferencedImagesAndLayers(t *testing.T) {
	needRoot(t)
	r, c, _ := setup(t)
	base := testenv.Layer(t, baseFiles)
	a := testenv.Image(t, testenv.ImageOptions{}, base, testenv.Layer(t, appFiles))
	b := testenv.Image(t, testenv.ImageOptions{}, base, testenv.Layer(t, []testenv.File{{Name: "b", Body: "b"}}))
	r.Push(t, "gc/a:v1", a)
	r.Push(t, "gc/b:v1", b)
	ia, err := c.Pull(context.Background(), r.Ref("gc/a:v1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ib, err := c.Pull(context.Background(), r.Ref("gc/b:v1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ia.Layers[0] != ib.Layers[0] {
		t.Fatalf("shared base layer unpacked twice: %s, %s", ia.Layers[0], ib.Layers[0])
	}
	refs := map[string]bool{ia.Digest: true, ib.Digest: true}
	keep := func(context.Context) (map[string]bool, error) { return maps.Clone(refs), nil }
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }

	if n, err := c.GC(context.Background(), keep); err != nil || n != 0 {
		t.Fatalf("GC with both referenced = %d, %v", n, err)
	}
	delete(refs, ia.Digest)
	if n, err := c.GC(context.Background(), keep); err != nil || n != 1 {
		t.Fatalf("GC after dropping a = %d, %v; want 1", n, err)
	}
	if !exists(ia.Layers[0]) || exists(ia.Layers[1]) || !exists(ib.Layers[1]) {
		t.Errorf("after dropping a: base %v, a's layer %v, b's layer %v; want true false true",
			exists(ia.Layers[0]), exists(ia.Layers[1]), exists(ib.Layers[1]))
	}
	if _, err := c.Get(context.Background(), ia.Digest); err == nil {
		t.Error("a is still cached")
	}

	// An image pinned (in use by an instance) stays even when unreferenced.
	unpin := c.Pin(ib.Digest)
	delete(refs, ib.Digest)
	if n, err := c.GC(context.Background(), keep); err != nil || n != 0 {
		t.Fatalf("GC with b pinned = %d, %v", n, err)
	}
	unpin()
	unpin() // a second call does nothing
	if n, err := c.GC(context.Background(), keep); err != nil || n != 1 {
		t.Fatalf("GC with nothing referenced = %d, %v", n, err)
	}
	if es, _ := os.ReadDir(c.layersDir()); len(es) != 0 {
		t.Errorf("%d layers left after everything was collected", len(es))
	}
	if es, _ := os.ReadDir(c.imagesDir()); len(es) != 0 {
		t.Errorf("%d image records left", len(es))
	}
}

func TestGCWithBudgetEvictsLeastRecentlyUsedFirst(t *testing.T) {
	needRoot(t)
	r, c, _ := setup(t)
	var imgs []*Image
	for _, tag := range []string{"one", "two", "three"} {
		l, err := random.Layer(64<<10, types.DockerLayer)
		if err != nil {
			t.Fatal(err)
		}
		r.Push(t, "lru/app:"+tag, testenv.Image(t, testenv.ImageOptions{}, l))
		img, err := c.Pull(context.Background(), r.Ref("lru/app:"+tag), nil)
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, img)
	}
	// Use "one" again: "two" is now the least recently used.
	if _, err := c.Get(context.Background(), imgs[0].Digest); err != nil {
		t.Fatal(err)
	}
	per := c.Usage() / 3
	c.o.MaxCacheBytes = 2*per + per/2 // room for two of the three
	if n, err := c.GC(context.Background(), nil); err != nil || n != 1 {
		t.Fatalf("GC = %d, %v; want 1 eviction", n, err)
	}
	for i, want := range []bool{true, false, true} {
		_, err := c.Get(context.Background(), imgs[i].Digest)
		if (err == nil) != want {
			t.Errorf("image %d cached = %v, want %v", i, err == nil, want)
		}
	}
}

func TestInterruptedPullLeavesNothingUsed(t *testing.T) {
	needRoot(t)
	r, _, _ := setup(t)
	dir := filepath.Join(t.TempDir(), "cache")
	c, err := Open(context.Background(), Options{Dir: dir, Concurrency: 1, Policy: testRegistries})
	if err != nil {
		t.Fatal(err)
	}
	var layers []testenv.File
	for _, n := range []string{"f0", "f1", "f2"} {
		layers = append(layers, testenv.File{Name: n, Body: string(make([]byte, 1<<20))})
	}
	l1, _ := random.Layer(2<<20, types.DockerLayer)
	l2, _ := random.Layer(2<<20, types.DockerLayer)
	img := testenv.Image(t, testenv.ImageOptions{}, l1, l2, testenv.Layer(t, layers))
	r.Push(t, "cut/app:v1", img)

	// Cancel once some bytes arrived.
	ctx, cancel := context.WithCancel(context.Background())
	_, err = c.Pull(ctx, r.Ref("cut/app:v1"), func(p Progress) {
		if p.BytesDone > 256<<10 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Pull = %v, want context.Canceled", err)
	}
	if len(c.Images()) != 0 {
		t.Fatalf("a cancelled pull recorded an image")
	}
	// Simulate a crash mid-unpack: a half-written layer left in tmp, a
	// stray record and a half-renamed layer without its image record.
	os.MkdirAll(filepath.Join(dir, "tmp", "layer-123", "usr"), 0o755)
	os.WriteFile(filepath.Join(dir, "images", "bogus.json"), []byte("{"), 0o644)
	d := digestOf(t, img)
	missing := "sha256:" + strings.Repeat("0", 64)
	os.WriteFile(c.recordPath(d), []byte(`{"Digest":"`+d+`","LayerDigests":["`+missing+`"],"LayerBytes":[1]}`), 0o644)

	c2, err := Open(context.Background(), Options{Dir: dir, Policy: testRegistries})
	if err != nil {
		t.Fatal(err)
	}
	if es, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(es) != 0 {
		t.Errorf("tmp holds %d leftovers after Open", len(es))
	}
	if _, err := c2.Get(context.Background(), d); err == nil {
		t.Error("a record whose layers are missing was trusted")
	}
	if _, err := os.Stat(filepath.Join(dir, "images", "bogus.json")); err == nil {
		t.Error("stray record kept")
	}
	got, err := c2.Pull(context.Background(), r.Ref("cut/app:v1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(got.Layers[2], "f2")); err != nil || len(b) != 1<<20 {
		t.Errorf("f2 after re-pull: %d bytes, %v", len(b), err)
	}
}
