package daemon

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/scfd/scfd/internal/invocation"
	"github.com/scfd/scfd/internal/localrt"
	"github.com/scfd/scfd/internal/meter"
	"github.com/scfd/scfd/internal/metrics"
	"github.com/scfd/scfd/internal/monitor"
	"github.com/scfd/scfd/internal/pool"
	"github.com/scfd/scfd/internal/sandbox"
	"github.com/scfd/scfd/internal/scf"
	"github.com/scfd/scfd/internal/store"
)

// recorder is the invocation path's Recorder: it meters billed
// invocations durably and counts every invocation in the metrics.
type recorder struct {
	meter   *meter.Meter
	metrics *metrics.Metrics
	monitor *monitor.Monitor // the console's time series
	log     *slog.Logger
}

func (r recorder) Record(ctx context.Context, f invocation.Finished) {
	fn, res := f.Function, f.Result
	inv := meter.Invocation{
		RequestID: res.RequestID, RetryNum: f.RetryNum, Namespace: fn.Namespace, Function: fn.Name,
		Qualifier: fn.Version, MemoryMB: fn.MemorySize, BillDuration: res.BillDuration, Error: res.RetCode != 0,
		Replayable: f.Async,
	}
	if f.Billed {
		if err := r.meter.Record(ctx, inv); err != nil {
			r.log.Error("metering an invocation", "request_id", res.RequestID, "err", err)
		}
	}
	r.metrics.Invocation(fn.Namespace, fn.Name, fn.Version, res.RetCode, f.Billed,
		time.Duration(res.Duration*float64(time.Millisecond)), inv.GBSeconds())
	r.monitor.Record(monitored(f, inv.GBSeconds()))
	if c := f.Cold; c != nil {
		r.metrics.ColdStart(fn.Namespace, fn.Name, coldPhases(c))
	}
}

// coldPhases names the phases of a cold start for the metrics: the Init
// Report's names in snake case (RuntimeCreate → runtime_create), and the
// total.
func coldPhases(c *invocation.ColdStart) map[string]time.Duration {
	out := make(map[string]time.Duration, len(c.Phases)+1)
	for _, p := range c.Phases {
		out[snake(p.Name)] = p.Duration
	}
	out["total"] = c.Total
	return out
}

// snake turns ImageCheck into image_check and RootFS into rootfs.
func snake(name string) string {
	var b strings.Builder
	for i, r := range name {
		lower := unicode.ToLower(r)
		if i > 0 && r != lower && !unicode.IsUpper(rune(name[i-1])) {
			b.WriteByte('_')
		}
		b.WriteRune(lower)
	}
	return b.String()
}

// instanceStates counts the pool's instances by state, for the metrics.
func instanceStates(p *pool.Pool) func() map[string]int {
	return func() map[string]int {
		out := map[string]int{}
		for _, s := range []sandbox.State{sandbox.Starting, sandbox.Ready, sandbox.Busy, sandbox.Idle} {
			out[s.String()] = 0
		}
		if p != nil {
			for _, in := range p.Instances() {
				out[in.State.String()]++
			}
		}
		return out
	}
}

// provisionedIdle reads, per version, how many provisioned instances are
// idle, with the version's memory size (published versions never change,
// so sizes are remembered).
func provisionedIdle(p *pool.Pool, st *store.Store) func() []meter.ProvisionedIdle {
	var mu sync.Mutex
	sizes := map[meter.Key]int64{}
	return func() []meter.ProvisionedIdle {
		byKey := map[meter.Key]*meter.ProvisionedIdle{}
		for _, in := range p.Instances() {
			if !in.Provisioned || in.State == sandbox.Starting {
				continue
			}
			k := meter.Key{Namespace: in.Namespace, Function: in.Function, Qualifier: in.Version}
			s := byKey[k]
			if s == nil {
				s = &meter.ProvisionedIdle{Key: k}
				byKey[k] = s
			}
			if in.Requests == 0 {
				s.Idle++
			}
		}
		out := make([]meter.ProvisionedIdle, 0, len(byKey))
		mu.Lock()
		defer mu.Unlock()
		for k, s := range byKey {
			mb, ok := sizes[k]
			if !ok {
				fn, err := st.GetFunction(context.Background(), k.Namespace, k.Function, k.Qualifier)
				if err != nil {
					continue
				}
				mb = fn.MemorySize
				sizes[k] = mb
			}
			s.MemoryMB = mb
			out = append(out, *s)
		}
		return out
	}
}

// apiMux serves the SCF API at /, the metrics at /metrics (to the
// scrapers allowed) and the readiness at /healthz/ready (to anyone).
func apiMux(apiSrv http.Handler, m *metrics.Metrics, scrapers metrics.Scrapers, ready http.HandlerFunc) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Guard(m.Handler(), scrapers))
	mux.Handle("GET /healthz/ready", ready)
	mux.Handle("/", apiSrv)
	return mux
}

// OutboundInterval is how often instances' outbound traffic is metered.
const OutboundInterval = 10 * time.Second

// egressCounter is a driver that counts its instances' outbound traffic
// (the local runtime does).
type egressCounter interface {
	Egress() (map[string]localrt.Egress, error)
}

// outbound reads a driver's outbound counts for the meter.
func outbound(d egressCounter) func() (map[string]meter.InstanceBytes, error) {
	return func() (map[string]meter.InstanceBytes, error) {
		eg, err := d.Egress()
		if err != nil {
			return nil, err
		}
		out := make(map[string]meter.InstanceBytes, len(eg))
		for id, e := range eg {
			v := e.Version
			if v == "" {
				v = scf.Latest
			}
			out[id] = meter.InstanceBytes{Key: meter.Key{Namespace: e.Namespace, Function: e.Function, Qualifier: v}, Bytes: e.Bytes}
		}
		return out, nil
	}
}
