package images

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sys/unix"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/testenv"
)

// countingTransport counts blob downloads per digest.
type countingTransport struct {
	mu    sync.Mutex
	blobs map[string]int
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/") {
		c.mu.Lock()
		c.blobs[filepath.Base(req.URL.Path)]++
		c.mu.Unlock()
	}
	return remote.DefaultTransport.RoundTrip(req)
}

func (c *countingTransport) count(digest string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.blobs[digest]
}

// testRegistries allows the tests' registries, all on loopback, as an
// administrator would with SCFD_ALLOWED_REGISTRIES.
var testRegistries = RegistryPolicy{Allowed: []string{"127.0.0.1"}}

// setup starts a registry, points DOCKER_CONFIG at its credentials and
// opens a cache in a temporary directory.
func setup(t *testing.T) (*testenv.Registry, *Cache, *countingTransport) {
	t.Helper()
	r := testenv.StartRegistry(t)
	t.Setenv("DOCKER_CONFIG", r.DockerConfigDir)
	ct := &countingTransport{blobs: map[string]int{}}
	c, err := Open(context.Background(), Options{Dir: filepath.Join(t.TempDir(), "cache"), Transport: ct})
	if err != nil {
		t.Fatal(err)
	}
	return r, c, ct
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("unpacking layers with owners and whiteouts needs root")
	}
}

func digestOf(t *testing.T, img v1.Image) string {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var (
	baseFiles = []testenv.File{
		{Name: "etc/", Type: tar.TypeDir},
		{Name: "etc/os-release", Body: "ID=scfd-test\n"},
		{Name: "bin/", Type: tar.TypeDir},
		{Name: "bin/tool", Body: "#!/bin/sh\n", Mode: 0o4755, Uid: 1234, Gid: 99, Xattrs: map[string]string{"user.scfd": "kept"}},
	}
	appFiles = []testenv.File{
		{Name: "app/", Type: tar.TypeDir},
		{Name: "app/server", Body: "server", Mode: 0o755},
		{Name: "app/link", Type: tar.TypeSymlink, Linkname: "server"},
	}
)

func TestPullDockerAndOCIImages(t *testing.T) {
	needRoot(t)
	r, c, ct := setup(t)
	cfg := v1.Config{Entrypoint: []string{"/app/server"}, Cmd: []string{"-v"}, Env: []string{"A=1"}, WorkingDir: "/app", User: "1000", ExposedPorts: map[string]struct{}{"9000/tcp": {}}}
	for _, tc := range []struct {
		name string
		img  v1.Image
	}{
		{"docker", testenv.Image(t, testenv.ImageOptions{Config: cfg}, testenv.Layer(t, baseFiles), testenv.Layer(t, appFiles))},
		{"oci", testenv.Image(t, testenv.ImageOptions{OCI: true, Config: cfg}, testenv.OCILayer(t, baseFiles), testenv.OCILayer(t, appFiles))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			digestRef := r.Push(t, tc.name+"/app:v1", tc.img)
			var last Progress
			img, err := c.Pull(context.Background(), r.Ref(tc.name+"/app:v1"), func(p Progress) { last = p })
			if err != nil {
				t.Fatal(err)
			}
			if img.Digest != digestOf(t, tc.img) || img.Ref != digestRef {
				t.Errorf("Digest, Ref = %s, %s; want %s, %s", img.Digest, img.Ref, digestOf(t, tc.img), digestRef)
			}
			want := ImageConfig{Entrypoint: cfg.Entrypoint, Cmd: cfg.Cmd, Env: cfg.Env, WorkingDir: "/app", User: "1000", ExposedPorts: []string{"9000/tcp"}}
			if diff := cmp.Diff(want, img.Config); diff != "" {
				t.Errorf("Config (-want +got):\n%s", diff)
			}
			m, _ := tc.img.Manifest()
			size := m.Config.Size + m.Layers[0].Size + m.Layers[1].Size
			if img.Size != size {
				t.Errorf("Size = %d, want %d", img.Size, size)
			}
			if last.LayersDone != 2 || last.Layers != 2 || last.BytesDone != last.Bytes || last.Bytes != m.Layers[0].Size+m.Layers[1].Size {
				t.Errorf("last progress = %+v, want 2/2 layers and all bytes", last)
			}
			if len(img.Layers) != 2 {
				t.Fatalf("Layers = %v", img.Layers)
			}
			if got := readFile(t, filepath.Join(img.Layers[0], "etc/os-release")); got != "ID=scfd-test\n" {
				t.Errorf("os-release = %q", got)
			}
			var st unix.Stat_t
			if err := unix.Lstat(filepath.Join(img.Layers[0], "bin/tool"), &st); err != nil {
				t.Fatal(err)
			}
			if st.Mode&0o7777 != 0o4755 || st.Uid != 1234 || st.Gid != 99 {
				t.Errorf("bin/tool mode %o uid %d gid %d, want 4755 1234 99", st.Mode&0o7777, st.Uid, st.Gid)
			}
			buf := make([]byte, 16)
			if n, err := unix.Lgetxattr(filepath.Join(img.Layers[0], "bin/tool"), "user.scfd", buf); err != nil || string(buf[:n]) != "kept" {
				t.Errorf("xattr user.scfd = %q, %v; want kept", buf[:n], err)
			}
			if l, err := os.Readlink(filepath.Join(img.Layers[1], "app/link")); err != nil || l != "server" {
				t.Errorf("app/link -> %q, %v", l, err)
			}

			// Cached now: by digest without any network, by Get, and the
			// blobs were fetched once.
			got, err := c.Pull(context.Background(), digestRef, nil)
			if err != nil || got.Digest != img.Digest {
				t.Fatalf("second Pull = %v, %v", got, err)
			}
			tagAndDigest := r.Ref(tc.name+"/app:v1") + "@" + img.Digest
			if got, err := c.Pull(context.Background(), tagAndDigest, nil); err != nil || got.Digest != img.Digest {
				t.Fatalf("Pull(%s) = %v, %v", tagAndDigest, got, err)
			}
			if got, err := c.Get(context.Background(), img.Digest); err != nil || !cmp.Equal(got, img) {
				t.Errorf("Get = %+v, %v; want %+v", got, err, img)
			}
			for _, l := range m.Layers {
				if n := ct.count(l.Digest.String()); n != 1 {
					t.Errorf("layer %s fetched %d times, want 1", l.Digest, n)
				}
			}
		})
	}
	if _, err := c.Get(context.Background(), "sha256:"+strings.Repeat("0", 64)); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Get of unknown digest: %v, want ErrNotFound", err)
	}
}

