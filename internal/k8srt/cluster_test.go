//go:build k8s

// The tests in this file need a real cluster: test/k8s/up.sh (or `make
// test-k8s`) brings one up and exports KUBECONFIG and
// SCFD_K8S_REGISTRY_HOSTS, the directory of containerd's registry hosts.

package k8srt

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/scfd/scfd/internal/sandbox"
	"github.com/scfd/scfd/internal/sandbox/sandboxtest"
	"github.com/scfd/scfd/internal/testenv"
)

// cluster is what a test needs of the running cluster.
type cluster struct {
	client kubernetes.Interface
	reg    *testenv.Registry
	// refs of the conformance server image: by image user.
	root, nobody string
}

// ClientFromEnv returns a client of $KUBECONFIG's cluster, or skips.
func clientFromEnv(t testing.TB) kubernetes.Interface {
	t.Helper()
	if os.Getenv("KUBECONFIG") == "" || os.Getenv("SCFD_K8S_REGISTRY_HOSTS") == "" {
		t.Skip("no cluster: run test/k8s/up.sh (make test-k8s) and set KUBECONFIG and SCFD_K8S_REGISTRY_HOSTS")
	}
	cfg, err := RESTConfig(os.Getenv("KUBECONFIG"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 100, 200
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// startRegistry starts a registry and tells the node's containerd to reach
// it over plain HTTP.
func startRegistry(t testing.TB) *testenv.Registry {
	t.Helper()
	reg := testenv.StartRegistry(t)
	dir := filepath.Join(os.Getenv("SCFD_K8S_REGISTRY_HOSTS"), reg.Addr)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	hosts := fmt.Sprintf("server = \"http://%s\"\n\n[host.\"http://%s\"]\n  capabilities = [\"pull\", \"resolve\"]\n", reg.Addr, reg.Addr)
	if err := os.WriteFile(filepath.Join(dir, "hosts.toml"), []byte(hosts), 0o644); err != nil {
		t.Fatal(err)
	}
	return reg
}

// namespace creates a namespace for one test and deletes it at the end.
func namespace(t testing.TB, c kubernetes.Interface) string {
	t.Helper()
	b := make([]byte, 3)
	rand.Read(b)
	name := "scfd-test-" + hex.EncodeToString(b)
	ctx := context.Background()
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}

// layerFiles lists a directory as layer entries.
func layerFiles(t testing.TB, dir string) []testenv.File {
	t.Helper()
	var files []testenv.File
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		info, err := e.Info()
		if err != nil {
			return err
		}
		mode := int64(info.Mode().Perm())
		if info.Mode()&fs.ModeSticky != 0 {
			mode |= 0o1000
		}
		f := testenv.File{Name: rel, Mode: mode}
		if e.IsDir() {
			f.Type = tar.TypeDir
		} else {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			f.Body = string(b)
		}
		files = append(files, f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// pushConformanceImage pushes the conformance server as two images, run
// as root and as nobody in /tmp: in production a Spec's ImageConfig is
// always its image's own configuration.
func pushConformanceImage(t testing.TB, reg *testenv.Registry) (sandboxtest.Image, string, string) {
	t.Helper()
	img, err := sandboxtest.BuildImage(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	layer := testenv.Layer(t, layerFiles(t, img.Layers[0]))
	cfg := v1.Config{Entrypoint: img.Config.Entrypoint, Cmd: img.Config.Cmd, Env: img.Config.Env, WorkingDir: img.Config.WorkingDir}
	root := reg.Push(t, "conformance:root", testenv.Image(t, testenv.ImageOptions{Config: cfg}, layer))
	cfg.User, cfg.WorkingDir = "nobody", "/tmp"
	nobody := reg.Push(t, "conformance:nobody", testenv.Image(t, testenv.ImageOptions{Config: cfg}, layer))
	return img, root, nobody
}

// byRef fills Spec.ImageRef the way the pool does, from the image the
// spec's configuration belongs to.
type byRef struct {
	d            *Driver
	root, nobody string
}

func (b byRef) Start(ctx context.Context, spec sandbox.Spec) (sandbox.Instance, error) {
	spec.ImageRef = b.root
	if spec.Image.User == "nobody" {
		spec.ImageRef = b.nobody
	}
	return b.d.Start(ctx, spec)
}

func newDriver(t testing.TB, c kubernetes.Interface, ns string, reg *testenv.Registry, acct sandbox.Account) *Driver {
	t.Helper()
	cfg, err := os.ReadFile(filepath.Join(reg.DockerConfigDir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := New(ctx, Options{Client: c, Namespace: ns, Account: acct, DockerConfigJSON: cfg, SplitLogStreams: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := d.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		left, err := d.Leftovers(ctx)
		if err != nil || len(left) > 0 {
			t.Errorf("left after Close: %v %v", left, err)
		}
	})
	return d
}

func TestConformance(t *testing.T) {
	c := clientFromEnv(t)
	reg := startRegistry(t)
	ns := namespace(t, c)
	acct := sandbox.Account{Region: "ap-test", AppID: "1250000001", UIN: "100000000002"}
	d := newDriver(t, c, ns, reg, acct)
	img, root, nobody := pushConformanceImage(t, reg)
	sandboxtest.Run(t, byRef{d: d, root: root, nobody: nobody}, img, sandboxtest.Options{
		Account: acct,
		Skip: map[string]string{
			"WritableLayer": "Kubernetes enforces the ephemeral-storage limit by evicting the Pod " +
				"(the kubelet measures every 10 s), not with ENOSPC",
			"Stats": "the kubelet's summary statistics are samples (cAdvisor housekeeping, 10 s by default), " +
				"not the cgroup read at once; TestStatsFromSummary checks them",
		},
	})
}

// Memory comes from the kubelet's summary: a server that allocates 64 MB
// shows at least that in a later sample, and the peak follows.
func TestStatsFromSummary(t *testing.T) {
	c := clientFromEnv(t)
	reg := startRegistry(t)
	ns := namespace(t, c)
	d := newDriver(t, c, ns, reg, sandbox.Account{})
	img, root, _ := pushConformanceImage(t, reg)
	in, err := d.Start(context.Background(), sandbox.Spec{
		ID: "stats", Function: "stats", ImageRef: root, Image: img.Config, MemoryMB: 256,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Stop(context.Background())
	resp, err := http.Get("http://" + in.Addr() + "/alloc?mb=64")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	deadline := time.Now().Add(45 * time.Second)
	for {
		st, err := in.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if st.MemoryBytes >= 64<<20 {
			if st.MemoryPeakBytes < st.MemoryBytes || st.MemoryPeakBytes > 256<<20 {
				t.Errorf("stats %+v", st)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("memory still %+v after 45 s", st)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A Pod deleted behind scfd's back ends its instance: Exited closes and the
// reason is a kill.
func TestPodDeletedUnderInstance(t *testing.T) {
	c := clientFromEnv(t)
	reg := startRegistry(t)
	ns := namespace(t, c)
	d := newDriver(t, c, ns, reg, sandbox.Account{})
	img, root, _ := pushConformanceImage(t, reg)
	in, err := d.Start(context.Background(), sandbox.Spec{
		ID: "victim", Function: "victim", ImageRef: root, Image: img.Config, MemoryMB: 128,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Stop(context.Background())
	if err := c.CoreV1().Pods(ns).Delete(context.Background(), PodName("victim"), metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-in.Exited():
	case <-time.After(60 * time.Second):
		t.Fatal("instance did not notice its Pod was deleted")
	}
	// The kubelet sends SIGTERM: the server dies of it or exits by itself.
	if r := in.ExitReason(); r.Kind != sandbox.ExitSignal && r.Kind != sandbox.ExitCode {
		t.Errorf("exit reason %v, want killed or exited", r)
	}
}
