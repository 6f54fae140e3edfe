//go:build k8s

package k8srt

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/scfd/scfd/internal/localrt"
	"github.com/scfd/scfd/internal/netns"
	"github.com/scfd/scfd/internal/sandbox"
)

// firstAnswer GETs /env until it answers, for at most 30 s.
func firstAnswer(addr string) error {
	c := http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := c.Get("http://" + addr + "/env")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /env: %s", resp.Status)
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(time.Millisecond)
	}
}

// coldStart starts an instance through d, takes the first answer, and
// stops it; it returns the time from Start to the answer.
func coldStart(b *testing.B, d sandbox.Driver, spec sandbox.Spec) time.Duration {
	b.Helper()
	t0 := time.Now()
	in, err := d.Start(context.Background(), spec)
	if err != nil {
		b.Fatal(err)
	}
	if err := firstAnswer(in.Addr()); err != nil {
		b.Fatal(err)
	}
	took := time.Since(t0)
	if err := in.Stop(context.Background()); err != nil {
		b.Fatal(err)
	}
	return took
}

// deployment is what peers built on Kubernetes do: a Deployment of the
// same image scaled from 0 to 1, ready by a 1 s TCP readiness probe.
type deployment struct {
	c    kubernetes.Interface
	ns   string
	name string
}

func newDeployment(b *testing.B, c kubernetes.Interface, ns, ref string, spec sandbox.Spec) *deployment {
	b.Helper()
	pod, err := podFor(spec, sandbox.Account{}, ns, "")
	if err != nil {
		b.Fatal(err)
	}
	pod.Spec.RestartPolicy = corev1.RestartPolicyAlways
	pod.Spec.Hostname = ""
	pod.Spec.Containers[0].ReadinessProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(9000)}},
		PeriodSeconds: 1,
	}
	labels := map[string]string{"app": "bench-deployment"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "bench", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: new(int32(0)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: pod.Spec},
		},
	}
	if _, err := c.AppsV1().Deployments(ns).Create(context.Background(), dep, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	return &deployment{c: c, ns: ns, name: "bench"}
}

func (d *deployment) scale(n int32) error {
	patch := []byte(fmt.Sprintf(`{"spec":{"replicas":%d}}`, n))
	_, err := d.c.AppsV1().Deployments(d.ns).Patch(context.Background(), d.name, types.MergePatchType, patch, metav1.PatchOptions{}, "scale")
	return err
}