func TestPullIndexResolvesAmd64(t *testing.T) {
	needRoot(t)
	r, c, _ := setup(t)
	arm := testenv.Image(t, testenv.ImageOptions{OCI: true, Architecture: "arm64"}, testenv.OCILayer(t, []testenv.File{{Name: "arch", Body: "arm64"}}))
	amd := testenv.Image(t, testenv.ImageOptions{OCI: true}, testenv.OCILayer(t, []testenv.File{{Name: "arch", Body: "amd64"}}))
	r.PushIndex(t, "multi/app:v1", testenv.Index(t, arm, amd))
	img, err := c.Pull(context.Background(), r.Ref("multi/app:v1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if img.Digest != digestOf(t, amd) {
		t.Errorf("Digest = %s, want the amd64 image %s", img.Digest, digestOf(t, amd))
	}
	if got := readFile(t, filepath.Join(img.Layers[0], "arch")); got != "amd64" {
		t.Errorf("unpacked the %s image", got)
	}
}

func TestPullRefusals(t *testing.T) {
	r, c, ct := setup(t)
	armLayer := testenv.Layer(t, []testenv.File{{Name: "x", Body: "arm"}})
	arm := testenv.Image(t, testenv.ImageOptions{Architecture: "arm64"}, armLayer)
	r.PushIndex(t, "armonly/app:v1", testenv.Index(t, arm))
	r.Push(t, "armimage/app:v1", arm)
	r.Push(t, "private/app:v1", testenv.Image(t, testenv.ImageOptions{}, testenv.Layer(t, appFiles)))

	for _, tc := range []struct {
		name   string
		ref    string
		config string // DOCKER_CONFIG override
		class  error
		words  []string
	}{
		{"arm64-only index", r.Ref("armonly/app:v1"), "", errdefs.ErrUnsupported, []string{"linux/arm64", "only x86-64 (amd64)"}},
		{"arm64 config", r.Ref("armimage/app:v1"), "", errdefs.ErrUnsupported, []string{"linux/arm64", "only x86-64 (amd64)"}},
		{"missing tag", r.Ref("private/app:nope"), "", errdefs.ErrNotFound, []string{"not found", "private/app:nope"}},
		{"missing repo", r.Ref("nothing/here:v1"), "", errdefs.ErrNotFound, []string{"not found"}},
		{"wrong credentials", r.Ref("private/app:v1"), r.DockerConfig(t, r.User, "wrong"), errdefs.ErrUnauthorized, []string{"refused access", r.Addr}},
		{"no credentials", r.Ref("private/app:v1"), t.TempDir(), errdefs.ErrUnauthorized, []string{"refused access"}},
		{"bad reference", "Not A Reference!", "", errdefs.ErrInvalidArgument, []string{"ImageUri"}},
		{"unreachable", "127.0.0.1:1/app:v1", "", errdefs.ErrUnavailable, []string{"127.0.0.1:1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.config != "" {
				t.Setenv("DOCKER_CONFIG", tc.config)
			}
			_, err := c.Pull(context.Background(), tc.ref, nil)
			if !errors.Is(err, tc.class) {
				t.Fatalf("Pull(%s) = %v, want class %v", tc.ref, err, tc.class)
			}
			msg := errdefs.Message(err, "")
			for _, w := range tc.words {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not name %q", msg, w)
				}
			}
		})
	}
	d, _ := armLayer.Digest()
	if n := ct.count(d.String()); n != 0 {
		t.Errorf("the refused arm64 layer was downloaded %d times", n)
	}
	if len(c.Images()) != 0 {
		t.Errorf("cache holds %v after refusals", c.Images())
	}
}

