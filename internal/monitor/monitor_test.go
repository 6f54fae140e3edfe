package monitor

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/store"
	"github.com/scfd/scfd/internal/store/storetest"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

var t0 = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

func open(t *testing.T, o Options) (*Monitor, *store.Store) {
	t.Helper()
	st, err := storetest.Open(t, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	o.DB = st
	m, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return m, st
}

var fn = Key{Namespace: "default", Function: "hello", Qualifier: "$LATEST"}

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	for i := 1; i <= 100; i++ {
		h.Add(time.Duration(i) * time.Millisecond)
	}
	for _, tc := range []struct {
		q, want float64
	}{{0.5, 50}, {0.95, 95}, {1, 100}} {
		got := h.Quantile(tc.q)
		if math.Abs(got-tc.want)/tc.want > 0.2 {
			t.Errorf("Quantile(%v) = %.1f, want %v within 20%%", tc.q, got, tc.want)
		}
	}
	var empty Histogram
	if got := empty.Quantile(0.5); got != 0 {
		t.Errorf("empty Quantile = %v, want 0", got)
	}
	var h2 Histogram
	h2.decode(h.encode())
	if h2 != h {
		t.Errorf("decode(encode(h)) = %v, want %v", h2, h)
	}
	var huge Histogram
	huge.Add(2000 * time.Second)
	if huge[NumBuckets-1] != 1 {
		t.Errorf("2000 s is not in the last bucket: %v", huge)
	}
}

func TestQueryMergesPendingAndStoredMinutesWithoutCountingTwice(t *testing.T) {
	c := &clock{t: t0}
	m, _ := open(t, Options{Now: c.now})
	ctx := context.Background()
	// Minute 0: two invocations, one cold and one error; minute 1: one.
	m.Record(Invocation{Key: fn, Duration: 10 * time.Millisecond, Cold: true, ColdStart: 300 * time.Millisecond, GBSeconds: 0.125})
	m.Record(Invocation{Key: fn, Time: t0.Add(30 * time.Second), Duration: 20 * time.Millisecond, Error: true, GBSeconds: 0.25})
	m.SampleInstances(map[Key]int{fn: 2})
	m.SampleInstances(map[Key]int{fn: 1})
	c.set(t0.Add(time.Minute + 5*time.Second))
	m.Record(Invocation{Key: fn, Duration: 40 * time.Millisecond, Cold: true, ColdStart: 100 * time.Millisecond})
	m.SampleInstances(map[Key]int{fn: 1})

	q := Query{Namespace: "default", Function: "hello", Start: t0, End: t0.Add(3 * time.Minute)}
	check := func(when string) {
		t.Helper()
		s, err := m.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if s.Step != time.Minute || len(s.Points) != 3 || !s.Times[0].Equal(t0) {
			t.Fatalf("%s: step %v, %d points from %v; want 1m, 3 from %v", when, s.Step, len(s.Points), s.Times[0], t0)
		}
		type row struct {
			Inv, Err, Cold int64
			ColdMs, MaxMs  float64
			Inst           int64
			GBs            float64
		}
		var got []row
		for _, p := range s.Points {
			got = append(got, row{p.Invocations, p.Errors, p.ColdStarts, p.ColdStartMs, p.ColdStartMaxMs, p.Instances, p.GBSeconds})
		}
		want := []row{{2, 1, 1, 300, 300, 2, 0.375}, {1, 0, 1, 100, 100, 1, 0}, {}}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s: points (-want +got):\n%s", when, d)
		}
	}
	check("in memory")
	if err := m.Flush(ctx, false); err != nil { // writes minute 0 only
		t.Fatal(err)
	}
	check("minute 0 stored")
	if err := m.Flush(ctx, true); err != nil {
		t.Fatal(err)
	}
	check("all stored")
	// A later record of an already stored minute merges with the row.
	m.Record(Invocation{Key: fn, Time: t0.Add(time.Second), Duration: 10 * time.Millisecond})
	if err := m.Flush(ctx, true); err != nil {
		t.Fatal(err)
	}
	s, err := m.Query(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Points[0].Invocations; got != 3 {
		t.Errorf("after a second flush of minute 0: %d invocations, want 3", got)
	}
	if got := s.Points[0].Durations.Count(); got != 3 {
		t.Errorf("after a second flush of minute 0: %d durations, want 3", got)
	}
}

