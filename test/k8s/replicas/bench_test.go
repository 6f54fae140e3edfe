//go:build k8s

package replicas

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/scfd/scfd/internal/api"
	"github.com/scfd/scfd/internal/client"
	scfdcluster "github.com/scfd/scfd/internal/cluster"
	"github.com/scfd/scfd/internal/tc3"
)

// The benchmark's load: benchWorkers clients with kept-alive connections,
// each sending one gateway request after the other to benchFunctions web
// functions, for benchFor after a warm-up.
const (
	benchWorkers   = 16
	benchFunctions = 6
	benchFor       = 5 * time.Second
	benchWarmUp    = 3 * time.Second
	benchSerial    = 300 // sequential requests of each side of the forwarding comparison
)

// BenchmarkReplicas measures deploy/kubernetes in the test cluster: the
// gateway's throughput through the Service with 3 replicas and with 1,
// and the latency a forwarded request adds (a replica that does not own
// the function, against its owner, each reached by Pod IP).
func BenchmarkReplicas(b *testing.B) {
	d := deploy(b)
	ctx := context.Background()
	c := client.New(d.api(), tc3.Credential{SecretID: secretID, SecretKey: secretKey})
	var names []string
	for i := range benchFunctions {
		name := fmt.Sprintf("bench-%d", i)
		names = append(names, name)
		err := c.Call(ctx, "CreateFunction", api.CreateFunctionRequest{
			FunctionName: name, Type: "HTTP", MemorySize: 64, Timeout: 30,
			InstanceConcurrencyConfig: &api.InstanceConcurrencyConfig{MaxConcurrency: 8},
			Code:                      &api.Code{ImageConfig: &api.ImageConfig{ImageType: "personal", ImageUri: d.reg.Ref("e2e/testfunc:v1")}},
		}, nil)
		if err != nil {
			b.Fatalf("CreateFunction %s: %v", name, err)
		}
	}
	for _, name := range names {
		deadline := time.Now().Add(2 * time.Minute)
		for {
			var f api.GetFunctionResponse
			err := c.Call(ctx, "GetFunction", api.GetFunctionRequest{FunctionName: name}, &f)
			if err == nil && f.Status == "Active" {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("function %s: %s %v", name, f.Status, err)
			}
			time.Sleep(200 * time.Millisecond) // polling the function's status
		}
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchWorkers, MaxConnsPerHost: benchWorkers}, Timeout: 30 * time.Second}

	// Forwarding: the owner of bench-0 and another replica, by Pod IP.
	pods := d.pods(ctx, b)
	var members []scfdcluster.Member
	for _, p := range pods {
		members = append(members, scfdcluster.Member{ID: p.Name})
	}
	owner, _ := scfdcluster.NewView("", members).Owner(scfdcluster.Key{Namespace: "default", Function: names[0]})
	var direct, other string
	for _, p := range pods {
		base := "http://" + net.JoinHostPort(p.Status.PodIP, "9200")
		if p.Name == owner.ID {
			direct = base
		} else if other == "" {
			other = base
		}
	}
	path := "/default/" + names[0] + "/event-invoke"
	var own, fwd []time.Duration
	for i := range benchSerial + 20 {
		for _, side := range []struct {
			base string
			into *[]time.Duration
		}{{direct, &own}, {other, &fwd}} {
			took, err := benchRequest(hc, side.base+path)
			if err != nil {
				b.Fatal(err)
			}
			if i >= 20 { // the first ones start the instance and the connections
				*side.into = append(*side.into, took)
			}
		}
	}
	ownP50, fwdP50 := median(own), median(fwd)

	coldBefore := d.coldStarts(ctx, b)
	three, threeP50, threeP99 := benchThroughput(b, hc, d.gateway(), names)
	coldThree := d.coldStarts(ctx, b) - coldBefore
	scale(ctx, b, d, 1)
	coldBefore = d.coldStarts(ctx, b)
	one, oneP50, oneP99 := benchThroughput(b, hc, d.gateway(), names)
	coldOne := d.coldStarts(ctx, b) - coldBefore

	fmt.Printf("gateway requests through the Service, %d clients, %d web functions, %s each after a warm-up:\n", benchWorkers, benchFunctions, benchFor)
	fmt.Printf("  3 replicas  %7.0f req/s   p50 %6.1f ms, p99 %6.1f ms, cold starts %d\n", three, ms(threeP50), ms(threeP99), coldThree)
	fmt.Printf("  1 replica   %7.0f req/s   p50 %6.1f ms, p99 %6.1f ms, cold starts %d   3 replicas/1 replica = %.2f\n",
		one, ms(oneP50), ms(oneP99), coldOne, three/one)
	fmt.Printf("one request at a time, median of %d, by Pod IP:\n", benchSerial)
	fmt.Printf("  to the function's owner           %7.0f µs\n", float64(ownP50.Microseconds()))
	fmt.Printf("  to another replica, forwarded     %7.0f µs   forwarded/direct = %.2f, added %d µs\n",
		float64(fwdP50.Microseconds()), float64(fwdP50)/float64(ownP50), (fwdP50 - ownP50).Microseconds())
	b.ReportMetric(three, "req/s-3-replicas")
	b.ReportMetric(one, "req/s-1-replica")
	b.ReportMetric(three/one, "3/1")
	b.ReportMetric(float64((fwdP50 - ownP50).Microseconds()), "forwarded-added-µs")
}

