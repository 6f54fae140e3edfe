package testenv

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/compression"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// File is one entry of a generated layer tar.
type File struct {
	Name     string            // path in the layer, such as "etc/hosts"
	Type     byte              // tar type flag; zero means a regular file
	Mode     int64             // permission and setuid bits; zero means 0644 (0755 for directories)
	Body     string            // content of a regular file
	Linkname string            // target of a symlink or hard link
	Uid, Gid int               // owner
	Xattrs   map[string]string // extended attributes (PAX)
	Major    int64             // device numbers of a device node
	Minor    int64
}

// Tar returns the uncompressed tar of files, in order.
func Tar(t testing.TB, files []File) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		hdr := &tar.Header{
			Name: f.Name, Typeflag: f.Type, Mode: f.Mode, Linkname: f.Linkname,
			Uid: f.Uid, Gid: f.Gid, Devmajor: f.Major, Devminor: f.Minor,
			Format: tar.FormatPAX,
		}
		if hdr.Typeflag == 0 {
			hdr.Typeflag = tar.TypeReg
		}
		if hdr.Mode == 0 {
			hdr.Mode = 0o644
			if hdr.Typeflag == tar.TypeDir {
				hdr.Mode = 0o755
			}
		}
		if hdr.Typeflag == tar.TypeReg {
			hdr.Size = int64(len(f.Body))
		}
		if len(f.Xattrs) > 0 {
			hdr.PAXRecords = map[string]string{}
			for k, v := range f.Xattrs {
				hdr.PAXRecords["SCHILY.xattr."+k] = v
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("tar header %s: %v", f.Name, err)
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := io.WriteString(tw, f.Body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Layer returns a gzip layer (Docker media type) holding files.
func Layer(t testing.TB, files []File) v1.Layer {
	t.Helper()
	return layerFromTar(t, Tar(t, files))
}

// OCILayer returns a gzip layer with the OCI media type holding files.
func OCILayer(t testing.TB, files []File) v1.Layer {
	t.Helper()
	return layerFromTar(t, Tar(t, files), tarball.WithMediaType(types.OCILayer))
}

// ZstdLayer returns a zstd layer (OCI media type) holding files.
func ZstdLayer(t testing.TB, files []File) v1.Layer {
	t.Helper()
	return layerFromTar(t, Tar(t, files), tarball.WithCompression(compression.ZStd), tarball.WithMediaType(types.OCILayerZStd))
}

// LayerFromTar compresses an uncompressed tar into a gzip layer (or as the
// options say).
func LayerFromTar(t testing.TB, tarBytes []byte, opts ...tarball.LayerOption) v1.Layer {
	t.Helper()
	return layerFromTar(t, tarBytes, opts...)
}

func layerFromTar(t testing.TB, b []byte, opts ...tarball.LayerOption) v1.Layer {
	t.Helper()
	opts = append(opts, tarball.WithCompressedCaching)
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// ImageOptions describe a generated image; the zero value is a Docker v2
// schema 2 image for linux/amd64.
type ImageOptions struct {
	OCI          bool   // OCI manifest and config media types instead of Docker's
	Architecture string // default "amd64"
	OS           string // default "linux"
	Config       v1.Config
}

// Image builds an image of layers, bottom first.
func Image(t testing.TB, o ImageOptions, layers ...v1.Layer) v1.Image {
	t.Helper()
	base := empty.Image
	if o.OCI {
		base = mutate.ConfigMediaType(mutate.MediaType(base, types.OCIManifestSchema1), types.OCIConfigJSON)
	}
	img, err := mutate.AppendLayers(base, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = o.Architecture, o.OS
	if cf.Architecture == "" {
		cf.Architecture = "amd64"
	}
	if cf.OS == "" {
		cf.OS = "linux"
	}
	cf.Config = o.Config
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// Index builds an image index (OCI media type) of images, each tagged with
// the platform from its config.
func Index(t testing.TB, imgs ...v1.Image) v1.ImageIndex {
	t.Helper()
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, img := range imgs {
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: cf.OS, Architecture: cf.Architecture}},
		})
	}
	return idx
}

var (
	buildMu    sync.Mutex
	buildCache = map[string][]byte{}
)

// BinaryImage builds the Go main package in pkgDir (relative to the test's
// working directory, or absolute) as a static linux/amd64 binary and
// returns a Docker image holding it as /server with Entrypoint ["/server"].
// Builds are cached for the life of the test binary.
func BinaryImage(t testing.TB, pkgDir string) v1.Image {
	t.Helper()
	bin := buildBinary(t, pkgDir)
	layer := Layer(t, []File{{Name: "server", Mode: 0o755, Body: string(bin)}, {Name: "tmp", Type: tar.TypeDir, Mode: 0o1777}})
	return Image(t, ImageOptions{Config: v1.Config{
		Entrypoint:   []string{"/server"},
		Env:          []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		ExposedPorts: map[string]struct{}{"9000/tcp": {}},
	}}, layer)
}

func buildBinary(t testing.TB, pkgDir string) []byte {
	t.Helper()
	abs, err := filepath.Abs(pkgDir)
	if err != nil {
		t.Fatal(err)
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	if b, ok := buildCache[abs]; ok {
		return b
	}
	out := filepath.Join(t.TempDir(), "server")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = abs
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkgDir, err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	buildCache[abs] = b
	return b
}
