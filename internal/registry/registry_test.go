package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/scfd/scfd/internal/api"
	"github.com/scfd/scfd/internal/credentials"
	"github.com/scfd/scfd/internal/images"
	"github.com/scfd/scfd/internal/registry"
	"github.com/scfd/scfd/internal/scf"
	"github.com/scfd/scfd/internal/tc3"
)

var (
	admin  = credentials.Key{SecretID: "AKIDadmin", SecretKey: "admin-secret"}
	team   = credentials.Key{SecretID: "AKIDteam", SecretKey: "team-secret"}
	reader = credentials.Key{SecretID: "AKIDreader", SecretKey: "reader-secret"}
	runner = credentials.Key{SecretID: "AKIDrunner", SecretKey: "runner-secret"}
)

// keys knows the administrator and a key limited to namespace "team".
var keys = api.KeyLookupFunc(func(id string) (string, api.Scope, error) {
	switch id {
	case admin.SecretID:
		return admin.SecretKey, api.Scope{Admin: true}, nil
	case team.SecretID:
		return team.SecretKey, api.Scope{Namespaces: []string{"team"}}, nil
	case reader.SecretID:
		return reader.SecretKey, api.Scope{Namespaces: []string{"team"}, Role: scf.RoleReadOnly}, nil
	case runner.SecretID:
		return runner.SecretKey, api.Scope{Namespaces: []string{"team"}, Role: scf.RoleInvoke}, nil
	}
	return "", api.Scope{}, tc3.ErrSecretIDNotFound
})

// pins is a mutable set of pinned digests.
type pins struct {
	mu sync.Mutex
	m  map[string]bool
}

func (p *pins) ImageDigests(context.Context) (map[string]bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]bool{}
	for k, v := range p.m {
		out[k] = v
	}
	return out, nil
}

type env struct {
	reg  *registry.Registry
	addr string // the TCP listener's host:port
	dir  string
	srv  *http.Server
}

// start opens a registry in dir (a fresh one when empty) and serves it on
// a loopback port.
func start(t *testing.T, o registry.Options) *env {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	o.Addr, o.Keys = "127.0.0.1:0", keys
	reg, err := registry.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := reg.Listen()
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: reg}
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Close()
		reg.Close()
	})
	return &env{reg: reg, addr: ln.Addr().String(), dir: o.Dir, srv: srv}
}

func basic(k credentials.Key) remote.Option {
	return remote.WithAuth(&authn.Basic{Username: k.SecretID, Password: k.SecretKey})
}

