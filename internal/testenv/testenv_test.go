package testenv

import (
	"net/http"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func TestRegistryRequiresAuthAndServesPushedImage(t *testing.T) {
	r := StartRegistry(t)
	resp, err := http.Get("http://" + r.Addr + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /v2/ without credentials: %s, want 401", resp.Status)
	}
	img := BinaryImage(t, "./testdata/hello")
	ref := r.Push(t, "fn/hello:v1", img)
	d, err := name.NewDigest(ref)
	if err != nil {
		t.Fatal(err)
	}
	got, err := remote.Image(d, r.Auth())
	if err != nil {
		t.Fatalf("pull back %s: %v", ref, err)
	}
	cf, err := got.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Architecture != "amd64" || len(cf.Config.Entrypoint) != 1 || cf.Config.Entrypoint[0] != "/server" {
		t.Errorf("config = %+v, want amd64 with Entrypoint [/server]", cf)
	}
	if _, err := remote.Image(d); err == nil {
		t.Error("anonymous pull succeeded, want 401")
	}
}
