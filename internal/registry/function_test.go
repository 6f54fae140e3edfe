package registry_test

import (
	"archive/tar"
	"context"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/scfd/scfd/internal/api"
	"github.com/scfd/scfd/internal/client"
	"github.com/scfd/scfd/internal/deploy"
	"github.com/scfd/scfd/internal/images"
	"github.com/scfd/scfd/internal/registry"
	"github.com/scfd/scfd/internal/store"
	"github.com/scfd/scfd/internal/tc3"
	"github.com/scfd/scfd/internal/testenv"
)

// TestFunctionFromPushedImage pushes an image with skopeo, creates a
// function from it through the API (the image cache pulling in-process),
// waits until it is Active, and checks that the registry then keeps the
// pinned image through tag deletion and GC.
func TestFunctionFromPushedImage(t *testing.T) {
	skopeo, err := exec.LookPath("skopeo")
	if err != nil {
		t.Skip("skopeo not installed")
	}
	ctx := context.Background()
	dataDir := t.TempDir()
	st, err := store.Open(ctx, dataDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })

	var clock time.Time // zero: time.Now
	e := start(t, registry.Options{Pins: st, Now: func() time.Time {
		if clock.IsZero() {
			return time.Now()
		}
		return clock
	}})
	cache, err := images.Open(ctx, images.Options{
		Dir:       filepath.Join(dataDir, "images"),
		Transport: e.reg.Transport(refusingTransport{t}),
	})
	if err != nil {
		t.Fatal(err)
	}
	dep := deploy.New(st, cache, deploy.Options{})
	t.Cleanup(dep.Close)
	srv := httptest.NewServer(api.New(api.Options{Store: st, Deployer: dep, Keys: keys}))
	t.Cleanup(srv.Close)
	c := client.New(srv.URL, tc3.Credential{SecretID: admin.SecretID, SecretKey: admin.SecretKey})

	img := testenv.Image(t, testenv.ImageOptions{Config: v1.Config{
		Entrypoint:   []string{"/server"},
		ExposedPorts: map[string]struct{}{"9000/tcp": {}},
	}}, testenv.Layer(t, []testenv.File{{Name: "server", Mode: 0o755, Body: "#!/bin/sh\n"}, {Name: "tmp", Type: tar.TypeDir, Mode: 0o1777}}))
	oci := t.TempDir()
	lp, err := layout.Write(oci, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	uri := e.addr + "/team/app:v1"
	if out, err := exec.Command(skopeo, "copy", "--dest-creds", team.SecretID+":"+team.SecretKey,
		"--dest-tls-verify=false", "oci:"+oci, "docker://"+uri).CombinedOutput(); err != nil {
		t.Fatalf("skopeo copy: %v\n%s", err, out)
	}

	if err := c.Call(ctx, "CreateNamespace", map[string]any{"Namespace": "team"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Call(ctx, "CreateFunction", api.CreateFunctionRequest{
		FunctionName: "app",
		Namespace:    "team",
		Code:         &api.Code{ImageConfig: &api.ImageConfig{ImageType: "personal", ImageUri: uri}},
	}, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var got api.GetFunctionResponse
		if err := c.Call(ctx, "GetFunction", map[string]any{"FunctionName": "app", "Namespace": "team"}, &got); err != nil {
			t.Fatal(err)
		}
		if got.Status == "Active" {
			break
		}
		if got.Status != "Creating" || time.Now().After(deadline) {
			t.Fatalf("function status %s (%s)", got.Status, got.StatusReasons)
		}
		time.Sleep(50 * time.Millisecond)
	}

	want, _ := img.Digest()
	pinned, err := st.ImageDigests(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !pinned[want.String()] {
		t.Fatalf("store pins %v, want %s", pinned, want)
	}

	// The version's image outlives its tag and a GC past the grace period,
	// and cannot be deleted.
	tag, _ := name.ParseReference(uri)
	if err := remote.Delete(tag, basic(admin)); err != nil {
		t.Fatal(err)
	}
	byDigest := tag.Context().Digest(want.String())
	if err := remote.Delete(byDigest, basic(admin)); statusOf(err) != http.StatusConflict {
		t.Errorf("delete the pinned manifest: err = %v, want status 409", err)
	}
	clock = time.Now().Add(2 * time.Hour)
	if _, err := e.reg.GC(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := remote.Image(byDigest, basic(admin))
	if err == nil {
		err = readAll(got)
	}
	if err != nil {
		t.Errorf("pinned image after GC: %v", err)
	}
}
