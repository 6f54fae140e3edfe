package images

import (
	"errors"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/scf"
)

const fuzzDigest = "sha256:0000000000000000000000000000000000000000000000000000000000000000"

// FuzzManifest checks that no manifest or index a registry sends makes
// the parsing and SCF's checks panic, that a refusal has a class, and that
// an accepted manifest's size is within the limit.
func FuzzManifest(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":100,"digest":"` + fuzzDigest + `"},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":9223372036854775807,"digest":"` + fuzzDigest + `"},{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":9223372036854775807,"digest":"` + fuzzDigest + `"}]}`))
	f.Add([]byte(`{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":-1,"digest":"` + fuzzDigest + `"},"layers":[]}`))
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,"digest":"` + fuzzDigest + `","platform":{"os":"linux","architecture":"amd64"}}]}`))
	f.Add([]byte(`{"schemaVersion":1}`))
	repo, err := name.NewRepository("reg.test/fuzz/app")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		parseIndex(b)
		m, err := parseManifest(b)
		if err != nil {
			return
		}
		size, err := checkManifest(repo, fuzzDigest, m)
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalidArgument) && !errors.Is(err, errdefs.ErrUnsupported) && !errors.Is(err, errdefs.ErrResourceExhausted) {
				t.Fatalf("a refusal without a class: %v", err)
			}
			return
		}
		if size < 0 || size >= scf.MaxImageBytes {
			t.Fatalf("accepted a manifest declaring %d bytes", size)
		}
	})
}

// FuzzConfig checks that no image config makes parsing and the
// architecture check panic.
func FuzzConfig(f *testing.F) {
	f.Add([]byte(`{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/server"],"ExposedPorts":{"9000/tcp":{}}},"rootfs":{"type":"layers","diff_ids":["`+fuzzDigest+`"]}}`), 1)
	f.Add([]byte(`{"architecture":"arm64","rootfs":{"diff_ids":[]}}`), 0)
	f.Add([]byte(`{"config":{"Env":null,"User":"0:0"}}`), 3)
	repo, _ := name.NewRepository("reg.test/fuzz/app")
	f.Fuzz(func(t *testing.T, b []byte, layers int) {
		cf, err := parseConfig(b)
		if err != nil {
			return
		}
		m := &v1.Manifest{Layers: make([]v1.Descriptor, max(0, min(layers, 64)))}
		if err := checkConfig(repo, fuzzDigest, m, cf); err == nil {
			if cf.Architecture != "amd64" || len(cf.RootFS.DiffIDs) != len(m.Layers) {
				t.Fatalf("accepted %s with %d diff IDs for %d layers", cf.Architecture, len(cf.RootFS.DiffIDs), len(m.Layers))
			}
			configOf(cf)
		}
	})
}
