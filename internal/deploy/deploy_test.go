package deploy

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/images"
	"github.com/scfd/scfd/internal/scf"
	"github.com/scfd/scfd/internal/testenv"
)

// fakeStore keeps $LATEST versions in memory.
type fakeStore struct {
	mu       sync.Mutex
	fns      map[string]*scf.Function
	updates  []scf.Function // every successful write, in order
	onUpdate func(f *scf.Function)
}

func newFakeStore() *fakeStore { return &fakeStore{fns: map[string]*scf.Function{}} }

func (s *fakeStore) put(f *scf.Function) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := *f
	s.fns[f.Namespace+"/"+f.Name] = &c
}

func (s *fakeStore) get(ns, name string) *scf.Function {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := *s.fns[ns+"/"+name]
	return &c
}

func (s *fakeStore) remove(ns, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.fns, ns+"/"+name)
}

func (s *fakeStore) GetFunction(_ context.Context, ns, name, version string) (*scf.Function, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.fns[ns+"/"+name]
	if !ok || version != scf.Latest {
		return nil, errdefs.NotFound("Function", "function %s not found", name)
	}
	c := *f
	return &c, nil
}

func (s *fakeStore) UpdateFunction(_ context.Context, ns, name, version string, update func(*scf.Function) error) (*scf.Function, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.fns[ns+"/"+name]
	if !ok {
		return nil, errdefs.NotFound("Function", "function %s not found", name)
	}
	if s.onUpdate != nil {
		s.onUpdate(f)
	}
	c := *f
	if err := update(&c); err != nil {
		return nil, err
	}
	s.fns[ns+"/"+name] = &c
	s.updates = append(s.updates, c)
	out := c
	return &out, nil
}

func (s *fakeStore) ImageDigests(context.Context) (map[string]bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]bool{}
	for _, f := range s.fns {
		if f.ImageDigest != "" {
			m[f.ImageDigest] = true
		}
	}
	return m, nil
}

type env struct {
	reg   *testenv.Registry
	cache *images.Cache
	store *fakeStore
	dir   string
}

func setup(t *testing.T) *env {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("unpacking image layers needs root")
	}
	r := testenv.StartRegistry(t)
	t.Setenv("DOCKER_CONFIG", r.DockerConfigDir)
	dir := filepath.Join(t.TempDir(), "cache")
	c, err := images.Open(context.Background(), images.Options{Dir: dir, Policy: images.RegistryPolicy{Allowed: []string{r.Addr}}})
	if err != nil {
		t.Fatal(err)
	}
	return &env{reg: r, cache: c, store: newFakeStore(), dir: dir}
}

func (e *env) push(t *testing.T, repoTag string) string {
	t.Helper()
	l, err := random.Layer(32<<10, types.DockerLayer)
	if err != nil {
		t.Fatal(err)
	}
	ref := e.reg.Push(t, repoTag, testenv.Image(t, testenv.ImageOptions{}, l))
	return ref[strings.Index(ref, "@")+1:]
}

func function(name, uri string, mem int64) *scf.Function {
	return &scf.Function{Namespace: "default", Name: name, Version: scf.Latest, MemorySize: mem,
		Image: scf.ImageConfig{ImageUri: uri}, Status: scf.StatusCreating, CodeRevision: 1}
}

func TestDeployPinsTheDigestAndActivates(t *testing.T) {
	e := setup(t)
	d1 := e.push(t, "app/hello:v1")
	e.store.put(function("small", e.reg.Ref("app/hello:v1"), 128))
	e.store.put(function("roomy", e.reg.Ref("app/hello:v1"), 256))
	var prepared []string
	var mu sync.Mutex
	dep := New(e.store, e.cache, Options{Prepare: func(_ context.Context, fn *scf.Function) error {
		mu.Lock()
		defer mu.Unlock()
		// Before the version is Active in the store, with its digest.
		if st := e.store.get(fn.Namespace, fn.Name); st.Status != scf.StatusCreating || fn.ImageDigest != d1 || fn.Status != scf.StatusActive {
			t.Errorf("Prepare of %s with %s %s while the store says %s", fn.Name, fn.Status, fn.ImageDigest, st.Status)
		}
		prepared = append(prepared, fn.Name)
		return errors.New("no runtime here") // logged; the version is Active all the same
	}})
	dep.Deploy("default", "small")
	dep.Deploy("default", "roomy")
	dep.Close()
	if len(prepared) != 2 {
		t.Errorf("prepared %q, want both functions", prepared)
	}

	small, roomy := e.store.get("default", "small"), e.store.get("default", "roomy")
	if small.Status != scf.StatusActive || small.ImageDigest != d1 {
		t.Fatalf("small: %s %q, want Active %s", small.Status, small.ImageDigest, d1)
	}
	if len(small.StatusReasons) != 1 || small.StatusReasons[0].ErrorCode != "Warning.MemorySize" || !strings.Contains(small.StatusReasons[0].ErrorMessage, "256 MB") {
		t.Errorf("small (128 MB) reasons = %+v, want a Warning.MemorySize advising 256 MB", small.StatusReasons)
	}
	if roomy.Status != scf.StatusActive || len(roomy.StatusReasons) != 0 {
		t.Errorf("roomy (256 MB): %s %+v, want Active without reasons", roomy.Status, roomy.StatusReasons)
	}

	// A new image under the same tag changes nothing until the code is updated.
	d2 := e.push(t, "app/hello:v1")
	if got := e.store.get("default", "small").ImageDigest; got != d1 {
		t.Fatalf("digest moved to %s without an update", got)
	}
	dep = New(e.store, e.cache, Options{})
	dep.Deploy("default", "small") // Active: nothing to do
	dep.Close()
	if got := e.store.get("default", "small").ImageDigest; got != d1 {
		t.Fatalf("Deploy of an Active function re-pulled: %s", got)
	}
	f := e.store.get("default", "small")
	f.Status, f.CodeRevision = scf.StatusUpdating, 2
	e.store.put(f)
	dep = New(e.store, e.cache, Options{})
	dep.Deploy("default", "small")
	dep.Close()
	if f := e.store.get("default", "small"); f.Status != scf.StatusActive || f.ImageDigest != d2 {
		t.Errorf("after update: %s %s, want Active %s", f.Status, f.ImageDigest, d2)
	}
}

