package logs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/sandbox"
	"github.com/scfd/scfd/internal/store"
	"github.com/scfd/scfd/internal/store/storetest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func open(t *testing.T, c *clock) (*Store, *store.Store) {
	t.Helper()
	dir := t.TempDir()
	st, err := storetest.Open(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ls, err := Open(context.Background(), st, Options{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ls.Close() })
	return ls, st
}

func entry(id string, at time.Time, code int, dur float64) Entry {
	return Entry{
		RequestID: id, Namespace: "default", Function: "fn", Qualifier: "$LATEST", StartTime: at,
		RetCode: code, RetMsg: "msg " + id, Duration: dur, BillDuration: int64(dur) + 1, MemUsage: 1 << 20,
		Log: "START RequestId:" + id + "\n", InvokeFinished: 1,
	}
}

func ids(es []Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.RequestID)
	}
	return out
}

func TestPutQueryRoundTrip(t *testing.T) {
	c := &clock{t: time.Unix(1700000000, 0)}
	ls, _ := open(t, c)
	ctx := context.Background()
	want := entry("r1", c.now().Add(-time.Minute), 0, 12.5)
	want.Truncated = true
	want.RetryNum = 2
	if err := ls.Put(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, total, err := ls.Query(ctx, Query{RequestID: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	if total != 1 || len(got) != 1 {
		t.Fatalf("got %d entries, total %d; want 1", len(got), total)
	}
	if d := cmp.Diff(want, got[0]); d != "" {
		t.Errorf("entry (-want +got):\n%s", d)
	}
}

func TestQueryFilters(t *testing.T) {
	c := &clock{t: time.Unix(1700000000, 0)}
	ls, _ := open(t, c)
	ctx := context.Background()
	base := c.now().Add(-time.Hour)
	codes := []int{0, 433, 434, 439, 0, 430, 432}
	for i, code := range codes {
		e := entry(fmt.Sprintf("r%d", i), base.Add(time.Duration(i)*time.Second), code, float64(10*i))
		if i == 4 {
			e.Function = "other"
		}
		if err := ls.Put(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	old := entry("old", c.now().Add(-25*time.Hour), 0, 1)
	if err := ls.Put(ctx, old); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		q     Query
		want  []string
		total int
	}{
		{"default: last day, newest first", Query{}, []string{"r6", "r5", "r4", "r3", "r2", "r1", "r0"}, 7},
		{"function", Query{Function: "other"}, []string{"r4"}, 1},
		{"is0", Query{Function: "fn", RetCode: Succeeded}, []string{"r0"}, 1},
		{"not0", Query{RetCode: Failed}, []string{"r6", "r5", "r3", "r2", "r1"}, 5},
		{"timeout", Query{RetCode: TimeLimitExceeded}, []string{"r1"}, 1},
		{"resource", Query{RetCode: ResourceLimitExceeded}, []string{"r6", "r2"}, 2},
		{"user code", Query{RetCode: UserCodeException}, []string{"r5", "r3"}, 2},
		{"page", Query{Offset: 1, Limit: 2}, []string{"r5", "r4"}, 7},
		{"asc by duration", Query{OrderBy: "duration", Order: "asc", Limit: 3}, []string{"r0", "r1", "r2"}, 7},
		{"window", Query{Start: base.Add(2 * time.Second), End: base.Add(3 * time.Second)}, []string{"r3", "r2"}, 2},
		{"old by request id", Query{RequestID: "old"}, []string{"old"}, 1},
		{"old in its window", Query{End: c.now().Add(-24*time.Hour - time.Minute)}, []string{"old"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, total, err := ls.Query(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, ids(got)); d != "" {
				t.Errorf("ids (-want +got):\n%s", d)
			}
			if total != tt.total {
				t.Errorf("total = %d, want %d", total, tt.total)
			}
		})
	}
}

func TestQueryInvalid(t *testing.T) {
	c := &clock{t: time.Unix(1700000000, 0)}
	ls, _ := open(t, c)
	for name, tc := range map[string]struct {
		q        Query
		class    error
		resource string
	}{
		"filter":     {Query{RetCode: "sometimes"}, errdefs.ErrInvalidArgument, "RetCode"},
		"order":      {Query{Order: "up"}, errdefs.ErrInvalidArgument, "Order"},
		"order by":   {Query{OrderBy: "name"}, errdefs.ErrInvalidArgument, "OrderBy"},
		"too far":    {Query{Offset: 9995, Limit: 10}, errdefs.ErrResourceExhausted, "Offset"},
		"wide":       {Query{Start: c.now().Add(-48 * time.Hour), End: c.now()}, errdefs.ErrInvalidArgument, "StartTimeOrEndTime"},
		"backwards":  {Query{Start: c.now(), End: c.now().Add(-time.Hour)}, errdefs.ErrInvalidArgument, "StartTimeOrEndTime"},
		"neg offset": {Query{Offset: -1}, errdefs.ErrInvalidArgument, "Offset"},
	} {
		_, _, err := ls.Query(context.Background(), tc.q)
		if !errors.Is(err, tc.class) || errdefs.Resource(err) != tc.resource {
			t.Errorf("%s: err = %v, want %v about %s", name, err, tc.class, tc.resource)
		}
	}
}

func TestReapWithClock(t *testing.T) {
	c := &clock{t: time.Unix(1700000000, 0)}
	ls, _ := open(t, c)
	ctx := context.Background()
	ls.Put(ctx, entry("a", c.now(), 0, 1))
	ls.Instance("default", "fn", "$LATEST", sandbox.LogLine{Instance: "i", Stream: sandbox.Stdout, Time: c.now(), Text: "idle line"})
	c.add(3 * 24 * time.Hour)
	ls.Put(ctx, entry("b", c.now(), 0, 1))
	c.add(5 * 24 * time.Hour) // a is 8 days old, b 5
	n, err := ls.Reap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("Reap removed %d rows, want 2 (entry a and the instance line)", n)
	}
	for id, want := range map[string]int{"a": 0, "b": 1} {
		if _, total, _ := ls.Query(ctx, Query{RequestID: id}); total != want {
			t.Errorf("entry %s: %d left, want %d", id, total, want)
		}
	}
}

func TestInstanceLines(t *testing.T) {
	c := &clock{t: time.Unix(1700000000, 0)}
	ls, _ := open(t, c)
	for i := range 3 {
		ls.Instance("default", "fn", "$LATEST", sandbox.LogLine{Instance: "ins", Stream: sandbox.Stderr, Time: c.now().Add(time.Duration(i)), Text: fmt.Sprint("line ", i)})
	}
	ls.Instance("default", "other", "$LATEST", sandbox.LogLine{Instance: "x", Time: c.now(), Text: "not mine"})
	got, err := ls.InstanceLines(context.Background(), InstanceQuery{Namespace: "default", Function: "fn"})
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, l := range got {
		texts = append(texts, l.Text)
	}
	if d := cmp.Diff([]string{"line 0", "line 1", "line 2"}, texts); d != "" {
		t.Errorf("lines (-want +got):\n%s", d)
	}
}

// Entries survive a restart: they are in SQLite, not only in the queue.
func TestDurableAcrossReopen(t *testing.T) {
	c := &clock{t: time.Unix(1700000000, 0)}
	dir := t.TempDir()
	ctx := context.Background()
	st, err := storetest.Open(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := Open(ctx, st, Options{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	ls.Put(ctx, entry("kept", c.now(), 0, 1))
	ls.Close()
	st.Close()
	st2, err := storetest.Open(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	ls2, err := Open(ctx, st2, Options{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	defer ls2.Close()
	if _, total, _ := ls2.Query(ctx, Query{RequestID: "kept"}); total != 1 {
		t.Errorf("after reopen: %d entries, want 1", total)
	}
	if err := ls.Put(ctx, entry("late", c.now(), 0, 1)); err == nil {
		t.Error("Put after Close succeeded")
	}
}

func TestBuilderCapAndTail(t *testing.T) {
	b := NewBuilder(100)
	b.Platform("START RequestId:r")
	for i := range 20 {
		b.Line(fmt.Sprintf("line %02d ..", i)) // 11 bytes each with the newline
	}
	b.Platform("END RequestId:r")
	log := b.String()
	if !b.Truncated() {
		t.Error("Truncated = false after 220 bytes in a 100-byte log")
	}
	if !strings.Contains(log, "line 08") || strings.Contains(log, "line 09") {
		t.Errorf("log kept the wrong lines:\n%s", log)
	}
	if !strings.Contains(log, "log cut") || !strings.HasSuffix(log, "END RequestId:r\n") {
		t.Errorf("log lacks the cut marker or the closing line:\n%s", log)
	}
	if got := Tail("aaa\nbbb\nccc\n", 6); got != "ccc\n" {
		t.Errorf("Tail = %q, want the last whole line", got)
	}
	if got := Tail("short", 0); got != "short" {
		t.Errorf("Tail of a short log = %q", got)
	}
	if got := Tail(strings.Repeat("é", 10), 5); got != "éé" {
		t.Errorf("Tail split a rune: %q", got)
	}
}

// Past their budget the logs lose their oldest entries and instance
// lines first, and the budget holds across a reopening.
func TestBudgetDeletesTheOldestFirst(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Now().Add(-time.Hour)}
	dir := t.TempDir()
	st, err := storetest.Open(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const max = 2 << 20
	ls, err := Open(ctx, st, Options{Now: c.now, MaxBytes: max})
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat("x", 1000) + "\n"
	const n = 6000 // about 7 MB
	for i := range n {
		e := entry(fmt.Sprintf("r%05d", i), c.now(), 0, 1)
		e.Log = body
		if err := ls.Put(ctx, e); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			ls.Instance("default", "fn", "$LATEST", sandbox.LogLine{Instance: "i", Time: c.now(), Stream: sandbox.Stderr, Text: body})
		}
		c.add(time.Millisecond)
	}
	if err := ls.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	// A trim queued by the last batch may still be running.
	for deadline := time.Now().Add(10 * time.Second); ls.Bytes() > max && time.Now().Before(deadline); {
		ls.Sync(ctx)
		time.Sleep(10 * time.Millisecond)
	}
	if b := ls.Bytes(); b > max {
		t.Errorf("the logs keep %d bytes, over their budget of %d", b, max)
	}
	got, total, err := ls.Query(ctx, Query{Start: c.now().Add(-MaxWindow), End: c.now(), Order: "asc", Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if total == 0 || total > n/2 {
		t.Fatalf("%d entries kept of %d", total, n)
	}
	if first := got[0].RequestID; first != fmt.Sprintf("r%05d", n-total) {
		t.Errorf("the oldest kept is %s, want r%05d: the newest %d should be the ones kept", first, n-total, total)
	}
	if newest, _, _ := ls.Query(ctx, Query{Start: c.now().Add(-MaxWindow), End: c.now(), Limit: 1}); newest[0].RequestID != fmt.Sprintf("r%05d", n-1) {
		t.Errorf("the newest entry %s is not the last written", newest[0].RequestID)
	}
	ls.Close()
	again, err := Open(ctx, st, Options{Now: c.now, MaxBytes: max})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if b := again.Bytes(); b > max || b < max/2 {
		t.Errorf("reopened, the logs count %d bytes; want what was kept, at most %d", b, max)
	}
}

// A namespace that logs a lot loses its own oldest logs first, not those
// of a quieter namespace, even older ones.
func TestBudgetTrimsTheLoudestNamespace(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Now().Add(-time.Hour)}
	st, err := storetest.Open(t, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const max = 1 << 20
	ls, err := Open(ctx, st, Options{Now: c.now, MaxBytes: max})
	if err != nil {
		t.Fatal(err)
	}
	defer ls.Close()
	body := strings.Repeat("x", 1000) + "\n"
	put := func(ns, id string) {
		e := entry(id, c.now(), 0, 1)
		e.Namespace, e.Log = ns, body
		if err := ls.Put(ctx, e); err != nil {
			t.Fatal(err)
		}
		c.add(time.Millisecond)
	}
	for i := range 100 { // about 120 KB, the oldest rows
		put("quiet", fmt.Sprintf("q%03d", i))
	}
	for i := range 3000 { // about 3.6 MB
		put("loud", fmt.Sprintf("l%04d", i))
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		ls.Sync(ctx)
		if ls.Bytes() <= max || time.Now().After(deadline) {
			break
		}
	}
	if b := ls.Bytes(); b > max {
		t.Fatalf("the logs keep %d bytes, over their budget of %d", b, max)
	}
	count := func(ns string) int {
		_, total, err := ls.Query(ctx, Query{Namespace: ns, Start: c.now().Add(-MaxWindow), End: c.now()})
		if err != nil {
			t.Fatal(err)
		}
		return total
	}
	if q := count("quiet"); q != 100 {
		t.Errorf("the quiet namespace keeps %d of its 100 entries; the loud one's should have gone first", q)
	}
	if l := count("loud"); l == 0 || l >= 3000 {
		t.Errorf("the loud namespace keeps %d of its 3000 entries", l)
	}
}
