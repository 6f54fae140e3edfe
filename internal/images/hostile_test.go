package images

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"math"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/testenv"
)

// hostileRegistry is go-containerregistry's registry behind a handler
// that lets a test answer some requests itself (hook returns true).
func hostileRegistry(t *testing.T, hook func(w http.ResponseWriter, req *http.Request) bool) string {
	t.Helper()
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if hook != nil && hook(w, req) {
			return
		}
		reg.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return u.Host
}

func push(t *testing.T, ref string, img v1.Image) {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
}

func openHostile(t *testing.T, o Options) *Cache {
	t.Helper()
	o.Dir = t.TempDir()
	o.Keychain = anonymous{}
	if o.Policy.Allowed == nil && o.Policy.Denied == nil {
		o.Policy = testRegistries
	}
	c, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func isBlobGet(req *http.Request) bool {
	return req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/")
}

// The sizes a manifest declares are untrusted: 2^63−1 twice must not wrap
// around below 1 GiB.
func TestPullRefusesOverflowingLayerSizes(t *testing.T) {
	var blobGets atomic.Int32
	host := hostileRegistry(t, func(w http.ResponseWriter, req *http.Request) bool {
		if isBlobGet(req) {
			blobGets.Add(1)
		}
		return false
	})
	m, err := testenv.Image(t, testenv.ImageOptions{}, testenv.Layer(t, appFiles)).Manifest()
	if err != nil {
		t.Fatal(err)
	}
	m = m.DeepCopy()
	l := m.Layers[0]
	m.Layers = nil
	for i := range 3 {
		l.Size = math.MaxInt64
		l.Digest = v1.Hash{Algorithm: "sha256", Hex: strings.Repeat(string(rune('a'+i)), 64)}
		m.Layers = append(m.Layers, l)
	}
	raw, _ := json.Marshal(m)
	ref, _ := name.ParseReference(host + "/overflow/app:v1")
	if err := remote.Put(ref, rawManifest{raw, types.DockerManifestSchema2}); err != nil {
		t.Fatal(err)
	}
	_, err = openHostile(t, Options{}).Pull(context.Background(), ref.String(), nil)
	if !errors.Is(err, errdefs.ErrResourceExhausted) {
		t.Fatalf("Pull = %v, want ErrResourceExhausted", err)
	}
	declared := new(big.Int).Mul(big.NewInt(math.MaxInt64), big.NewInt(3))
	declared.Add(declared, big.NewInt(m.Config.Size))
	if msg := errdefs.Message(err, ""); !strings.Contains(msg, "is "+declared.String()+" bytes as its manifest declares") {
		t.Errorf("message %q does not name the declared size %s", msg, declared)
	}
	if n := blobGets.Load(); n != 0 {
		t.Errorf("%d blobs fetched before the refusal, want 0", n)
	}
}

// A registry that sends more than a blob's declared size is cut off there,
// however much it would send.
func TestPullStopsDownloadPastDeclaredSize(t *testing.T) {
	img := testenv.Image(t, testenv.ImageOptions{}, testenv.Layer(t, appFiles))
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	var served atomic.Int64
	host := hostileRegistry(t, func(w http.ResponseWriter, req *http.Request) bool {
		if !isBlobGet(req) || !strings.HasSuffix(req.URL.Path, ld.String()) {
			return false
		}
		// An endless body: no digest can ever match, so only the
		// declared size can stop it.
		buf := make([]byte, 64<<10)
		for {
			n, err := w.Write(buf)
			served.Add(int64(n))
			if err != nil || served.Load() > 1<<30 {
				return true
			}
		}
	})
	push(t, host+"/endless/app:v1", img)
	c := openHostile(t, Options{})
	_, err := c.Pull(context.Background(), host+"/endless/app:v1", nil)
	if !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("Pull = %v, want ErrInvalidArgument", err)
	}
	if msg := errdefs.Message(err, ""); !strings.Contains(msg, "more than its declared") {
		t.Errorf("message %q does not say the layer passed its declared size", msg)
	}
	if n := served.Load(); n > 64<<20 {
		t.Errorf("the registry sent %d bytes before the pull stopped; want it cut near the declared size", n)
	}
	if es, _ := os.ReadDir(c.tmpDir()); len(es) != 0 {
		t.Errorf("%d leftovers in tmp", len(es))
	}
}