// coldStart scales to 1, waits for a Ready Pod through a watch, takes the
// first answer from its IP, and scales back to 0.
func (d *deployment) coldStart(b *testing.B) time.Duration {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pods := d.c.CoreV1().Pods(d.ns)
	w, err := pods.Watch(ctx, metav1.ListOptions{LabelSelector: "app=bench-deployment"})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	t0 := time.Now()
	if err := d.scale(1); err != nil {
		b.Fatal(err)
	}
	var ip string
	for ip == "" {
		ev, ok := <-w.ResultChan()
		if !ok {
			// The API server may end a watch; a new one lists the Pods first.
			w.Stop()
			if w, err = pods.Watch(ctx, metav1.ListOptions{LabelSelector: "app=bench-deployment"}); err != nil {
				b.Fatal(err)
			}
			continue
		}
		p, isPod := ev.Object.(*corev1.Pod)
		if !isPod || ev.Type == watch.Deleted || p.DeletionTimestamp != nil {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ip = p.Status.PodIP
			}
		}
	}
	if err := firstAnswer(ip + ":9000"); err != nil {
		b.Fatal(err)
	}
	took := time.Since(t0)
	if err := d.scale(0); err != nil {
		b.Fatal(err)
	}
	for {
		list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: "app=bench-deployment"})
		if err != nil {
			b.Fatal(err)
		}
		if len(list.Items) == 0 {
			return took
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// BenchmarkColdStart measures, side by side, the time from asking for an
// instance to its first answer: the Kubernetes backend, the local backend
// on this machine, and a Deployment scaled from 0 to 1 with a 1 s
// readiness probe. It prints the three means and the ratios.
//
//	go test -tags k8s -run '^$' -bench ColdStart -benchtime 5x ./internal/k8srt
func BenchmarkColdStart(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("the local backend needs root")
	}
	c := clientFromEnv(b)
	reg := startRegistry(b)
	ns := namespace(b, c)
	d := newDriver(b, c, ns, reg, sandbox.Account{})
	img, root, _ := pushConformanceImage(b, reg)
	local, err := localrt.New(context.Background(), localrt.Options{
		DataDir: filepath.Join(b.TempDir(), "local"), CgroupParent: "scfdk8sbench",
		Network: netns.Options{Name: "scfdk8sb", Subnet: "10.209.250.0/24"},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		local.Close(context.Background())
		local.Network().RemoveFirewall()
	})
	seq := 0
	spec := func() sandbox.Spec {
		seq++
		return sandbox.Spec{
			ID: fmt.Sprintf("bench%d", seq), Function: "bench", ImageRef: root,
			Layers: img.Layers, Image: img.Config, MemoryMB: 128,
		}
	}
	dep := newDeployment(b, c, ns, root, spec())
	// Warm up: the node has the image, the first start of each is not measured.
	coldStart(b, d, spec())
	coldStart(b, local, spec())
	dep.coldStart(b)

	var k8s, loc, depl time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k8s += coldStart(b, d, spec())
		loc += coldStart(b, local, spec())
		depl += dep.coldStart(b)
	}
	b.StopTimer()
	n := time.Duration(b.N)
	k8s, loc, depl = k8s/n, loc/n, depl/n
	b.ReportMetric(float64(k8s.Microseconds())/1000, "k8s-ms")
	b.ReportMetric(float64(loc.Microseconds())/1000, "local-ms")
	b.ReportMetric(float64(depl.Microseconds())/1000, "deployment-ms")
	fmt.Printf("\ncold start to first answer, mean of %d, same image, same machine\n", b.N)
	fmt.Printf("  %-40s %10.1f ms\n", "local backend (runc)", float64(loc.Microseconds())/1000)
	fmt.Printf("  %-40s %10.1f ms  %6.1fx local\n", "kubernetes backend (scfd readiness)", float64(k8s.Microseconds())/1000, float64(k8s)/float64(loc))
	fmt.Printf("  %-40s %10.1f ms  %6.1fx local  %5.2fx kubernetes backend\n", "Deployment 0→1, 1 s readiness probe",
		float64(depl.Microseconds())/1000, float64(depl)/float64(loc), float64(depl)/float64(k8s))
}

// BenchmarkLogLatency measures how long after the server answered a line
// it printed before answering reaches Spec.Logs: the kubelet follows the
// container's log file and the API server relays it.
//
//	go test -tags k8s -run '^$' -bench LogLatency -benchtime 50x ./internal/k8srt
func BenchmarkLogLatency(b *testing.B) {
	c := clientFromEnv(b)
	reg := startRegistry(b)
	ns := namespace(b, c)
	d := newDriver(b, c, ns, reg, sandbox.Account{})
	img, root, _ := pushConformanceImage(b, reg)
	got := make(chan time.Time, 16)
	in, err := d.Start(context.Background(), sandbox.Spec{
		ID: "latency", Function: "latency", ImageRef: root, Image: img.Config, MemoryMB: 128,
		Logs: func(l sandbox.LogLine) { got <- time.Now() },
	})
	if err != nil {
		b.Fatal(err)
	}
	defer in.Stop(context.Background())
	var total, worst time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := http.Get("http://" + in.Addr() + "/print?n=1&text=x")
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		answered := time.Now()
		select {
		case at := <-got:
			lag := max(at.Sub(answered), 0)
			total += lag
			worst = max(worst, lag)
		case <-time.After(10 * time.Second):
			b.Fatal("line did not arrive in 10 s")
		}
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "mean-lag-ms")
	b.ReportMetric(float64(worst.Microseconds())/1000, "max-lag-ms")
}