func (e *env) push(t *testing.T, repoTag string, img v1.Image) name.Digest {
	t.Helper()
	ref, err := name.ParseReference(e.addr + "/" + repoTag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, basic(admin)); err != nil {
		t.Fatalf("push %s: %v", repoTag, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return ref.Context().Digest(d.String())
}

func randomImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(2048, 2)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// readAll fetches img's manifest, config and every layer.
func readAll(img v1.Image) error {
	if _, err := img.RawConfigFile(); err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func statusOf(err error) int {
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode
	}
	return 0
}

func TestAccess(t *testing.T) {
	e := start(t, registry.Options{})
	e.push(t, "team/app:v1", randomImage(t))
	e.push(t, "other/app:v1", randomImage(t))
	wrong := credentials.Key{SecretID: admin.SecretID, SecretKey: "not-the-key"}
	unknown := credentials.Key{SecretID: "AKIDnobody", SecretKey: "x"}

	tests := []struct {
		name   string
		key    *credentials.Key // nil: anonymous
		push   bool
		repo   string
		wantOK bool
	}{
		{"anonymous cannot pull", nil, false, "team/app:v1", false},
		{"anonymous cannot push", nil, true, "team/new:v1", false},
		{"wrong SecretKey cannot pull", &wrong, false, "team/app:v1", false},
		{"wrong SecretKey cannot push", &wrong, true, "team/new:v1", false},
		{"unknown SecretId cannot pull", &unknown, false, "team/app:v1", false},
		{"administrator pulls any namespace", &admin, false, "other/app:v1", true},
		{"namespace key pulls its namespace", &team, false, "team/app:v1", true},
		{"namespace key pushes to its namespace", &team, true, "team/new:v1", true},
		{"namespace key cannot pull another namespace", &team, false, "other/app:v1", false},
		{"namespace key cannot push to another namespace", &team, true, "other/new:v1", false},
		{"repository without a namespace is refused", &admin, true, "flat:v1", false},
		{"read-only key pulls its namespace", &reader, false, "team/app:v1", true},
		{"read-only key cannot push", &reader, true, "team/new:v1", false},
		{"read-only key cannot pull another namespace", &reader, false, "other/app:v1", false},
		{"invoking key pulls its namespace", &runner, false, "team/app:v1", true},
		{"invoking key cannot push", &runner, true, "team/new:v1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref, err := name.ParseReference(e.addr + "/" + tt.repo)
			if err != nil {
				t.Fatal(err)
			}
			opts := []remote.Option{remote.WithTransport(http.DefaultTransport)}
			if tt.key != nil {
				opts = append(opts, basic(*tt.key))
			}
			if tt.push {
				err = remote.Write(ref, randomImage(t), opts...)
			} else {
				var img v1.Image
				if img, err = remote.Image(ref, opts...); err == nil {
					err = readAll(img)
				}
			}
			if gotOK := err == nil; gotOK != tt.wantOK {
				t.Fatalf("ok = %v, want %v (err: %v)", gotOK, tt.wantOK, err)
			}
			if !tt.wantOK && statusOf(err) != http.StatusUnauthorized {
				t.Errorf("status = %d, want 401 (err: %v)", statusOf(err), err)
			}
		})
	}
}

func TestCatalogIsForAdministrators(t *testing.T) {
	e := start(t, registry.Options{})
	e.push(t, "team/app:v1", randomImage(t))
	for _, tt := range []struct {
		key  credentials.Key
		want int
	}{{admin, http.StatusOK}, {team, http.StatusUnauthorized}} {
		req, _ := http.NewRequest(http.MethodGet, "http://"+e.addr+"/v2/_catalog", nil)
		req.SetBasicAuth(tt.key.SecretID, tt.key.SecretKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s: GET /v2/_catalog = %d, want %d", tt.key.SecretID, resp.StatusCode, tt.want)
		}
	}
}

// Repositories lists what a key may pull, with tags, for the console's
// picker: an administrator everything, another key its namespaces only.
func TestRepositoriesByScope(t *testing.T) {
	ctx := context.Background()
	e := start(t, registry.Options{})
	if got, err := e.reg.Repositories(ctx, api.Scope{Admin: true}); err != nil || len(got) != 0 {
		t.Fatalf("an empty registry: %v %v", got, err)
	}
	img := randomImage(t)
	e.push(t, "team/app:v2", img)
	e.push(t, "team/app:v1", img)
	e.push(t, "other/tool:latest", randomImage(t))
	all, err := e.reg.Repositories(ctx, api.Scope{Admin: true})
	if err != nil {
		t.Fatal(err)
	}
	want := []registry.Repository{{Name: "other/tool", Tags: []string{"latest"}}, {Name: "team/app", Tags: []string{"v1", "v2"}}}
	if !reflect.DeepEqual(all, want) {
		t.Errorf("the administrator sees %+v, want %+v", all, want)
	}
	mine, err := e.reg.Repositories(ctx, api.Scope{Namespaces: []string{"team"}})
	if err != nil || !reflect.DeepEqual(mine, want[1:]) {
		t.Errorf("the team sees %+v (%v), want %+v", mine, err, want[1:])
	}
}

// refusingTransport fails the test if a request reaches it.
type refusingTransport struct{ t *testing.T }

func (r refusingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r.t.Errorf("request for %s left the process", req.URL)
	return nil, errors.New("refused")
}

func TestTransportPullsInProcessWithTheContextsAccess(t *testing.T) {
	e := start(t, registry.Options{})
	want := e.push(t, "team/app:v1", randomImage(t))
	// Close the TCP server: what follows cannot use it.
	e.srv.Close()

	rt := e.reg.Transport(refusingTransport{t})
	ref, _ := name.ParseReference(e.addr + "/team/app:v1")
	ctx := context.Background()
	for name, tt := range map[string]struct {
		ctx    context.Context
		wantOK bool
	}{
		"no access":             {ctx, false},
		"another namespace":     {images.WithAccess(ctx, scf.Access{Namespaces: []string{"other"}}), false},
		"the image's namespace": {images.WithAccess(ctx, scf.Access{Namespaces: []string{"other", "team"}}), true},
		"the administrator's":   {images.WithAccess(ctx, scf.Access{All: true}), true},
	} {
		img, err := remote.Image(ref, remote.WithTransport(rt), remote.WithContext(tt.ctx))
		if err == nil {
			err = readAll(img)
		}
		if gotOK := err == nil; gotOK != tt.wantOK {
			t.Errorf("%s: pull ok = %v, want %v (err: %v)", name, gotOK, tt.wantOK, err)
		}
	}
	// Credentials the request carries (a config.json holding the
	// administrator's key for this registry) add nothing.
	if _, err := remote.Image(ref, remote.WithTransport(rt), basic(admin),
		remote.WithContext(images.WithAccess(ctx, scf.Access{Namespaces: []string{"other"}}))); err == nil {
		t.Error("an in-process pull with the administrator's Basic credentials reached another namespace")
	}
	// An in-process access only pulls.
	pushRef, _ := name.ParseReference(e.addr + "/team/pushed:v1")
	if err := remote.Write(pushRef, randomImage(t), remote.WithTransport(rt), remote.WithContext(images.WithAccess(ctx, scf.Access{All: true}))); err == nil {
		t.Error("push through the in-process transport succeeded")
	}

	img, err := remote.Image(ref, remote.WithTransport(rt), remote.WithContext(images.WithAccess(ctx, scf.Access{Namespaces: []string{"team"}})))
	if err != nil {
		t.Fatal(err)
	}
	if err := readAll(img); err != nil {
		t.Fatal(err)
	}
	if got, _ := img.Digest(); got.String() != want.DigestStr() {
		t.Errorf("digest = %s, want %s", got, want.DigestStr())
	}

	// An https URL for the registry's address is served too.
	req, _ := http.NewRequest(http.MethodGet, "https://"+e.addr+"/v2/", nil)
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET https://%s/v2/ = %d, want 200", e.addr, resp.StatusCode)
	}
}

func TestContentSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	e := start(t, registry.Options{Dir: dir})
	want := e.push(t, "team/app:v1", randomImage(t))
	e.srv.Close()
	if err := e.reg.Close(); err != nil {
		t.Fatal(err)
	}

	e2 := start(t, registry.Options{Dir: dir})
	ref, _ := name.ParseReference(e2.addr + "/team/app:v1")
	img, err := remote.Image(ref, basic(admin))
	if err != nil {
		t.Fatal(err)
	}
	if err := readAll(img); err != nil {
		t.Fatal(err)
	}
	if got, _ := img.Digest(); got.String() != want.DigestStr() {
		t.Errorf("digest after restart = %s, want %s", got, want.DigestStr())
	}
}

func TestGCKeepsTaggedAndPinnedImages(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	p := &pins{m: map[string]bool{}}
	e := start(t, registry.Options{Pins: p, Now: clock, GCGrace: time.Hour})

	kept := e.push(t, "team/app:kept", randomImage(t))
	pinned := e.push(t, "team/app:pinned", randomImage(t))
	goneImg := randomImage(t)
	gone := e.push(t, "team/app:gone", goneImg)
	p.mu.Lock()
	p.m[pinned.DigestStr()] = true
	p.mu.Unlock()

	// Tags can be deleted, the pinned manifest itself cannot.
	for _, tag := range []string{"pinned", "gone"} {
		ref, _ := name.ParseReference(e.addr + "/team/app:" + tag)
		if err := remote.Delete(ref, basic(admin)); err != nil {
			t.Fatalf("delete tag %s: %v", tag, err)
		}
	}
	err := remote.Delete(pinned, basic(admin))
	if statusOf(err) != http.StatusConflict {
		t.Fatalf("delete pinned manifest: err = %v, want status 409", err)
	}

	// Within the grace period nothing goes: a push may be in progress.
	res, err := e.reg.GC(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Blobs != 0 || res.Manifests != 0 {
		t.Errorf("GC within the grace period removed %+v, want nothing", res)
	}

	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	res, err = e.reg.GC(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The untagged image: its manifest, config and two layers.
	if want := (registry.GCResult{Blobs: 4, Manifests: 1}); res != want {
		t.Errorf("GC removed %+v, want %+v", res, want)
	}

	for _, d := range []name.Digest{kept, pinned} {
		img, err := remote.Image(d, basic(admin))
		if err == nil {
			err = readAll(img)
		}
		if err != nil {
			t.Errorf("%s after GC: %v", d, err)
		}
	}
	if _, err := remote.Image(gone, basic(admin)); statusOf(err) != http.StatusNotFound {
		t.Errorf("untagged unpinned manifest after GC: err = %v, want 404", err)
	}
	layers, _ := goneImg.Layers()
	ld, _ := layers[0].Digest()
	req, _ := http.NewRequest(http.MethodHead, fmt.Sprintf("http://%s/v2/team/app/blobs/%s", e.addr, ld), nil)
	req.SetBasicAuth(admin.SecretID, admin.SecretKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("HEAD layer of the collected image = %d, want 404", resp.StatusCode)
	}
}

func TestSkopeoPush(t *testing.T) {
	skopeo, err := exec.LookPath("skopeo")
	if err != nil {
		t.Skip("skopeo not installed")
	}
	e := start(t, registry.Options{})
	img := randomImage(t)
	dir := t.TempDir()
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	dest := "docker://" + e.addr + "/team/app:v1"
	copyCmd := func(k credentials.Key) ([]byte, error) {
		return exec.Command(skopeo, "copy", "--dest-creds", k.SecretID+":"+k.SecretKey,
			"--dest-tls-verify=false", "oci:"+dir, dest).CombinedOutput()
	}
	if out, err := copyCmd(credentials.Key{SecretID: admin.SecretID, SecretKey: "wrong"}); err == nil {
		t.Fatalf("skopeo copy with a wrong key succeeded:\n%s", out)
	}
	if out, err := copyCmd(team); err != nil {
		t.Fatalf("skopeo copy: %v\n%s", err, out)
	}
	ref, _ := name.ParseReference(e.addr + "/team/app:v1")
	got, err := remote.Image(ref, remote.WithTransport(e.reg.Transport(refusingTransport{t})), remote.WithContext(images.WithAccess(context.Background(), scf.Access{All: true})))
	if err != nil {
		t.Fatal(err)
	}
	gd, _ := got.Digest()
	wd, _ := img.Digest()
	if gd != wd {
		t.Errorf("digest pushed by skopeo = %s, want %s", gd, wd)
	}
}

func TestGCOverHTTPIsForAdministrators(t *testing.T) {
	e := start(t, registry.Options{})
	for _, tt := range []struct {
		name string
		key  *credentials.Key
		want int
	}{
		{"anonymous", nil, http.StatusUnauthorized},
		{"namespace key", &team, http.StatusForbidden},
		{"administrator", &admin, http.StatusOK},
	} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+e.addr+registry.GCPath, nil)
		if tt.key != nil {
			req.SetBasicAuth(tt.key.SecretID, tt.key.SecretKey)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var res registry.GCResult
		jerr := json.NewDecoder(resp.Body).Decode(&res)
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s: POST %s = %d, want %d", tt.name, registry.GCPath, resp.StatusCode, tt.want)
		}
		if tt.want == http.StatusOK && jerr != nil {
			t.Errorf("%s: GC result: %v", tt.name, jerr)
		}
	}
}
