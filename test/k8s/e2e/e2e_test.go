//go:build k8s

// Package e2e runs `scfd serve --backend kubernetes` end to end against the
// single-node cluster of test/k8s/up.sh: the real binary, a real registry
// with authentication that the node's containerd pulls from over HTTP, and
// the official Tencent Cloud SCF Node.js SDK as the client (the harness of
// test/e2e). The Node.js tests are in k8s.test.mjs.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/scfd/scfd/internal/testenv"
)

func TestKubernetesBackend(t *testing.T) {
	kubeconfig, hostsDir := os.Getenv("KUBECONFIG"), os.Getenv("SCFD_K8S_REGISTRY_HOSTS")
	if kubeconfig == "" || hostsDir == "" || os.Getenv("SCFD_K8S_BIN") == "" {
		t.Skip("no cluster: run test/k8s/up.sh (make test-k8s) and source its environment")
	}
	node := testenv.NodeSDK(t, "../../e2e")
	bin := filepath.Join(t.TempDir(), "scfd")
	if out, err := exec.Command("go", "build", "-o", bin, "../../../cmd/scfd").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	reg := testenv.StartRegistry(t)
	reg.ContainerdHosts(t, hostsDir)
	reg.Push(t, "e2e/testfunc:v1", testenv.BinaryImage(t, "../../e2e/testfunc"))

	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ns := fmt.Sprintf("scfd-e2e-%d", os.Getpid())
	ctx := context.Background()
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })

	cmd := exec.Command(node, "--test", "--test-reporter=spec", "--test-concurrency=1", ".")
	cmd.Env = append(os.Environ(),
		"SCFD_BIN="+bin,
		"SCFD_E2E_IMAGE_TESTFUNC="+reg.Ref("e2e/testfunc:v1"),
		"SCFD_INSECURE_REGISTRIES="+reg.Addr, "SCFD_ALLOWED_REGISTRIES="+reg.Addr,
		"DOCKER_CONFIG="+reg.DockerConfigDir,
		"SCFD_BACKEND=kubernetes",
		"SCFD_K8S_NAMESPACE="+ns,
		"KUBECTL="+filepath.Join(os.Getenv("SCFD_K8S_BIN"), "kubectl"),
	)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("Node.js SDK tests failed: %v", err)
	}
	pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) > 0 {
		t.Errorf("%d pods left after scfd stopped", len(pods.Items))
	}
}
