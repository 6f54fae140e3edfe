//go:build k8s

package k8srt

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/scfd/scfd/internal/sandbox"
)

// The manifests of deploy/kubernetes are what a cluster accepts, and the
// RBAC they grant is enough: a driver acting as the scfd service account
// cleans up, writes the pull secret, starts a Pod that the namespace's
// baseline Pod Security level admits, reads its logs and memory, and
// deletes it.
func TestDeployManifestsAndRBAC(t *testing.T) {
	c := clientFromEnv(t)
	kubectl := filepath.Join(os.Getenv("SCFD_K8S_BIN"), "kubectl")
	if os.Getenv("SCFD_K8S_BIN") == "" {
		t.Skip("SCFD_K8S_BIN (the cluster's kubectl) is not set")
	}
	dir := "../../deploy/kubernetes"
	run := func(args ...string) {
		t.Helper()
		out, err := exec.Command(kubectl, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("apply", "-f", filepath.Join(dir, "namespaces.yaml"), "-f", filepath.Join(dir, "rbac.yaml"))
	t.Cleanup(func() {
		exec.Command(kubectl, "delete", "--wait=false", "-f", filepath.Join(dir, "rbac.yaml"), "-f", filepath.Join(dir, "namespaces.yaml")).Run()
	})
	run("apply", "--dry-run=server", "-f", filepath.Join(dir, "scfd.yaml"))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tok, err := c.CoreV1().ServiceAccounts("scfd-system").CreateToken(ctx, "scfd",
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: new(int64(600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	admin, err := RESTConfig(os.Getenv("KUBECONFIG"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := rest.AnonymousClientConfig(admin)
	cfg.BearerToken = tok.Status.Token
	sa, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}

	reg := startRegistry(t)
	img, root, _ := pushConformanceImage(t, reg)
	d := newDriver(t, sa, "scfd", reg, sandbox.Account{})
	var mu sync.Mutex
	var lines []string
	in, err := d.Start(ctx, sandbox.Spec{
		ID: "rbac", Function: "rbac", ImageRef: root, Image: img.Config, MemoryMB: 128,
		Args: "-say started -listen :9000",
		Logs: func(l sandbox.LogLine) { mu.Lock(); lines = append(lines, l.Text); mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Stop(context.Background())
	resp, err := http.Get("http://" + in.Addr() + "/alloc?mb=32")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	deadline := time.Now().Add(45 * time.Second)
	for {
		st, _ := in.Stats()
		mu.Lock()
		logged := strings.Join(lines, "\n")
		mu.Unlock()
		if st.MemoryBytes >= 32<<20 && strings.Contains(logged, "started") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("as the service account after 45 s: stats %+v, lines %q", st, logged)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := in.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}
