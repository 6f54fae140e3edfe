package pool

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/scf"
)

// publish stores fn as published version v, as PublishVersion will.
func (e *fakeEnv) publish(t *testing.T, fn *scf.Function, v string) *scf.Function {
	t.Helper()
	ctx := context.Background()
	latest := *fn
	latest.Version = scf.Latest
	if _, err := e.st.GetFunction(ctx, fn.Namespace, fn.Name, scf.Latest); errors.Is(err, errdefs.ErrNotFound) {
		mustNil(t, e.st.CreateFunction(ctx, &latest))
	}
	pub := *fn
	pub.Version = v
	pub.FunctionID = latest.FunctionID
	mustNil(t, e.st.CreateFunction(ctx, &pub))
	got, err := e.st.GetFunction(ctx, fn.Namespace, fn.Name, v)
	mustNil(t, err)
	return got
}

func provisioned(t *testing.T, p *Pool, fn *scf.Function, v string) scf.ProvisionedConcurrency {
	t.Helper()
	_, got, err := p.GetProvisioned(context.Background(), fn.Namespace, fn.Name, v)
	mustNil(t, err)
	if len(got) != 1 {
		t.Fatalf("GetProvisioned(%s) = %v, want one version", v, got)
	}
	return got[0]
}

func TestProvisionedInstancesStartStayAndComeBack(t *testing.T) {
	var mu sync.Mutex
	var reports []string
	e := newFakeEnv(t, func(o *Options) {
		o.OnProvisioned = func(fn *scf.Function, id string, cs ColdStart) {
			mu.Lock()
			defer mu.Unlock()
			if cs.Provisioned {
				reports = append(reports, fn.Version+" "+id)
			}
		}
	})
	ctx := context.Background()
	v1 := e.publish(t, testFunction("f"), "1")

	err := e.p.PutProvisioned(ctx, "default", "f", scf.Latest, 2)
	if !errors.Is(err, errdefs.ErrInvalidArgument) || errdefs.Resource(err) != "Qualifier" {
		t.Errorf("PutProvisioned on $LATEST = %v, want InvalidArgument/Qualifier", err)
	}
	err = e.p.PutProvisioned(ctx, "default", "f", "7", 2)
	if !errors.Is(err, errdefs.ErrNotFound) || errdefs.Resource(err) != "Version" {
		t.Errorf("PutProvisioned on a missing version = %v, want NotFound/Version", err)
	}

	e.d.gate = make(chan error)
	mustNil(t, e.p.PutProvisioned(ctx, "default", "f", "1", 2))
	if got := provisioned(t, e.p, v1, "1"); got.Status != scf.ProvisionedInProgress || got.Allocated != 2 || got.Available != 0 {
		t.Errorf("while starting: %+v", got)
	}
	e.d.gate <- errors.New("no space")
	e.d.gate <- nil
	eventually(t, "one ready", func() bool { return provisioned(t, e.p, v1, "1").Available == 1 })
	eventually(t, "failed status", func() bool {
		return provisioned(t, e.p, v1, "1").Status == scf.ProvisionedFailed
	})
	if got := provisioned(t, e.p, v1, "1"); got.StatusReason != "no space" {
		t.Errorf("after a failed start: %+v, want the reason", got)
	}
	e.d.gate = nil
	e.clock.Advance(DefaultProvisionRetry)
	eventually(t, "retried", func() bool { return provisioned(t, e.p, v1, "1").Status == scf.ProvisionedDone })
	mu.Lock()
	if len(reports) != 2 {
		t.Errorf("%d provisioned reports, want 2", len(reports))
	}
	mu.Unlock()

	l := acquire(t, e.p, v1)
	if c := l.Cold(); c == nil || !c.Provisioned {
		t.Errorf("first use of a provisioned instance: Cold = %+v, want Provisioned", c)
	}
	l.Release(Healthy)
	if e.d.count() != 2 {
		t.Errorf("a call started an instance beside the provisioned ones")
	}
	// Never reaped.
	e.clock.Advance(time.Hour)
	if n := len(e.d.running()); n != 2 {
		t.Errorf("%d running after the idle timeout, want 2", n)
	}
	// A dead one is replaced.
	e.d.instances()[0].crash()
	eventually(t, "replacement", func() bool { return len(e.d.running()) == 2 && e.d.count() == 3 })

	// Lowering the setting stops the extra idle instance.
	mustNil(t, e.p.PutProvisioned(ctx, "default", "f", "1", 1))
	eventually(t, "one left", func() bool { return len(e.d.running()) == 1 })

	// A restart starts them again.
	mustNil(t, e.p.Close(ctx))
	p2 := e.open(t, nil)
	eventually(t, "started after restart", func() bool {
		_, got, _ := p2.GetProvisioned(ctx, "default", "f", "1")
		return len(got) == 1 && got[0].Status == scf.ProvisionedDone && got[0].Available == 1
	})
	mustNil(t, p2.DeleteProvisioned(ctx, "default", "f", "1"))
	eventually(t, "stopped after delete", func() bool { return len(e.d.running()) == 0 })
	if _, got, _ := p2.GetProvisioned(ctx, "default", "f", ""); len(got) != 0 {
		t.Errorf("GetProvisioned after delete = %v", got)
	}
}

func TestProvisionedCountsWithinTheQuota(t *testing.T) {
	e := newFakeEnv(t, nil)
	ctx := context.Background()
	v1 := e.publish(t, testFunction("f"), "1")
	mustNil(t, e.p.PutReserved(ctx, "default", "f", 256))
	err := e.p.PutProvisioned(ctx, "default", "f", "1", 3)
	if !errors.Is(err, errdefs.ErrFailedPrecondition) || errdefs.Resource(err) != "ProvisionedExceedReserved" {
		t.Errorf("PutProvisioned above the reserved quota = %v", err)
	}
	mustNil(t, e.p.PutProvisioned(ctx, "default", "f", "1", 2))
	un, _, err := e.p.GetProvisioned(ctx, "default", "f", "")
	mustNil(t, err)
	if un != 0 {
		t.Errorf("unallocated %d, want 0", un)
	}
	eventually(t, "ready", func() bool { return provisioned(t, e.p, v1, "1").Available == 2 })
	a := acquire(t, e.p, v1)
	b := acquire(t, e.p, v1)
	defer a.Release(Healthy)
	defer b.Release(Healthy)
	if _, err := e.p.Acquire(ctx, v1); !errors.Is(err, errdefs.ErrResourceExhausted) {
		t.Errorf("third call = %v, want the reserved quota exceeded", err)
	}
}