// TestPullRefusesImageOver1GiB pushes a manifest whose layer descriptors
// declare more than 1 GiB to go-containerregistry's in-process registry
// (docker-registry would insist on the blobs existing) and checks the
// refusal comes before any blob is fetched.
func TestPullRefusesImageOver1GiB(t *testing.T) {
	var blobGets atomic.Int32
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/") {
			blobGets.Add(1)
		}
		reg.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)

	small := testenv.Image(t, testenv.ImageOptions{}, testenv.Layer(t, appFiles))
	m, err := small.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	m = m.DeepCopy()
	layer := m.Layers[0]
	m.Layers = nil
	for i := 0; i < 3; i++ { // 3 × 400 MiB declared
		l := layer
		l.Size = 400 << 20
		l.Digest = v1.Hash{Algorithm: "sha256", Hex: strings.Repeat(string(rune('a'+i)), 64)}
		m.Layers = append(m.Layers, l)
	}
	raw, _ := json.Marshal(m)
	ref, err := name.ParseReference(u.Host + "/big/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Put(ref, rawManifest{raw, types.DockerManifestSchema2}); err != nil {
		t.Fatal(err)
	}

	c, err := Open(context.Background(), Options{Dir: t.TempDir(), Keychain: anonymous{}, Policy: testRegistries})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Pull(context.Background(), ref.String(), nil)
	if !errors.Is(err, errdefs.ErrResourceExhausted) {
		t.Fatalf("Pull = %v, want ErrResourceExhausted", err)
	}
	msg := errdefs.Message(err, "")
	declared := m.Config.Size + 3*(400<<20)
	for _, w := range []string{"1073741824", strings.TrimSpace(jsonNumber(declared))} {
		if !strings.Contains(msg, w) {
			t.Errorf("message %q does not name %s", msg, w)
		}
	}
	if n := blobGets.Load(); n != 0 {
		t.Errorf("%d blobs fetched before the refusal, want 0", n)
	}
}

type rawManifest struct {
	raw []byte
	mt  types.MediaType
}

func (r rawManifest) RawManifest() ([]byte, error)        { return r.raw, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return r.mt, nil }

