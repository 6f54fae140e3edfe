//go:build k8s

// Package replicas runs scfd inside the test cluster of test/k8s/up.sh as
// deploy/kubernetes describes it: the manifests applied as a user would
// (three replicas sharing the cluster's PostgreSQL), an image of scfd
// built from this tree and imported into the node's containerd, and the
// official Node.js SDK tests of the Kubernetes backend
// (test/k8s/e2e/k8s.test.mjs) run against the scfd Service from this
// machine.
package replicas

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/jackc/pgx/v5"

	"github.com/scfd/scfd/internal/testenv"
	"github.com/scfd/scfd/test/k8s/imagetar"
)

// image is the tag of the scfd image the test imports.
const image = "scfd-k8s.local/scfd:test"

// The test's admin key, as the SDK harness (test/e2e/harness.mjs) has it,
// and the token that scrapes the replicas' metrics (the Secret scfd-keys'
// metrics-token, as scfd.yaml says).
const (
	secretID     = "AKIDscfde2etestkey000000000000000"
	secretKey    = "scfde2esecretkey0000000000000000"
	metricsToken = "scfd-k8s-test-metrics-token"
)

type cluster struct {
	client     *kubernetes.Clientset
	bin        string // the Kubernetes binaries
	nodeIP     string
	containerd string
	hosts      string // containerd's registry hosts directory
	database   string // URL of a PostgreSQL role that may create databases
}

func clusterOf(t testing.TB) *cluster {
	c := &cluster{bin: os.Getenv("SCFD_K8S_BIN"), nodeIP: os.Getenv("SCFD_K8S_NODE_IP"),
		containerd: os.Getenv("SCFD_K8S_CONTAINERD"), hosts: os.Getenv("SCFD_K8S_REGISTRY_HOSTS"),
		database: os.Getenv("SCFD_K8S_DATABASE_URL")}
	kubeconfig := os.Getenv("KUBECONFIG")
	if kubeconfig == "" || c.bin == "" || c.nodeIP == "" || c.containerd == "" || c.hosts == "" || c.database == "" {
		t.Skip("no cluster: run test/k8s/up.sh (make test-k8s) and source its environment")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if c.client, err = kubernetes.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	return c
}

// importImage builds scfd statically and imports it into the node's
// containerd as image.
func (c *cluster) importImage(t testing.TB) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "scfd")
	build := exec.Command("go", "build", "-o", bin, "../../../cmd/scfd")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, "scfd.tar")
	if err := imagetar.Write(archive, image, "scfd", b); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ctr", "-a", c.containerd, "-n", "k8s.io", "images", "import", archive).CombinedOutput(); err != nil {
		t.Fatalf("ctr images import: %v\n%s", err, out)
	}
}

// registry starts a registry the node's containerd and the Pods reach, on
// the node's address, with the SDK tests' function image.
func (c *cluster) registry(t testing.TB) *testenv.Registry {
	reg := testenv.StartRegistryOn(t, c.nodeIP)
	reg.ContainerdHosts(t, c.hosts)
	reg.Push(t, "e2e/testfunc:v1", testenv.BinaryImage(t, "../../e2e/testfunc"))
	return reg
}

// createDatabase creates a database for the test on the cluster's
// PostgreSQL, dropped when the test ends, and returns its URL.
func (c *cluster) createDatabase(t testing.TB) string {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.database)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("scfd_replicas_%d", os.Getpid())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), c.database)
		if err != nil {
			t.Errorf("dropping the test database: %v", err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping the test database: %v", err)
		}
	})
	u, err := url.Parse(c.database)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// manifests decodes the YAML documents of deploy/kubernetes/name.