// benchRequest sends one gateway request and returns how long it took.
func benchRequest(hc *http.Client, url string) (time.Duration, error) {
	start := time.Now()
	res, err := hc.Post(url, "application/json", strings.NewReader(`{}`))
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if err == nil && res.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: HTTP %d", url, res.StatusCode)
	}
	return time.Since(start), err
}

// benchThroughput starts an instance of each function, runs benchWorkers
// clients against the gateway at base for benchWarmUp, then counts their
// answers for benchFor. It returns the rate and the median and 99th
// percentile latencies of the answers counted.
func benchThroughput(b *testing.B, hc *http.Client, base string, names []string) (rate float64, p50, p99 time.Duration) {
	// An instance of each function on its owner before the warm-up.
	for _, name := range names {
		if _, err := benchRequest(hc, base+"/default/"+name+"/event-invoke"); err != nil {
			b.Fatal(err)
		}
	}
	var counting atomic.Bool
	var answered, failed atomic.Int64
	var mu sync.Mutex
	var took []time.Duration
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range benchWorkers {
		wg.Go(func() {
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				d, err := benchRequest(hc, base+"/default/"+names[i%len(names)]+"/event-invoke")
				switch {
				case !counting.Load():
				case err != nil:
					failed.Add(1)
				default:
					answered.Add(1)
					mu.Lock()
					took = append(took, d)
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(benchWarmUp) // the warm-up: instances started, connections open
	counting.Store(true)
	start := time.Now()
	time.Sleep(benchFor) // the measured window
	counting.Store(false)
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	if failed.Load() > 0 {
		b.Errorf("%d requests failed", failed.Load())
	}
	if len(took) == 0 {
		b.Fatal("no request answered")
	}
	slices.Sort(took)
	return float64(answered.Load()) / elapsed.Seconds(), took[len(took)/2], took[len(took)*99/100]
}

// coldStarts sums scfd_cold_starts_total over the running replicas.
func (d *deployment) coldStarts(ctx context.Context, b *testing.B) int {
	n := 0.0
	for _, p := range d.pods(ctx, b) {
		metrics, err := scrape("http://" + net.JoinHostPort(p.Status.PodIP, "9100"))
		if err != nil {
			b.Fatal(err)
		}
		for _, line := range strings.Split(metrics, "\n") {
			if rest, ok := strings.CutPrefix(line, "scfd_cold_starts_total{"); ok {
				var v float64
				if _, err := fmt.Sscan(rest[strings.LastIndexByte(rest, ' ')+1:], &v); err == nil {
					n += v
				}
			}
		}
	}
	return int(n)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// scale sets the Deployment's replicas to n and waits until n Pods run,
// each seeing n replicas.
func scale(ctx context.Context, b *testing.B, d *deployment, n int) {
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, n)
	if _, err := d.client.AppsV1().Deployments("scfd-system").Patch(ctx, "scfd", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		list, err := d.client.CoreV1().Pods("scfd-system").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=scfd"})
		if err != nil {
			b.Fatal(err)
		}
		if len(list.Items) == n {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d scfd Pods after 2 minutes, want %d", len(list.Items), n)
		}
		time.Sleep(500 * time.Millisecond) // polling the Pods
	}
	d.waitReady(ctx, b, d.svc)
	d.checkReplicas(ctx, b)
}

// median returns the median of ds.
func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
