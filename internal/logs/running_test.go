package logs

import (
	"context"
	"testing"
	"time"
)

func TestRunningUntilPut(t *testing.T) {
	c := &clock{t: time.Unix(1700000000, 0)}
	ls, _ := open(t, c)
	ctx := context.Background()
	if _, ok := ls.Running("r1"); ok {
		t.Fatal("r1 is running before it began")
	}
	ls.Begin(Entry{RequestID: "r1", Namespace: "default", Function: "fn", StartTime: c.now()})
	got, ok := ls.Running("r1")
	if !ok || got.Function != "fn" || !got.StartTime.Equal(c.now()) {
		t.Fatalf("Running(r1) = %+v, %v; want the begun entry", got, ok)
	}
	if err := ls.Put(ctx, entry("r1", c.now(), 0, 3)); err != nil {
		t.Fatal(err)
	}
	if _, ok := ls.Running("r1"); ok {
		t.Error("r1 is still running after its entry was Put")
	}
	// What Running no longer reports, a Query finds.
	if es, _, err := ls.Query(ctx, Query{RequestID: "r1"}); err != nil || len(es) != 1 {
		t.Errorf("Query(r1) = %d entries, %v; want 1", len(es), err)
	}
}