func TestDeployFailuresNameTheCause(t *testing.T) {
	e := setup(t)
	e.push(t, "app/ok:v1")
	e.store.put(function("missing", e.reg.Ref("app/none:v1"), 256))
	upd := function("update", e.reg.Ref("app/none:v2"), 256)
	upd.Status, upd.ImageDigest = scf.StatusUpdating, "sha256:"+strings.Repeat("1", 64)
	e.store.put(upd)
	dep := New(e.store, e.cache, Options{})
	dep.Deploy("default", "missing")
	dep.Deploy("default", "update")
	dep.Close()
	for name, want := range map[string]scf.Status{"missing": scf.StatusCreateFailed, "update": scf.StatusUpdateFailed} {
		f := e.store.get("default", name)
		if f.Status != want || len(f.StatusReasons) != 1 {
			t.Fatalf("%s: %s %+v, want %s with one reason", name, f.Status, f.StatusReasons, want)
		}
		r := f.StatusReasons[0]
		if r.ErrorCode != "ResourceNotFound.Image" || !strings.Contains(r.ErrorMessage, "not found") {
			t.Errorf("%s reason = %+v, want ResourceNotFound.Image naming 'not found'", name, r)
		}
	}
}

func TestDeployDropsResultOfAStaleRevision(t *testing.T) {
	e := setup(t)
	e.push(t, "app/stale:v1")
	e.store.put(function("stale", e.reg.Ref("app/stale:v1"), 256))
	bumped := false
	e.store.onUpdate = func(f *scf.Function) { // the code is updated while the pull runs
		if !bumped {
			bumped = true
			f.CodeRevision = 2
		}
	}
	dep := New(e.store, e.cache, Options{})
	dep.Deploy("default", "stale")
	dep.Close()
	if f := e.store.get("default", "stale"); f.Status != scf.StatusCreating || f.ImageDigest != "" {
		t.Errorf("stale pull recorded: %s %q, want Creating without digest", f.Status, f.ImageDigest)
	}
}

func TestDeployThrottlesProgressWrites(t *testing.T) {
	e := setup(t)
	e.push(t, "app/progress:v1")
	e.store.put(function("p", e.reg.Ref("app/progress:v1"), 256))
	frozen := time.Unix(1e9, 0)
	dep := New(e.store, e.cache, Options{Now: func() time.Time { return frozen }})
	dep.Deploy("default", "p")
	dep.Close()
	var descs []string
	for _, u := range e.store.updates {
		descs = append(descs, u.StatusDesc)
	}
	// With a frozen clock: one progress write, then the result.
	if len(descs) != 2 || !strings.HasPrefix(descs[0], "pulling image: 0/1 layers") || descs[1] != "" {
		t.Errorf("writes = %q, want one progress write then the result", descs)
	}
}