// A small image that unpacks to far more than the limit fails with a
// reason naming the limit, and unpacking stops there.
func TestPullStopsDecompressionBombs(t *testing.T) {
	host := hostileRegistry(t, nil)
	zeros := string(make([]byte, 64<<20))
	bomb := testenv.Image(t, testenv.ImageOptions{}, testenv.Layer(t, []testenv.File{
		{Name: "a", Body: zeros}, {Name: "b", Body: zeros}, {Name: "c", Body: zeros},
	}))
	var many []testenv.File
	for i := range 300 {
		many = append(many, testenv.File{Name: "f" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)})
	}
	for _, tc := range []struct {
		name string
		img  v1.Image
		o    Options
		want string
	}{
		{"bytes", bomb, Options{MaxUnpackedBytes: 100 << 20}, "unpacks to more than 104857600 bytes"},
		{"files", testenv.Image(t, testenv.ImageOptions{}, testenv.Layer(t, many)), Options{MaxFiles: 100}, "more than 100 files"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if sz, _ := tc.img.Manifest(); sz != nil && sz.Layers[0].Size > 1<<20 {
				t.Fatalf("the bomb is %d bytes compressed; want a small image", sz.Layers[0].Size)
			}
			push(t, host+"/bomb/"+tc.name+":v1", tc.img)
			c := openHostile(t, tc.o)
			_, err := c.Pull(context.Background(), host+"/bomb/"+tc.name+":v1", nil)
			if !errors.Is(err, errdefs.ErrResourceExhausted) {
				t.Fatalf("Pull = %v, want ErrResourceExhausted", err)
			}
			if msg := errdefs.Message(err, ""); !strings.Contains(msg, tc.want) {
				t.Errorf("message %q, want it to say %q", msg, tc.want)
			}
			if len(c.Images()) != 0 {
				t.Error("the image was recorded")
			}
			if es, _ := os.ReadDir(c.tmpDir()); len(es) != 0 {
				t.Errorf("%d leftovers in tmp", len(es))
			}
		})
	}
}

// A registry that stops sending mid-layer (or before the manifest) fails
// the pull after the read timeout with a reason saying so.
func TestPullFailsWhenRegistryStalls(t *testing.T) {
	img := testenv.Image(t, testenv.ImageOptions{}, testenv.Layer(t, []testenv.File{{Name: "big", Body: strings.Repeat("scfd", 1<<18)}}))
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	var stallManifest atomic.Bool
	host := hostileRegistry(t, func(w http.ResponseWriter, req *http.Request) bool {
		stall := stallManifest.Load() && strings.Contains(req.URL.Path, "/manifests/")
		if isBlobGet(req) && strings.HasSuffix(req.URL.Path, ld.String()) {
			w.WriteHeader(http.StatusOK)
			w.Write(make([]byte, 1024)) // the start of the layer, then nothing
			w.(http.Flusher).Flush()
			stall = true
		}
		if stall {
			select {
			case <-req.Context().Done():
			case <-time.After(time.Minute):
			}
			return true
		}
		return false
	})
	push(t, host+"/stall/app:v1", img)
	for _, tc := range []struct {
		name     string
		manifest bool
		want     string
	}{
		{"layer", false, "sent nothing for 200ms while scfd fetched layer " + ld.String()},
		{"manifest", true, "sent nothing for 200ms while scfd fetched its manifest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stallManifest.Store(tc.manifest)
			c := openHostile(t, Options{ReadTimeout: 200 * time.Millisecond})
			began := time.Now()
			_, err := c.Pull(context.Background(), host+"/stall/app:v1", nil)
			if !errors.Is(err, errdefs.ErrUnavailable) {
				t.Fatalf("Pull = %v, want ErrUnavailable", err)
			}
			if msg := errdefs.Message(err, ""); !strings.Contains(msg, tc.want) {
				t.Errorf("message %q, want it to say %q", msg, tc.want)
			}
			if d := time.Since(began); d > 10*time.Second {
				t.Errorf("the stalled pull took %v", d)
			}
		})
	}
}

// What a registry answers never reaches the caller's message: an ImageUri
// may name any server.
func TestRegistryErrorsDoNotEchoTheBody(t *testing.T) {
	const secret = "root:x:0:0:SECRET-CONTENT"
	for _, tc := range []struct {
		name   string
		status int
		body   string
		class  error
	}{
		{"plain 500", 500, secret, errdefs.ErrUnavailable},
		{"registry error", 500, `{"errors":[{"code":"UNKNOWN","message":"` + secret + `","detail":"` + secret + `"}]}`, errdefs.ErrUnavailable},
		{"not found", 404, `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"` + secret + `"}]}`, errdefs.ErrNotFound},
		{"denied", 403, secret, errdefs.ErrUnauthorized},
		{"odd code", 500, `{"errors":[{"code":"` + secret + `"}]}`, errdefs.ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := hostileRegistry(t, func(w http.ResponseWriter, req *http.Request) bool {
				if req.URL.Path == "/v2/" {
					return false
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
				return true
			})
			_, err := openHostile(t, Options{}).Pull(context.Background(), host+"/leak/app:v1", nil)
			if !errors.Is(err, tc.class) {
				t.Fatalf("Pull = %v, want %v", err, tc.class)
			}
			if msg := errdefs.Message(err, ""); msg == "" || strings.Contains(msg, "SECRET") {
				t.Errorf("message %q echoes the registry's body", msg)
			}
		})
	}
}

