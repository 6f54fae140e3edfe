package invoke

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/scfd/scfd/internal/credentials"
	"github.com/scfd/scfd/internal/gateway"
	"github.com/scfd/scfd/internal/logs"
	"github.com/scfd/scfd/internal/scf"
	"github.com/scfd/scfd/internal/store"
)

// BenchmarkWebRequest measures the CPU and allocations the gateway and
// this engine spend on one web request (parsing the path, the function
// from the store, the lifecycle, the proxy to a server on loopback, the
// log entry), without the client's side: the counts to watch when the
// request path changes.
func BenchmarkWebRequest(b *testing.B) {
	lease, _ := fakeSetup(b, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	ctx := context.Background()
	st, err := store.Open(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	fn := testFunction()
	fn.Type, fn.Concurrency.MaxConcurrency = scf.TypeHTTP, 16
	if err := st.CreateFunction(ctx, fn); err != nil {
		b.Fatal(err)
	}
	ls, err := logs.Open(ctx, st, logs.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer ls.Close()
	iv := New(Options{Functions: st, Instances: &fakeInstances{lease: lease}, Logs: ls,
		Credentials: credentials.NewIssuer(credentials.IssuerOptions{Reuse: time.Minute})})
	gw := gateway.New(gateway.Options{Functions: st, Engine: iv})
	b.ReportAllocs()
	for b.Loop() {
		lease.outcomes = lease.outcomes[:0]
		rec := httptest.NewRecorder()
		gw.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/default/fn/", nil))
		if rec.Code != 200 {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}
