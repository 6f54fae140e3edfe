package localrt

import (
	"context"
	"os"
	"strconv"
	"testing"

	"github.com/scfd/scfd/internal/nice"
)

// idleThreads counts the threads of pid that run with the SCHED_IDLE
// policy, and all its threads.
func idleThreads(t *testing.T, pid int) (idle, all int) {
	t.Helper()
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		tid, _ := strconv.Atoi(task.Name())
		if yes, err := nice.Idle(tid); err != nil {
			t.Fatal(err)
		} else if yes {
			idle++
		}
		all++
	}
	return idle, all
}

// A container prepared in the background after a start waits at the
// lowest CPU priority (SCHED_IDLE), and its process runs at the normal
// one once started; a container prepared on a deploy's path waits at the
// normal one.
func TestBackgroundPreparationIsIdle(t *testing.T) {
	d := newPreparingDriver(t, 0)
	ctx := context.Background()
	s := spec("")
	s.Version = "idle"
	if err := d.Prepare(ctx, s); err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	deployed := d.lru.Front().Value.(*spare).in
	d.mu.Unlock()
	if idle, all := idleThreads(t, deployed.pid); idle != 0 {
		t.Errorf("a container prepared on a deploy's path: %d of %d threads idle, want none", idle, all)
	}
	s.ID = "idle-first"
	first := start(t, d, s).(*instance)
	waitSpares(t, d, 1) // prepared in the background after the start
	d.mu.Lock()
	next := d.lru.Front().Value.(*spare).in
	d.mu.Unlock()
	if idle, all := idleThreads(t, next.pid); idle != all {
		t.Errorf("a container prepared in the background: %d of %d threads idle, want all", idle, all)
	}
	s.ID = "idle-second"
	second := start(t, d, s).(*instance)
	if second.id != next.id {
		t.Fatalf("the second start did not use the container prepared after the first")
	}
	for _, in := range []*instance{first, second} {
		if idle, all := idleThreads(t, in.pid); idle != 0 {
			t.Errorf("the process of %s: %d of %d threads idle, want none", in.id, idle, all)
		}
	}
}
