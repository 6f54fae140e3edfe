package invoke_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	neturl "net/url"
	"slices"
	"testing"
	"time"

	"github.com/scfd/scfd/internal/api"
	"github.com/scfd/scfd/internal/client"
	"github.com/scfd/scfd/internal/invoke"
	"github.com/scfd/scfd/internal/tc3"
)

// BenchmarkInvokeOverhead measures what the platform adds to a warm
// synchronous invocation: Invoke through the SCF API (a signed client, the
// API server, the invoker, the pool, the log) against a direct POST
// /event-invoke to the same warm instance, and the same POST through a
// plain Go reverse proxy (one more HTTP exchange and nothing else, the
// floor of any platform in front), alternated in the same run. It reports
// the p50 and p99 of each and of their differences.
func BenchmarkInvokeOverhead(b *testing.B) {
	iv, name, addr := invoke.NewRealInvoker(b)
	cred := tc3.Credential{SecretID: "AKIDbench", SecretKey: "bench"}
	srv := api.New(api.Options{Store: nil, Invoker: iv, Keys: api.KeyLookupFunc(func(string) (string, api.Scope, error) {
		return cred.SecretKey, api.Scope{Admin: true}, nil
	})})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	c := client.New(hs.URL, cred)
	ctx := context.Background()
	event := `{"k":"v"}`
	call := func() {
		var resp api.InvokeResponse
		if err := c.Call(ctx, "Invoke", api.InvokeRequest{FunctionName: name, ClientContext: event}, &resp); err != nil {
			b.Fatal(err)
		}
		if resp.Result.InvokeResult != 0 {
			b.Fatalf("result %+v", resp.Result)
		}
	}
	call() // cold start
	direct := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}
	url := "http://" + addr() + "/event-invoke"
	// The floor of any platform in front: one more HTTP exchange and
	// nothing else, a plain Go reverse proxy to the same instance.
	target, _ := neturl.Parse("http://" + addr())
	hop := httptest.NewServer(httputil.NewSingleHostReverseProxy(target))
	defer hop.Close()
	post := func() { postTo(b, direct, url, event) }
	proxied := func() { postTo(b, direct, hop.URL+"/event-invoke", event) }
	for range 50 { // warm every path
		call()
		post()
		proxied()
	}
	n := max(b.N, 500)
	viaAPI := make([]time.Duration, 0, n)
	viaPost := make([]time.Duration, 0, n)
	viaHop := make([]time.Duration, 0, n)
	b.ResetTimer()
	for range n {
		t0 := time.Now()
		call()
		t1 := time.Now()
		post()
		t2 := time.Now()
		proxied()
		t3 := time.Now()
		viaAPI = append(viaAPI, t1.Sub(t0))
		viaPost = append(viaPost, t2.Sub(t1))
		viaHop = append(viaHop, t3.Sub(t2))
	}
	b.StopTimer()
	slices.Sort(viaAPI)
	slices.Sort(viaPost)
	slices.Sort(viaHop)
	pct := func(d []time.Duration, p float64) time.Duration { return d[int(float64(len(d)-1)*p)] }
	for _, p := range []struct {
		name string
		q    float64
	}{{"p50", 0.50}, {"p99", 0.99}} {
		a, d, h := pct(viaAPI, p.q), pct(viaPost, p.q), pct(viaHop, p.q)
		b.ReportMetric(float64(a.Microseconds()), "api-"+p.name+"-µs")
		b.ReportMetric(float64(d.Microseconds()), "direct-"+p.name+"-µs")
		b.ReportMetric(float64((a - d).Microseconds()), "overhead-"+p.name+"-µs")
		b.ReportMetric(float64((h - d).Microseconds()), "hop-"+p.name+"-µs")
		b.Logf("%s: Invoke via API %v, direct POST %v, overhead %v, ratio %.2fx; through a plain Go reverse proxy %v (+%v): Invoke adds %v over that hop (n=%d)",
			p.name, a, d, a-d, float64(a)/float64(d), h, h-d, a-h, n)
	}
}

// postTo posts event to url and reads the answer.
func postTo(b *testing.B, c *http.Client, url, event string) {
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader([]byte(event)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Scf-Request-Id", "direct")
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}
