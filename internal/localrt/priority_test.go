package localrt

import (
	"context"
	"os"
	"strconv"
	"testing"

	"github.com/scfd/scfd/internal/nice"
)

// threadNices is the nice value of each thread of pid.
func threadNices(t *testing.T, pid int) []int {
	t.Helper()
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, task := range tasks {
		tid, _ := strconv.Atoi(task.Name())
		n, err := nice.Of(tid)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

// A container prepared in the background after a start waits at the
// lowest CPU priority, and its process runs at the default one once
// started; a container prepared on a deploy's path keeps the default.
func TestBackgroundPreparationIsNiced(t *testing.T) {
	d := newPreparingDriver(t, 0)
	ctx := context.Background()
	s := spec("")
	s.Version = "nice"
	if err := d.Prepare(ctx, s); err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	deployed := d.lru.Front().Value.(*spare).in
	d.mu.Unlock()
	if got := threadNices(t, deployed.pid); got[0] != 0 {
		t.Errorf("a container prepared on a deploy's path waits at nice %v, want 0", got)
	}
	s.ID = "nice-first"
	first := start(t, d, s).(*instance)
	waitSpares(t, d, 1) // prepared in the background after the start
	d.mu.Lock()
	next := d.lru.Front().Value.(*spare).in
	d.mu.Unlock()
	for _, n := range threadNices(t, next.pid) {
		if n != nice.Lowest {
			t.Errorf("a container prepared in the background waits at nice %v, want all %d", threadNices(t, next.pid), nice.Lowest)
			break
		}
	}
	s.ID = "nice-second"
	second := start(t, d, s).(*instance)
	if second.id != next.id {
		t.Fatalf("the second start did not use the container prepared after the first")
	}
	for _, in := range []*instance{first, second} {
		for _, n := range threadNices(t, in.pid) {
			if n != 0 {
				t.Errorf("the process of %s runs at nice %v, want all 0", in.id, threadNices(t, in.pid))
				break
			}
		}
	}
}
