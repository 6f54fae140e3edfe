package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape fetches the metrics and parses them as Prometheus text.
func scrape(t *testing.T, m *Metrics) map[string]*model.Sample {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	res, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	dec := expfmt.NewDecoder(strings.NewReader(string(body)), expfmt.NewFormat(expfmt.TypeTextPlain))
	samples, err := expfmt.ExtractSamples(&expfmt.DecodeOptions{Timestamp: model.Now()}, mustFamilies(t, dec)...)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*model.Sample{}
	for _, s := range samples {
		out[s.Metric.String()] = s
	}
	return out
}

func TestMetricsParseAndMove(t *testing.T) {
	m := New()
	m.Instances(func() map[string]int { return map[string]int{"idle": 2, "busy": 1} })
	m.AsyncQueueDepth(func() float64 { return 5 })
	m.Invocation("default", "f", "$LATEST", 0, true, 20*time.Millisecond, 0.25)
	m.Invocation("default", "f", "$LATEST", 0, true, 30*time.Millisecond, 0.25)
	m.Invocation("default", "f", "$LATEST", 433, true, 3*time.Second, 0.75)
	m.Invocation("default", "f", "$LATEST", 432, false, 0, 0)
	m.ColdStart("default", "f", map[string]time.Duration{"total": 50 * time.Millisecond, "runtime_create": 40 * time.Millisecond})
	m.ImagePull(2 * time.Second)
	got := scrape(t, m)
	for name, want := range map[string]float64{
		`scfd_invocations_total{function="f", namespace="default", qualifier="$LATEST", result="success"}`:   2,
		`scfd_invocations_total{function="f", namespace="default", qualifier="$LATEST", result="timeout"}`:   1,
		`scfd_invocations_total{function="f", namespace="default", qualifier="$LATEST", result="throttled"}`: 1,
		`scfd_gb_seconds_total{function="f", namespace="default"}`:                                           1.25,
		`scfd_cold_starts_total{function="f", namespace="default"}`:                                          1,
		`scfd_invocation_duration_seconds_count{function="f", namespace="default"}`:                          3,
		`scfd_cold_start_seconds_count{phase="runtime_create"}`:                                              1,
		`scfd_image_pull_seconds_count`:                                                                      1,
		`scfd_instances{state="idle"}`:                                                                       2,
		`scfd_async_queue_depth`:                                                                             5,
	} {
		s, ok := got[name]
		if !ok {
			t.Errorf("%s missing", name)
			continue
		}
		if float64(s.Value) != want {
			t.Errorf("%s = %v, want %v", name, s.Value, want)
		}
	}
	if _, ok := got[`go_goroutines`]; !ok {
		t.Error("the Go runtime collector is missing")
	}
	m.Forget("default", "f")
	if _, ok := scrape(t, m)[`scfd_cold_starts_total{function="f", namespace="default"}`]; ok {
		t.Error("a forgotten function's series remain")
	}
}

func mustFamilies(t *testing.T, dec expfmt.Decoder) []*dto.MetricFamily {
	t.Helper()
	var out []*dto.MetricFamily
	for {
		mf := &dto.MetricFamily{}
		if err := dec.Decode(mf); err != nil {
			if err == io.EOF {
				return out
			}
			t.Fatalf("not Prometheus text: %v", err)
		}
		out = append(out, mf)
	}
}
