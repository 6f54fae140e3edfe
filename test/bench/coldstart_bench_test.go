package bench

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// BenchmarkFirstCallAfterActive creates web functions through the SCF
// API, waits until each is Active (GetFunction every 20 ms) and times its
// first call through the gateway to the first answer: on a scfd serve
// that prepares containers from deploy on (the default) and, side by
// side in the same run, on one with SCFD_PREPARED_MAX_MEMORY=0 (every
// first call creates its container). Medians of 9, interleaved.
func BenchmarkFirstCallAfterActive(b *testing.B) {
	prepared := serve(b, nil)
	created := serve(b, map[string]string{"SCFD_PREPARED_MAX_MEMORY": "0"})
	images := map[*server]string{
		prepared: prepared.pushWebFunc(b, "bench/web:1"),
		created:  created.pushWebFunc(b, "bench/web:1"),
	}
	first := func(s *server, fn string) time.Duration {
		s.createWeb(b, fn, images[s], nil)
		time.Sleep(50 * time.Millisecond) // a client's next poll
		t0 := time.Now()
		get(b, s.gateway+"/default/"+fn+"/addr")
		return time.Since(t0)
	}
	const n = 9
	var p, c []time.Duration
	for i := range max(b.N, n) {
		p = append(p, first(prepared, fmt.Sprintf("first%d", i)))
		c = append(c, first(created, fmt.Sprintf("first%d", i)))
	}
	med := func(ds []time.Duration) time.Duration {
		s := slices.Clone(ds)
		slices.Sort(s)
		return s[len(s)/2]
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	pm, cm := med(p), med(c)
	b.ReportMetric(ms(pm), "prepared-ms-p50")
	b.ReportMetric(ms(cm), "created-ms-p50")
	fmt.Printf("first call through the gateway after CreateFunction reached Active, median of %d:\n", len(p))
	fmt.Printf("  scfd serve, containers prepared from deploy on  %7.1f ms\n", ms(pm))
	fmt.Printf("  scfd serve, SCFD_PREPARED_MAX_MEMORY=0          %7.1f ms   prepared/not prepared = %.2f\n", ms(cm), float64(pm)/float64(cm))
}