func TestTwoFunctionsShareAnImageUntilBothAreDeleted(t *testing.T) {
	e := setup(t)
	e.push(t, "app/shared:v1")
	e.store.put(function("a", e.reg.Ref("app/shared:v1"), 256))
	e.store.put(function("b", e.reg.Ref("app/shared:v1"), 256))
	dep := New(e.store, e.cache, Options{})
	dep.Resume(context.Background(), []*scf.Function{e.store.get("default", "a"), e.store.get("default", "b")})
	dep.Close()
	a, b := e.store.get("default", "a"), e.store.get("default", "b")
	if a.Status != scf.StatusActive || a.ImageDigest == "" || a.ImageDigest != b.ImageDigest {
		t.Fatalf("a %s %s, b %s %s", a.Status, a.ImageDigest, b.Status, b.ImageDigest)
	}
	layers := func() int {
		es, _ := os.ReadDir(filepath.Join(e.dir, "layers"))
		return len(es)
	}
	if n := layers(); n != 1 {
		t.Fatalf("%d layers cached, want 1", n)
	}

	dep = New(e.store, e.cache, Options{})
	e.store.remove("default", "a")
	dep.Forget("default", "a")
	dep.Close()
	if n := layers(); n != 1 {
		t.Fatalf("after deleting a: %d layers, want 1 (b still uses it)", n)
	}
	dep = New(e.store, e.cache, Options{})
	e.store.remove("default", "b")
	dep.Forget("default", "b")
	dep.Close()
	if n := layers(); n != 0 {
		t.Errorf("after deleting both: %d layers, want 0", n)
	}
}

// blockingTransport holds blob downloads until released.
type blockingTransport struct {
	started chan struct{} // receives one value per held request
	release chan struct{}
}

func (b *blockingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/") {
		b.started <- struct{}{}
		<-b.release
	}
	return http.DefaultTransport.RoundTrip(req)
}

// A function that becomes Active while an image collection waits behind a
// long pull keeps its image: the collection decides on what the store and
// the pins say once it may decide, not on what they said when it began.
func TestFunctionActivatedWhileGCWaitsKeepsItsImage(t *testing.T) {
	e := setup(t)
	e.push(t, "app/cached:v1")
	if _, err := e.cache.Pull(context.Background(), e.reg.Ref("app/cached:v1"), nil); err != nil {
		t.Fatal(err)
	}
	e.push(t, "app/slow:v1")

	// A second cache on the same directory whose blob downloads wait: the
	// slow pull holds off collections while it runs.
	bt := &blockingTransport{started: make(chan struct{}, 16), release: make(chan struct{})}
	cache, err := images.Open(context.Background(), images.Options{Dir: e.dir, Transport: bt})
	if err != nil {
		t.Fatal(err)
	}
	e.store.put(function("slow", e.reg.Ref("app/slow:v1"), 256))
	dep := New(e.store, cache, Options{})
	dep.Deploy("default", "slow")
	<-bt.started // the slow pull is downloading

	dep.Forget("default", "gone")      // a collection begins and waits behind the pull
	time.Sleep(200 * time.Millisecond) // (long enough for it to have read the store, were it reading early)

	e.store.put(function("quick", e.reg.Ref("app/cached:v1"), 256))
	dep.Deploy("default", "quick") // a cache hit: Active at once
	deadline := time.Now().Add(10 * time.Second)
	for e.store.get("default", "quick").Status != scf.StatusActive {
		if time.Now().After(deadline) {
			t.Fatalf("quick: %+v", e.store.get("default", "quick"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(bt.release)
	dep.Close()

	for _, name := range []string{"quick", "slow"} {
		f := e.store.get("default", name)
		if f.Status != scf.StatusActive {
			t.Fatalf("%s: %s %+v", name, f.Status, f.StatusReasons)
		}
		if _, err := cache.Get(context.Background(), f.ImageDigest); err != nil {
			t.Errorf("%s is Active but its image was collected: %v", name, err)
		}
	}
}

func TestDeployPublishesWhenTheUpdateAskedForIt(t *testing.T) {
	e := setup(t)
	e.push(t, "app/pub:v1")
	for _, f := range []*scf.Function{
		function("asked", e.reg.Ref("app/pub:v1"), 256),
		function("not-asked", e.reg.Ref("app/pub:v1"), 256),
		function("failed", e.reg.Ref("app/none:v1"), 256),
	} {
		f.PublishOnActive = f.Name != "not-asked"
		e.store.put(f)
	}
	var mu sync.Mutex
	var published []string
	dep := New(e.store, e.cache, Options{Publish: func(_ context.Context, ns, name string) error {
		mu.Lock()
		defer mu.Unlock()
		// After the function is Active, with the request cleared.
		if f := e.store.get(ns, name); f.Status != scf.StatusActive || f.PublishOnActive {
			t.Errorf("Publish of %s while it is %s, PublishOnActive %v", name, f.Status, f.PublishOnActive)
		}
		published = append(published, name)
		return nil
	}})
	for _, name := range []string{"asked", "not-asked", "failed"} {
		dep.Deploy("default", name)
	}
	dep.Close()
	if diff := cmp.Diff([]string{"asked"}, published); diff != "" {
		t.Errorf("published (-want +got):\n%s", diff)
	}
	if f := e.store.get("default", "failed"); f.Status != scf.StatusCreateFailed || f.PublishOnActive {
		t.Errorf("failed: %s, PublishOnActive %v; want CreateFailed with the request dropped", f.Status, f.PublishOnActive)
	}
}
