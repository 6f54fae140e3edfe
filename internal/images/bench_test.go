package images

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/scfd/scfd/internal/testenv"
)

// benchImage generates an image of about 200 MB (uncompressed) in 5 gzip
// layers of compressible files of mixed sizes.
func benchImage(b *testing.B) v1.Image {
	rng := rand.New(rand.NewPCG(1, 2))
	var layers []v1.Layer
	for l := range 5 {
		var files []testenv.File
		total := 0
		for i := 0; total < 40<<20; i++ {
			size := 4 << 10
			if i%10 == 0 {
				size = 1 << 20
			}
			raw := make([]byte, size*3/4)
			for j := range raw {
				raw[j] = byte(rng.IntN(64)) // base64 of this compresses about 2:1
			}
			body := base64.StdEncoding.EncodeToString(raw)
			files = append(files, testenv.File{Name: fmt.Sprintf("l%d/d%d/f%d", l, i%50, i), Body: body})
			total += len(body)
		}
		layers = append(layers, testenv.Layer(b, files))
	}
	return testenv.Image(b, testenv.ImageOptions{}, layers...)
}

// BenchmarkPullAgainstSkopeoUmoci pulls and unpacks a 200 MB, 5-layer
// image from a docker-registry on loopback into a cold cache, and, side by
// side in the same run, does the same with `skopeo copy` to an OCI layout
// followed by `umoci unpack`. It reports both times, their ratio, and the
// time of a second pull of the same image (a cache hit).
//
//	go test -run '^$' -bench PullAgainstSkopeoUmoci -benchtime 3x ./internal/images
func BenchmarkPullAgainstSkopeoUmoci(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("unpacking needs root")
	}
	for _, tool := range []string{"skopeo", "umoci"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Skipf("%s is missing: %v", tool, err)
		}
	}
	r := testenv.StartRegistry(b)
	b.Setenv("DOCKER_CONFIG", r.DockerConfigDir)
	img := benchImage(b)
	r.Push(b, "bench/app:v1", img)
	ref := r.Ref("bench/app:v1")
	var size int64
	m, _ := img.Manifest()
	for _, l := range m.Layers {
		size += l.Size
	}
	b.Logf("image: %d layers, %.1f MiB compressed", len(m.Layers), float64(size)/(1<<20))

	var ours, theirs, hit time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		work := b.TempDir()
		// scfd: cold cache.
		start := time.Now()
		c, err := Open(context.Background(), Options{Dir: filepath.Join(work, "cache"), Policy: testRegistries})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Pull(context.Background(), ref, nil); err != nil {
			b.Fatal(err)
		}
		ours += time.Since(start)
		start = time.Now()
		if _, err := c.Pull(context.Background(), ref, nil); err != nil {
			b.Fatal(err)
		}
		hit += time.Since(start)

		// skopeo copy + umoci unpack: cold layout.
		start = time.Now()
		layout := filepath.Join(work, "oci")
		cp := exec.Command("skopeo", "copy", "--quiet", "--src-tls-verify=false", "--src-creds", r.User+":"+r.Password,
			"docker://"+ref, "oci:"+layout+":v1")
		if out, err := cp.CombinedOutput(); err != nil {
			b.Fatalf("skopeo: %v\n%s", err, out)
		}
		un := exec.Command("umoci", "unpack", "--image", layout+":v1", filepath.Join(work, "bundle"))
		if out, err := un.CombinedOutput(); err != nil {
			b.Fatalf("umoci: %v\n%s", err, out)
		}
		theirs += time.Since(start)
		os.RemoveAll(work)
	}
	n := float64(b.N)
	b.ReportMetric(ours.Seconds()/n, "scfd-s/op")
	b.ReportMetric(theirs.Seconds()/n, "skopeo+umoci-s/op")
	b.ReportMetric(theirs.Seconds()/ours.Seconds(), "speedup")
	b.ReportMetric(float64(hit.Microseconds())/n/1000, "cachehit-ms/op")
	fmt.Printf("pull+unpack of %.0f MiB in %d layers: scfd %v, skopeo copy + umoci unpack %v, ratio %.2fx; cache hit %v\n",
		float64(size)/(1<<20), len(m.Layers), (ours / time.Duration(b.N)).Round(time.Millisecond),
		(theirs / time.Duration(b.N)).Round(time.Millisecond), theirs.Seconds()/ours.Seconds(), (hit / time.Duration(b.N)).Round(10*time.Microsecond))
}