func TestQueryStepsAddVersionsAndTakeThePeakOfInstances(t *testing.T) {
	c := &clock{t: t0}
	m, _ := open(t, Options{Now: c.now})
	v1 := Key{Namespace: "default", Function: "hello", Qualifier: "1"}
	for i := range 30 { // one invocation a minute for 30 minutes, alternating versions
		c.set(t0.Add(time.Duration(i) * time.Minute))
		k := fn
		if i%2 == 1 {
			k = v1
		}
		m.Record(Invocation{Key: k, Duration: time.Duration(i+1) * time.Millisecond})
		m.SampleInstances(map[Key]int{fn: 1, v1: i % 4})
	}
	if err := m.Flush(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	s, err := m.Query(context.Background(), Query{Namespace: "default", Function: "hello", Start: t0, End: t0.Add(30 * time.Minute), Step: 15 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Points) != 2 {
		t.Fatalf("%d points, want 2", len(s.Points))
	}
	for i, p := range s.Points {
		if p.Invocations != 15 {
			t.Errorf("step %d: %d invocations, want 15", i, p.Invocations)
		}
		if p.Instances != 4 { // 1 of $LATEST + 3 of version 1 at the peak
			t.Errorf("step %d: peak of %d instances, want 4", i, p.Instances)
		}
	}
	if p50 := s.Points[0].Durations.Quantile(0.5); p50 < 5 || p50 > 11 {
		t.Errorf("p50 of the first 15 minutes (1..15 ms) = %.1f ms, want about 8", p50)
	}
	one, err := m.Query(context.Background(), Query{Namespace: "default", Function: "hello", Qualifier: "1", Start: t0, End: t0.Add(30 * time.Minute), Step: 30 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if got := one.Points[0].Invocations; got != 15 {
		t.Errorf("version 1 alone: %d invocations, want 15", got)
	}
}

func TestQueryRefusesBadRanges(t *testing.T) {
	m, _ := open(t, Options{Now: (&clock{t: t0}).now})
	for name, q := range map[string]Query{
		"end before start": {Start: t0, End: t0.Add(-time.Minute)},
		"odd step":         {Start: t0, End: t0.Add(time.Hour), Step: 90 * time.Second},
		"too many points":  {Start: t0, End: t0.Add(30 * 24 * time.Hour), Step: time.Minute},
	} {
		if _, err := m.Query(context.Background(), q); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("%s: err = %v, want ErrInvalidArgument", name, err)
		}
	}
	s, err := m.Query(context.Background(), Query{Namespace: "a", Function: "b", Start: t0.Add(30 * time.Second), End: t0.Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if s.Step != 15*time.Minute || len(s.Points) != 96 || !s.Times[0].Equal(t0) {
		t.Errorf("a day: step %v, %d points from %v; want 15m, 96 from %v", s.Step, len(s.Points), s.Times[0], t0)
	}
}

func TestFlushDeletesMinutesPastRetentionAndForgetDeletesAFunction(t *testing.T) {
	c := &clock{t: t0}
	m, st := open(t, Options{Now: c.now, Retention: time.Hour})
	ctx := context.Background()
	other := Key{Namespace: "default", Function: "other", Qualifier: "$LATEST"}
	m.Record(Invocation{Key: fn})
	m.Record(Invocation{Key: other})
	if err := m.Flush(ctx, true); err != nil {
		t.Fatal(err)
	}
	count := func() (n int) {
		t.Helper()
		if err := st.DB().QueryRow(`SELECT count(*) FROM monitor_minute`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 2 {
		t.Fatalf("%d rows stored, want 2", n)
	}
	if err := m.Forget(ctx, "default", "other"); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("after Forget: %d rows, want 1", n)
	}
	c.set(t0.Add(time.Hour + 2*time.Minute))
	if err := m.Flush(ctx, false); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Errorf("after the retention: %d rows, want 0", n)
	}
}

func TestRunFlushesEachIntervalAndAtTheEnd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m, st := open(t, Options{}) // the bubble's clock
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { m.Run(ctx, time.Minute); close(done) }()
		samples := 0
		go m.RunSampler(ctx, time.Second, func() map[Key]int { samples++; return map[Key]int{fn: samples} })
		m.Record(Invocation{Key: fn})
		stored := func() (n int64) {
			t.Helper()
			st.DB().QueryRow(`SELECT coalesce(sum(invocations), 0) FROM monitor_minute`).Scan(&n)
			return n
		}
		time.Sleep(90 * time.Second) // the bubble's clock: one flush has run
		synctest.Wait()
		if n := stored(); n != 1 {
			t.Errorf("after a flush interval: %d invocations stored, want 1", n)
		}
		m.Record(Invocation{Key: fn})
		cancel()
		<-done
		if n := stored(); n != 2 {
			t.Errorf("after Run returned: %d invocations stored, want 2", n)
		}
		var peak int64
		st.DB().QueryRow(`SELECT max(instances) FROM monitor_minute`).Scan(&peak)
		if peak < 59 {
			t.Errorf("peak instances %d, want the sampler's count of about 60", peak)
		}
	})
}