// Registries on loopback, link-local and the instances' networks are
// refused unless allowed, whatever the name, and after redirects too.
func TestPullRefusesPrivateRegistries(t *testing.T) {
	var reached, blobs atomic.Int32
	host := hostileRegistry(t, func(w http.ResponseWriter, req *http.Request) bool {
		reached.Add(1)
		if isBlobGet(req) {
			blobs.Add(1)
		}
		return false
	})
	_, port, _ := strings.Cut(host, ":")
	img := testenv.Image(t, testenv.ImageOptions{}, testenv.Layer(t, appFiles))
	push(t, host+"/private/app:v1", img)
	reached.Store(0)

	// A second server, allowed by name, that redirects blob fetches to the
	// private one on another loopback address.
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if isBlobGet(req) {
			http.Redirect(w, req, "http://127.0.0.2:"+port+req.URL.Path, http.StatusTemporaryRedirect)
			return
		}
		rp, _ := http.NewRequest(req.Method, "http://"+host+req.URL.RequestURI(), req.Body)
		rp.Header = req.Header
		resp, err := http.DefaultTransport.RoundTrip(rp)
		if err != nil {
			w.WriteHeader(502)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	t.Cleanup(redirect.Close)
	rhost := strings.TrimPrefix(redirect.URL, "http://")

	// go-containerregistry refuses redirects to private hosts itself; the
	// blob never comes from the private server.
	blobs.Store(0)
	c, err := Open(context.Background(), Options{Dir: t.TempDir(), Keychain: anonymous{}, Policy: RegistryPolicy{Allowed: []string{rhost}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Pull(context.Background(), rhost+"/private/app:v1", nil); err == nil || blobs.Load() != 0 {
		t.Errorf("pull redirected to loopback = %v with %d blob fetches there; want an error and none", err, blobs.Load())
	}

	for _, tc := range []struct {
		name   string
		ref    string
		policy RegistryPolicy
		want   string // in the message; "" means the pull works
	}{
		{"loopback", host + "/private/app:v1", RegistryPolicy{Denied: nil, Allowed: []string{}}, "is a loopback address"},
		{"localhost by name", "localhost:" + port + "/private/app:v1", RegistryPolicy{Allowed: []string{}}, "is a loopback address"},
		{"link-local", "169.254.169.254/latest/meta-data:v1", RegistryPolicy{Allowed: []string{}}, "is a link-local address"},
		{"allowed by host:port", host + "/private/app:v1", RegistryPolicy{Allowed: []string{host}}, ""},
		{"allowed by host", host + "/private/app:v1", RegistryPolicy{Allowed: []string{"127.0.0.1"}}, ""},
		{"allowed all", host + "/private/app:v1", RegistryPolicy{Allowed: []string{"*"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reached.Store(0)
			c, err := Open(context.Background(), Options{Dir: t.TempDir(), Keychain: anonymous{}, Policy: tc.policy,
				InsecureRegistries: []string{"169.254.169.254"}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Pull(context.Background(), tc.ref, nil)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Pull = %v", err)
				}
				return
			}
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("Pull = %v, want ErrInvalidArgument", err)
			}
			msg := errdefs.Message(err, "")
			for _, w := range []string{tc.want, "SCFD_ALLOWED_REGISTRIES"} {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q, want it to say %q", msg, w)
				}
			}
			if reached.Load() != 0 {
				t.Errorf("the refused registry got %d requests", reached.Load())
			}
		})
	}
}

func TestRegistryPolicyRefusesInstanceNetworks(t *testing.T) {
	p := RegistryPolicy{Denied: []netip.Prefix{netip.MustParsePrefix("10.210.4.0/22")}}
	for addr, want := range map[string]string{
		"10.210.5.7":       "an address of the instances' networks",
		"10.211.0.1":       "",
		"::1":              "a loopback address",
		"::ffff:127.0.0.1": "a loopback address",
		"fe80::1":          "a link-local address",
		"0.0.0.0":          "an unspecified address",
		"93.184.216.34":    "",
	} {
		if got := p.refused(netip.MustParseAddr(addr)); got != want {
			t.Errorf("refused(%s) = %q, want %q", addr, got, want)
		}
	}
}