func jsonNumber(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestPullZstdLayer(t *testing.T) {
	needRoot(t)
	r, c, _ := setup(t)
	img := testenv.Image(t, testenv.ImageOptions{OCI: true}, testenv.ZstdLayer(t, appFiles), testenv.Layer(t, baseFiles))
	r.Push(t, "zstd/app:v1", img)
	got, err := c.Pull(context.Background(), r.Ref("zstd/app:v1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := readFile(t, filepath.Join(got.Layers[0], "app/server")); s != "server" {
		t.Errorf("app/server = %q", s)
	}
}

func TestPullConvertsWhiteoutsForOverlay(t *testing.T) {
	needRoot(t)
	r, c, _ := setup(t)
	lower := testenv.Layer(t, []testenv.File{
		{Name: "dir/", Type: tar.TypeDir}, {Name: "dir/gone", Body: "x"}, {Name: "dir/stays", Body: "y"},
		{Name: "opq/", Type: tar.TypeDir}, {Name: "opq/old", Body: "old"},
	})
	upper := testenv.Layer(t, []testenv.File{
		{Name: "dir/", Type: tar.TypeDir}, {Name: "dir/.wh.gone"},
		{Name: "opq/", Type: tar.TypeDir}, {Name: "opq/.wh..wh..opq"}, {Name: "opq/new", Body: "new"},
	})
	r.Push(t, "wh/app:v1", testenv.Image(t, testenv.ImageOptions{}, lower, upper))
	img, err := c.Pull(context.Background(), r.Ref("wh/app:v1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	up := img.Layers[1]
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(up, "dir/gone"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("dir/gone is mode %o rdev %d, want a 0/0 character device", st.Mode, st.Rdev)
	}
	buf := make([]byte, 4)
	if n, err := unix.Lgetxattr(filepath.Join(up, "opq"), "trusted.overlay.opaque", buf); err != nil || string(buf[:n]) != "y" {
		t.Errorf("opq trusted.overlay.opaque = %q, %v; want y", buf[:n], err)
	}
	for _, p := range []string{"dir/.wh.gone", "opq/.wh..wh..opq"} {
		if _, err := os.Lstat(filepath.Join(up, p)); !os.IsNotExist(err) {
			t.Errorf("%s exists in the unpacked layer", p)
		}
	}

	// The layers work as overlay lowerdirs: the merged view hides what
	// the upper layer deleted.
	merged := t.TempDir()
	if err := unix.Mount("overlay", merged, "overlay", unix.MS_RDONLY, "lowerdir="+img.Layers[1]+":"+img.Layers[0]); err != nil {
		t.Skipf("overlay mount unavailable: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(merged, unix.MNT_DETACH) })
	var names []string
	for _, d := range []string{"dir", "opq"} {
		es, err := os.ReadDir(filepath.Join(merged, d))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			names = append(names, d+"/"+e.Name())
		}
	}
	if diff := cmp.Diff([]string{"dir/stays", "opq/new"}, names); diff != "" {
		t.Errorf("merged view (-want +got):\n%s", diff)
	}
}

func TestPullCannotEscapeLayerDir(t *testing.T) {
	needRoot(t)
	r, _, _ := setup(t)
	top := t.TempDir()
	c, err := Open(context.Background(), Options{Dir: filepath.Join(top, "a", "b", "cache"), Policy: testRegistries})
	if err != nil {
		t.Fatal(err)
	}
	escapes := []testenv.File{
		{Name: "../../../../escape-dotdot", Body: "x"},
		{Name: "/escape-abs", Body: "x"},
		{Name: "abslink", Type: tar.TypeSymlink, Linkname: "/"},
		{Name: "abslink/escape-abslink", Body: "x"},
		{Name: "uplink", Type: tar.TypeSymlink, Linkname: "../../../../../../.."},
		{Name: "uplink/escape-uplink", Body: "x"},
		{Name: "dev-sda", Type: tar.TypeBlock, Major: 8, Minor: 0, Mode: 0o666},
		{Name: "dev-null", Type: tar.TypeChar, Major: 1, Minor: 3, Mode: 0o666},
	}
	hardlink := []testenv.File{{Name: "hard", Type: tar.TypeLink, Linkname: "../../../../../../../etc/hostname"}}
	r.Push(t, "evil/app:paths", testenv.Image(t, testenv.ImageOptions{}, testenv.Layer(t, escapes)))
	r.Push(t, "evil/app:hardlink", testenv.Image(t, testenv.ImageOptions{}, testenv.Layer(t, hardlink)))

	img, err := c.Pull(context.Background(), r.Ref("evil/app:paths"), nil)
	if err != nil {
		t.Fatalf("pull of escaping paths: %v", err)
	}
	// The escaping names land inside the layer, resolved against its root.
	for _, p := range []string{"escape-dotdot", "escape-abs", "escape-abslink", "escape-uplink"} {
		if _, err := os.Lstat(filepath.Join(img.Layers[0], p)); err != nil {
			t.Errorf("%s is not inside the layer: %v", p, err)
		}
	}
	for _, p := range []string{"dev-sda", "dev-null"} {
		if _, err := os.Lstat(filepath.Join(img.Layers[0], p)); err == nil {
			t.Errorf("device node %s was created", p)
		}
	}
	_, err = c.Pull(context.Background(), r.Ref("evil/app:hardlink"), nil)
	if err == nil {
		t.Error("a hard link to a file outside the layer was accepted")
	}
	t.Logf("pull of the escaping hard link: %v", err)

	// Nothing landed outside the layer directory, nor on the host.
	filepath.Walk(top, func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasPrefix(fi.Name(), "escape-") && !strings.HasPrefix(p, img.Layers[0]+"/") {
			t.Errorf("%s written outside the layer", p)
		}
		return nil
	})
	for _, p := range []string{"/escape-dotdot", "/escape-abs", "/escape-abslink", "/escape-uplink"} {
		if _, err := os.Lstat(p); err == nil {
			os.Remove(p)
			t.Errorf("%s written on the host", p)
		}
	}
	if es, _ := os.ReadDir(filepath.Join(c.o.Dir, "tmp")); len(es) != 0 {
		t.Errorf("failed unpack left %d entries in tmp", len(es))
	}
}
