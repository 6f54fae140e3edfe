package meter

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/scfd/scfd/internal/store"
	"github.com/scfd/scfd/internal/store/storetest"
)

var hour0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func open(t *testing.T, dir string) (*Meter, *store.Store) {
	t.Helper()
	st, err := storetest.Open(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Open(context.Background(), Options{DB: st, Now: func() time.Time { return hour0 }})
	if err != nil {
		t.Fatal(err)
	}
	return m, st
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// The case: a 256 MB function invoked 4 times for about 500 ms.
func TestUsageOfFourInvocations(t *testing.T) {
	ctx := context.Background()
	m, st := open(t, t.TempDir())
	defer st.Close()
	defer m.Close()
	bills := []int64{501, 499, 503, 500}
	var billed int64
	for i, b := range bills {
		billed += b
		err := m.Record(ctx, Invocation{RequestID: fmt.Sprint("r", i), Namespace: "default", Function: "f", Qualifier: "$LATEST",
			MemoryMB: 256, BillDuration: b, Error: i == 3, Time: hour0.Add(time.Duration(i) * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
	}
	fns, total, err := m.Usage(ctx, Query{}, DefaultPrices)
	if err != nil {
		t.Fatal(err)
	}
	if len(fns) != 1 || fns[0].Invocations != 4 || fns[0].Errors != 1 {
		t.Fatalf("usage %+v", fns)
	}
	if want := 0.25 * float64(billed) / 1000; !near(fns[0].GBSeconds, want) || !near(total.GBSeconds, want) {
		t.Errorf("GB-s %v (total %v), want exactly %v", fns[0].GBSeconds, total.GBSeconds, want)
	}
	wantCost := 0.25*float64(billed)/1000*DefaultPrices.GBSecond + 4.0/10000*DefaultPrices.Per10kInvocations
	if !near(fns[0].Cost, round6(wantCost)) {
		t.Errorf("cost %v, want %v", fns[0].Cost, round6(wantCost))
	}
	if total.Cost != 0 {
		t.Errorf("total cost with the free tier %v, want 0", total.Cost)
	}
	noFree := DefaultPrices
	noFree.FreeTier = false
	if _, total, _ := m.Usage(ctx, Query{}, noFree); !near(total.Cost, round6(wantCost)) {
		t.Errorf("total cost without the free tier %v, want %v", total.Cost, round6(wantCost))
	}
}

func TestNothingCountedTwiceAcrossRestarts(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	m, st := open(t, dir)
	inv := Invocation{RequestID: "same", Namespace: "default", Function: "f", Qualifier: "1", MemoryMB: 128, BillDuration: 10, Time: hour0, Replayable: true}
	for range 3 {
		if err := m.Record(ctx, inv); err != nil {
			t.Fatal(err)
		}
	}
	retry := inv
	retry.RetryNum = 1
	if err := m.Record(ctx, retry); err != nil {
		t.Fatal(err)
	}
	m.Close()
	st.Close()

	m, st = open(t, dir)
	defer st.Close()
	defer m.Close()
	if err := m.Record(ctx, inv); err != nil {
		t.Fatal(err)
	}
	fns, _, err := m.Usage(ctx, Query{Function: "f"}, DefaultPrices)
	if err != nil {
		t.Fatal(err)
	}
	if len(fns) != 1 || fns[0].Invocations != 2 {
		t.Errorf("after replays and a restart: %+v, want 2 invocations (the attempt and its retry)", fns)
	}
}

func TestConcurrentRecordsShareCommits(t *testing.T) {
	ctx := context.Background()
	m, st := open(t, t.TempDir())
	defer st.Close()
	defer m.Close()
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := m.Record(ctx, Invocation{RequestID: fmt.Sprint(i), Namespace: "ns", Function: fmt.Sprint("f", i%4), Qualifier: "$LATEST", MemoryMB: 1024, BillDuration: 1000, Time: hour0})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	fns, total, err := m.Usage(ctx, Query{Namespace: "ns"}, DefaultPrices)
	if err != nil {
		t.Fatal(err)
	}
	if len(fns) != 4 || total.Invocations != 200 || total.GBSeconds != 200 {
		t.Errorf("%d functions, total %+v", len(fns), total)
	}
}

func TestProvisionedIdleAndOutboundAndRanges(t *testing.T) {
	ctx := context.Background()
	m, st := open(t, t.TempDir())
	defer st.Close()
	defer m.Close()
	k := Key{"default", "warm", "1"}
	// 20 s of 2 idle 512 MB instances, in 10 s steps: 2 × 0.5 × 20 = 20 GB-s.
	for step := 1; step <= 2; step++ {
		at := hour0.Add(time.Duration(step) * ProvisionedStep)
		if err := m.RecordProvisionedIdle(ctx, at, []ProvisionedIdle{{Key: k, MemoryMB: 512, Idle: 2}, {Key: Key{"default", "busy", "1"}, MemoryMB: 512, Idle: 0}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.RecordOutbound(ctx, hour0.Add(2*time.Hour), k, 3<<30); err != nil {
		t.Fatal(err)
	}
	fns, total, err := m.Usage(ctx, Query{}, DefaultPrices)
	if err != nil {
		t.Fatal(err)
	}
	if len(fns) != 1 || fns[0].ProvisionedIdleGBSeconds != 20 || fns[0].OutboundBytes != 3<<30 {
		t.Fatalf("usage %+v", fns)
	}
	// Idle provisioned usage is never free; 1 GB of the 3 is over the free 2 GB.
	want := round6(20*DefaultPrices.IdleGBSecond + DefaultPrices.OutboundGB)
	if total.Cost != want {
		t.Errorf("total cost %v, want %v", total.Cost, want)
	}
	early, _, _ := m.Usage(ctx, Query{End: hour0.Add(time.Hour)}, DefaultPrices)
	if len(early) != 1 || early[0].OutboundBytes != 0 || early[0].ProvisionedIdleGBSeconds != 20 {
		t.Errorf("first hour only: %+v", early)
	}
	late, _, _ := m.Usage(ctx, Query{Start: hour0.Add(90 * time.Minute)}, DefaultPrices)
	if len(late) != 1 || late[0].OutboundBytes != 3<<30 || late[0].ProvisionedIdleGBSeconds != 0 {
		t.Errorf("from 11:30: %+v", late)
	}
}

// Provisioned instances idle for 20 s are metered in 10 s steps; a step
// in which one was busy for a moment counts one fewer.
func TestIdleSamplerMetersTenSecondSteps(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		st, err := storetest.Open(t, dir)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		m, err := Open(ctx, Options{DB: st})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		k := Key{"default", "warm", "1"}
		var mu sync.Mutex
		idle := 3
		read := func() []ProvisionedIdle {
			mu.Lock()
			defer mu.Unlock()
			return []ProvisionedIdle{{Key: k, MemoryMB: 1024, Idle: idle}}
		}
		sctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			m.RunIdleSampler(sctx, read)
		}()
		time.Sleep(20*time.Second + time.Millisecond) // two steps: 3 idle all along
		synctest.Wait()
		fns, _, err := m.Usage(ctx, Query{}, DefaultPrices)
		if err != nil {
			t.Fatal(err)
		}
		if len(fns) != 1 || fns[0].ProvisionedIdleGBSeconds != 60 {
			t.Fatalf("after 20 s of 3 idle 1 GB instances: %+v, want 60 GB-s", fns)
		}
		time.Sleep(4 * time.Second)
		mu.Lock()
		idle = 2 // one busy for a second
		mu.Unlock()
		time.Sleep(time.Second)
		mu.Lock()
		idle = 3
		mu.Unlock()
		time.Sleep(5 * time.Second)
		synctest.Wait()
		fns, _, _ = m.Usage(ctx, Query{}, DefaultPrices)
		if fns[0].ProvisionedIdleGBSeconds != 80 {
			t.Errorf("a step with one busy moment: %v GB-s in all, want 60 + 20", fns[0].ProvisionedIdleGBSeconds)
		}
		stop()
		<-done
	})
}

func TestOutboundSamplerRecordsDeltas(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		st, err := storetest.Open(t, dir)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		m, err := Open(ctx, Options{DB: st})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		k := Key{"default", "talker", "$LATEST"}
		readings := []map[string]InstanceBytes{
			{"i1": {k, 1000}, "i2": {k, 500}},
			{"i1": {k, 1500}, "i2": {k, 500}}, // i1 sent 500 more
			{"i1": {k, 2000}},                 // i2 gone; i1 stopped with its final count
			{"i3": {k, 100}},                  // a new instance
		}
		var mu sync.Mutex
		read := func() (map[string]InstanceBytes, error) {
			mu.Lock()
			defer mu.Unlock()
			if len(readings) == 0 {
				return map[string]InstanceBytes{}, nil
			}
			r := readings[0]
			readings = readings[1:]
			return r, nil
		}
		sctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			m.RunOutboundSampler(sctx, 10*time.Second, read)
		}()
		time.Sleep(45 * time.Second)
		synctest.Wait()
		stop()
		<-done
		fns, _, err := m.Usage(ctx, Query{}, DefaultPrices)
		if err != nil {
			t.Fatal(err)
		}
		if len(fns) != 1 || fns[0].OutboundBytes != 2600 {
			t.Errorf("outbound %+v, want 2000 (i1) + 500 (i2) + 100 (i3) = 2600", fns)
		}
	})
}

// Only replayable attempts keep a key, and only while a replay can come.
func TestReplayKeysAreForgotten(t *testing.T) {
	ctx := context.Background()
	now := hour0
	st, err := storetest.Open(t, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, err := Open(ctx, Options{DB: st, Now: func() time.Time { return now }, ReplayWindow: 2 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	keys := func() int {
		m.Sync(ctx)
		var n int
		if err := st.DB().QueryRow(`SELECT count(*) FROM usage_seen`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for i := range 100 {
		m.Record(ctx, Invocation{RequestID: fmt.Sprint("sync", i), Namespace: "ns", Function: "f", Qualifier: "$LATEST", MemoryMB: 128, BillDuration: 1, Time: now})
	}
	m.Record(ctx, Invocation{RequestID: "async", Namespace: "ns", Function: "f", Qualifier: "$LATEST", MemoryMB: 128, BillDuration: 1, Time: now, Replayable: true})
	if n := keys(); n != 1 {
		t.Fatalf("%d keys kept after 100 synchronous and 1 async invocation, want 1", n)
	}
	now = now.Add(4 * time.Hour) // past the window, and an hour after the last forgetting
	m.Record(ctx, Invocation{RequestID: "later", Namespace: "ns", Function: "f", Qualifier: "$LATEST", MemoryMB: 128, BillDuration: 1, Time: now})
	if n := keys(); n != 0 {
		t.Errorf("%d keys kept past the replay window, want 0", n)
	}
	fns, _, err := m.Usage(ctx, Query{Function: "f"}, DefaultPrices)
	if err != nil || len(fns) != 1 || fns[0].Invocations != 102 {
		t.Errorf("usage %+v, %v; want 102 invocations", fns, err)
	}
}
