package deploy

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/scfd/scfd/internal/images"
	"github.com/scfd/scfd/internal/scf"
)

// accessRecorder is an image cache that records the Access each pull
// carries.
type accessRecorder struct {
	mu  sync.Mutex
	got map[string]images.Access // by ImageUri
}

func (r *accessRecorder) PullPinned(ctx context.Context, ref string, _ func(images.Progress)) (*images.Image, func(), error) {
	a, ok := images.AccessFrom(ctx)
	if !ok {
		a = images.Access{Namespaces: []string{"<none>"}}
	}
	r.mu.Lock()
	r.got[ref] = a
	r.mu.Unlock()
	return &images.Image{Digest: "sha256:" + strings.Repeat("a", 64), Size: 1}, func() {}, nil
}

func (r *accessRecorder) GC(context.Context, func(context.Context) (map[string]bool, error)) (int, error) {
	return 0, nil
}

// TestPullsCarryTheKeysRightsThenTheNamespaces: a deploy pulls with the
// rights of the key that asked for it; a pull resumed after a restart
// with those of the function's namespace only.
func TestPullsCarryTheKeysRightsThenTheNamespaces(t *testing.T) {
	st := newFakeStore()
	asked := function("asked", "registry/b/app:1", 128)
	asked.Namespace = "a"
	resumed := function("resumed", "registry/b/app:2", 128)
	resumed.Namespace = "a"
	st.put(asked)
	st.put(resumed)
	rec := &accessRecorder{got: map[string]images.Access{}}
	dep := New(st, rec, Options{})
	dep.Deploy("a", "asked", images.Access{Namespaces: []string{"a", "b"}})
	dep.Resume(context.Background(), []*scf.Function{resumed})
	dep.Close()
	want := map[string]images.Access{
		"registry/b/app:1": {Namespaces: []string{"a", "b"}},
		"registry/b/app:2": {Namespaces: []string{"a"}},
	}
	if diff := cmp.Diff(want, rec.got); diff != "" {
		t.Errorf("the pulls' access (-want +got):\n%s", diff)
	}
}
