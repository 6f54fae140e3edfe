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

// TestPullsCarryTheRightsRecordedWithTheFunction: a deploy pulls with the
// rights of the key that set the code, recorded with the function, and so
// does a pull resumed after a restart; a function recorded without them
// pulls with its namespace's rights only.
func TestPullsCarryTheRightsRecordedWithTheFunction(t *testing.T) {
	st := newFakeStore()
	asked := function("asked", "registry/b/app:1", 128)
	asked.Namespace = "a"
	asked.PullAccess = images.Access{Namespaces: []string{"a", "b"}}
	resumed := function("resumed", "registry/b/app:2", 128)
	resumed.Namespace = "a"
	resumed.PullAccess = images.Access{All: true}
	legacy := function("legacy", "registry/b/app:3", 128)
	legacy.Namespace = "a"
	for _, f := range []*scf.Function{asked, resumed, legacy} {
		st.put(f)
	}
	rec := &accessRecorder{got: map[string]images.Access{}}
	dep := New(st, rec, Options{})
	dep.Deploy("a", "asked")
	dep.Resume(context.Background(), []*scf.Function{resumed, legacy})
	dep.Close()
	want := map[string]images.Access{
		"registry/b/app:1": {Namespaces: []string{"a", "b"}},
		"registry/b/app:2": {All: true},
		"registry/b/app:3": {Namespaces: []string{"a"}},
	}
	if diff := cmp.Diff(want, rec.got); diff != "" {
		t.Errorf("the pulls' access (-want +got):\n%s", diff)
	}
}