func manifests(t testing.TB, name string) []runtime.Object {
	f, err := os.Open(filepath.Join("../../../deploy/kubernetes", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var objs []runtime.Object
	dec := utilyaml.NewYAMLReader(bufio.NewReader(f))
	for {
		doc, err := dec.Read()
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		objs = append(objs, obj)
	}
}

// create creates obj, as `kubectl create` would.
func (c *cluster) create(ctx context.Context, t testing.TB, obj runtime.Object) {
	var err error
	switch o := obj.(type) {
	case *corev1.Namespace:
		_, err = c.client.CoreV1().Namespaces().Create(ctx, o, metav1.CreateOptions{})
	case *corev1.ServiceAccount:
		_, err = c.client.CoreV1().ServiceAccounts(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
	case *corev1.Secret:
		_, err = c.client.CoreV1().Secrets(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
	case *corev1.Service:
		_, err = c.client.CoreV1().Services(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
	case *corev1.PersistentVolumeClaim:
		_, err = c.client.CoreV1().PersistentVolumeClaims(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
	case *rbacv1.Role:
		_, err = c.client.RbacV1().Roles(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
	case *rbacv1.RoleBinding:
		_, err = c.client.RbacV1().RoleBindings(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
	case *rbacv1.ClusterRole:
		_, err = c.client.RbacV1().ClusterRoles().Create(ctx, o, metav1.CreateOptions{})
		t.Cleanup(func() { c.client.RbacV1().ClusterRoles().Delete(context.Background(), o.Name, metav1.DeleteOptions{}) })
	case *rbacv1.ClusterRoleBinding:
		_, err = c.client.RbacV1().ClusterRoleBindings().Create(ctx, o, metav1.CreateOptions{})
		t.Cleanup(func() {
			c.client.RbacV1().ClusterRoleBindings().Delete(context.Background(), o.Name, metav1.DeleteOptions{})
		})
	case *appsv1.Deployment:
		_, err = c.client.AppsV1().Deployments(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
	case *policyv1.PodDisruptionBudget:
		_, err = c.client.PolicyV1().PodDisruptionBudgets(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
	case *networkingv1.NetworkPolicy:
		_, err = c.client.NetworkingV1().NetworkPolicies(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
	default:
		t.Fatalf("the test does not know how to create a %T", obj)
	}
	if err != nil {
		t.Fatalf("creating %T: %v", obj, err)
	}
}

// setEnv sets name=value in the container's environment.
func setEnv(c *corev1.Container, name, value string) {
	for i := range c.Env {
		if c.Env[i].Name == name {
			c.Env[i].Value = value
			return
		}
	}
	c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: value})
}

// deployment is deploy/kubernetes running in the test cluster with this
// tree's scfd.
type deployment struct {
	*cluster
	reg      *testenv.Registry
	database string // the replicas' database
	svc      *corev1.Service
	ip       string // the Service's cluster address
}

// api is the Service's API endpoint.
func (d *deployment) api() string { return "http://" + net.JoinHostPort(d.ip, "9100") }

// gateway is the Service's gateway address.
func (d *deployment) gateway() string { return "http://" + net.JoinHostPort(d.ip, "9200") }

// deploy applies deploy/kubernetes with this tree's scfd, as a user would
// (the Secrets it asks for created first), waits for every replica to be
// ready and to see the others, and removes it all when tb ends.
func deploy(tb testing.TB) *deployment {
	c := clusterOf(tb)
	ctx := context.Background()
	c.importImage(tb)
	d := &deployment{cluster: c, reg: c.registry(tb), database: c.createDatabase(tb)}
	dockerConfig, err := os.ReadFile(filepath.Join(d.reg.DockerConfigDir, "config.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var objs []runtime.Object
	for _, name := range []string{"namespaces.yaml", "rbac.yaml", "scfd.yaml"} {
		objs = append(objs, manifests(tb, name)...)
	}
	tb.Cleanup(func() {
		// The instance namespace first, while scfd still runs to see it go.
		for _, ns := range []string{"scfd", "scfd-system"} {
			c.client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
		}
		deadline := time.Now().Add(2 * time.Minute)
		for _, ns := range []string{"scfd", "scfd-system"} {
			for time.Now().Before(deadline) {
				if _, err := c.client.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{}); apierrors.IsNotFound(err) {
					break
				}
				time.Sleep(250 * time.Millisecond) // polling the namespace's deletion
			}
		}
	})
	for _, obj := range objs {
		switch o := obj.(type) {
		case *corev1.PersistentVolumeClaim:
			continue // the test cluster has no storage provisioner: an emptyDir below
		case *appsv1.Deployment:
			spec := &o.Spec.Template.Spec
			for i := range spec.Volumes {
				if spec.Volumes[i].PersistentVolumeClaim != nil {
					spec.Volumes[i].VolumeSource = corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
				}
			}
			ct := &spec.Containers[0]
			ct.Image, ct.ImagePullPolicy = image, corev1.PullNever
			// The test node has 2 CPUs for the replicas, their
			// replacements and the functions' instances.
			ct.Resources.Requests[corev1.ResourceCPU] = resource.MustParse("100m")
			for k, v := range map[string]string{
				"SCFD_INSECURE_REGISTRIES":   d.reg.Addr,
				"SCFD_ALLOWED_REGISTRIES":    d.reg.Addr,
				"SCFD_INSTANCE_IDLE_TIMEOUT": "4s",
			} {
				setEnv(ct, k, v)
			}
		case *corev1.Service:
			d.svc = o
		}
		c.create(ctx, tb, obj)
		if ns, ok := obj.(*corev1.Namespace); ok && ns.Name == "scfd-system" {
			// The Secrets scfd.yaml says to create first.
			for name, data := range map[string]map[string][]byte{
				"scfd-docker-config": {"config.json": dockerConfig},
				"scfd-database":      {"url": []byte(d.database)},
				"scfd-keys": {
					"secret-id":      []byte(secretID),
					"secret-key":     []byte(secretKey),
					"cluster-secret": []byte(fmt.Sprintf("scfd-k8s-test-cluster-secret-%d", os.Getpid())),
					"metrics-token":  []byte(metricsToken),
				},
			} {
				c.create(ctx, tb, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "scfd-system"}, Data: data})
			}
		}
	}
	if d.svc == nil {
		tb.Fatal("deploy/kubernetes/scfd.yaml has no Service")
	}
	d.ip = c.waitReady(ctx, tb, d.svc)
	c.checkReplicas(ctx, tb)
	return d
}

// TestInCluster deploys deploy/kubernetes with this tree's scfd and runs
// the SDK tests of the Kubernetes backend against its Service, then rolls
// the Deployment under load, then kills a replica under load.
func TestInCluster(t *testing.T) {
	node := testenv.NodeSDK(t, "../../e2e")
	d := deploy(t)
	ctx := context.Background()

	ok := t.Run("SDK", func(t *testing.T) {
		cmd := exec.Command(node, "--test", "--test-reporter=spec", "--test-concurrency=1", "../e2e/k8s.test.mjs")
		cmd.Env = append(os.Environ(),
			"SCFD_E2E_ENDPOINT="+net.JoinHostPort(d.ip, "9100"),
			"SCFD_E2E_IMAGE_TESTFUNC="+d.reg.Ref("e2e/testfunc:v1"),
			"SCFD_K8S_NAMESPACE=scfd",
			"KUBECTL="+filepath.Join(d.bin, "kubectl"),
		)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			d.dumpLogs(ctx, t)
			t.Fatalf("Node.js SDK tests against the scfd Service failed: %v", err)
		}
	})
	if !ok {
		return
	}
	w := d.newWorkload(ctx, t)
	if t.Run("RollingUpdateUnderLoad", func(t *testing.T) { d.rollUnderLoad(ctx, t, w) }) {
		t.Run("KillReplicaUnderLoad", func(t *testing.T) { d.killUnderLoad(ctx, t, w) })
	}
}

// waitReady waits for the scfd Deployment's Pods to be ready and returns
// the Service's cluster address.
func (c *cluster) waitReady(ctx context.Context, t testing.TB, svc *corev1.Service) string {
	deadline := time.Now().Add(3 * time.Minute)
	for {
		d, err := c.client.AppsV1().Deployments("scfd-system").Get(ctx, "scfd", metav1.GetOptions{})
		if err == nil && d.Status.ReadyReplicas == *d.Spec.Replicas && d.Status.UpdatedReplicas == *d.Spec.Replicas {
			break
		}
		if time.Now().After(deadline) {
			c.dumpLogs(ctx, t)
			t.Fatalf("the scfd Deployment is not ready after 3 minutes: %+v %v", d.Status, err)
		}
		time.Sleep(500 * time.Millisecond) // polling the Deployment's status
	}
	s, err := c.client.CoreV1().Services(svc.Namespace).Get(ctx, svc.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s.Spec.ClusterIP
}

// dumpLogs prints the scfd Pods' states and logs.
func (c *cluster) dumpLogs(ctx context.Context, t testing.TB) {
	pods, err := c.client.CoreV1().Pods("scfd-system").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=scfd"})
	if err != nil {
		t.Logf("listing scfd pods: %v", err)
		return
	}
	for _, p := range pods.Items {
		t.Logf("pod %s: %s %+v", p.Name, p.Status.Phase, p.Status.ContainerStatuses)
		tail := int64(2000)
		b, err := c.client.CoreV1().Pods("scfd-system").GetLogs(p.Name, &corev1.PodLogOptions{TailLines: &tail}).DoRaw(ctx)
		// Its warnings and errors, and its last lines.
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		var out []string
		for i, l := range lines {
			if i >= len(lines)-20 || strings.Contains(l, `"level":"WARN"`) || strings.Contains(l, `"level":"ERROR"`) {
				out = append(out, l)
			}
		}
		t.Logf("logs of %s (%v):\n%s", p.Name, err, strings.Join(out, "\n"))
	}
}

// checkReplicas checks that every replica of the Deployment is ready and
// sees all of them live (scfd_cluster_replicas), asking each by Pod IP.
func (c *cluster) checkReplicas(ctx context.Context, t testing.TB) {
	d, err := c.client.AppsV1().Deployments("scfd-system").Get(ctx, "scfd", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := int(*d.Spec.Replicas)
	pods, err := c.client.CoreV1().Pods("scfd-system").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=scfd"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != want {
		t.Fatalf("%d scfd Pods, want %d", len(pods.Items), want)
	}
	metric := fmt.Sprintf("scfd_cluster_replicas %d", want)
	for _, p := range pods.Items {
		base := "http://" + net.JoinHostPort(p.Status.PodIP, "9100")
		deadline := time.Now().Add(30 * time.Second)
		for {
			ready, _ := httpGet(base + "/healthz/ready")
			metrics, _ := scrape(base)
			if strings.HasPrefix(ready, "ready") && strings.Contains(metrics, metric) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica %s: readiness %q, and its metrics lack %q", p.Name, ready, metric)
			}
			time.Sleep(250 * time.Millisecond) // polling the replica's view
		}
	}
}

func httpGet(url string) (string, error) {
	res, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return string(b), err
}

// scrape reads the metrics of the replica whose API is at base with the
// scrape token; an answer but 200 is an error (a 401 has no series, and
// a series missing must not pass for one gone).
func scrape(base string) (string, error) {
	req, err := http.NewRequest("GET", base+"/metrics", nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+metricsToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err == nil && res.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s/metrics: %s: %.200s", base, res.Status, b)
	}
	return string(b), err
}
