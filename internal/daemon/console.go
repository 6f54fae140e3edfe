package daemon

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/scfd/scfd/internal/api"
	"github.com/scfd/scfd/internal/console"
	"github.com/scfd/scfd/internal/invocation"
	"github.com/scfd/scfd/internal/monitor"
	"github.com/scfd/scfd/internal/pool"
	"github.com/scfd/scfd/internal/registry"
)

// MonitorFlushInterval is how often the monitor's minutes are written;
// MonitorSampleInterval how often the pool's instances are counted.
const (
	MonitorFlushInterval  = time.Minute
	MonitorSampleInterval = time.Second
)

// monitored is what the recorder tells the monitor of an invocation.
func monitored(f invocation.Finished, gbSeconds float64) monitor.Invocation {
	fn, res := f.Function, f.Result
	inv := monitor.Invocation{
		Key:      monitor.Key{Namespace: fn.Namespace, Function: fn.Name, Qualifier: fn.Version},
		Duration: time.Duration(res.Duration * float64(time.Millisecond)),
		Error:    res.RetCode != 0,
		Refused:  !f.Billed,
	}
	if f.Billed {
		inv.GBSeconds = gbSeconds
	}
	if f.Cold != nil {
		inv.Cold, inv.ColdStart = true, f.Cold.Total
	}
	return inv
}

// instanceCounts counts the pool's live instances per version.
func instanceCounts(p *pool.Pool) func() map[monitor.Key]int {
	return func() map[monitor.Key]int {
		out := map[monitor.Key]int{}
		for _, in := range p.Instances() {
			out[monitor.Key{Namespace: in.Namespace, Function: in.Function, Qualifier: in.Version}]++
		}
		return out
	}
}

// poolInstances lists the pool's instances for ListInstances.
type poolInstances struct{ p *pool.Pool }

func (l poolInstances) Instances() []api.InstanceInfo {
	ins := l.p.Instances()
	out := make([]api.InstanceInfo, 0, len(ins))
	for _, in := range ins {
		out = append(out, api.InstanceInfo{
			Namespace: in.Namespace, Function: in.Function, Qualifier: in.Version, ID: in.ID, State: in.State.String(),
			Requests: in.Requests, Served: in.Served, Provisioned: in.Provisioned, Started: in.Started, LastUsed: in.LastUsed,
		})
	}
	return out
}

// withConsole returns the API listener's handler: next, with the console
// under /console/ (its cookie Secure when the listener speaks HTTPS). Its
// request tester reaches web functions at gateway; its create-function
// form lists reg.
func withConsole(apiSrv *api.Server, next http.Handler, keys api.KeyLookup, gateway string, reg *embedded, log *slog.Logger, secure bool) http.Handler {
	opts := console.Options{API: apiSrv, Keys: keys, Logger: log, GatewayURL: gateway, SecureCookie: secure}
	if reg != nil && reg.reg != nil {
		opts.Images = registryImages{reg.reg}
		if hosts := reg.reg.Hosts(); len(hosts) > 0 {
			opts.RegistryHost = hosts[0]
		}
	}
	c := console.New(opts)
	mux := http.NewServeMux()
	mux.Handle(console.Prefix, c)
	mux.Handle("/", next)
	return mux
}

// registryImages lists the embedded registry for the console.
type registryImages struct{ r *registry.Registry }

func (i registryImages) Repositories(ctx context.Context, scope api.Scope) ([]console.Repository, error) {
	repos, err := i.r.Repositories(ctx, scope)
	if err != nil {
		return nil, err
	}
	out := make([]console.Repository, len(repos))
	for n, r := range repos {
		out[n] = console.Repository{Name: r.Name, Tags: r.Tags}
	}
	return out, nil
}
