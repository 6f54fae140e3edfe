package invoke

import (
	"context"
	"sync"
	"testing"

	"github.com/scfd/scfd/internal/pool"
	"github.com/scfd/scfd/internal/scf"
)

// addrRecorder remembers the address of the last instance lent.
type addrRecorder struct {
	Instances
	mu   sync.Mutex
	addr string
}

func (r *addrRecorder) Acquire(ctx context.Context, fn *scf.Function) (pool.Lease, error) {
	l, err := r.Instances.Acquire(ctx, fn)
	if err == nil {
		r.mu.Lock()
		r.addr = l.Instance().Addr()
		r.mu.Unlock()
	}
	return l, err
}

// NewRealInvoker returns an Invoker over the real pool and runc (for the
// external benchmark), the name of a stored function of the test image,
// and a function returning the address of the last instance lent.
func NewRealInvoker(tb testing.TB) (*Invoker, string, func() string) {
	e := newRealEnv(tb)
	name := e.function(tb, nil)
	rec := &addrRecorder{Instances: e.pool}
	iv := New(Options{Functions: e.st, Instances: rec, Logs: e.logs, Credentials: e.issuer, Account: acct})
	return iv, name, func() string {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return rec.addr
	}
}
