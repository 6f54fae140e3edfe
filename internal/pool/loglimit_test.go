package pool

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scfd/scfd/internal/sandbox"
	"github.com/scfd/scfd/internal/scf"
)

func TestLogLimitDropsBeyondRateAndBurstWithAMarker(t *testing.T) {
	l := newLogLimit(1000, 2000) // 1000 B/s, bursts of 2000 B
	t0 := time.Unix(1000, 0)
	kept := 0
	for i := range 10 { // 10 lines of 499+1 bytes at once: the burst takes 4
		if ok, m := l.admit(t0, 499); ok {
			kept++
			if m != "" {
				t.Errorf("line %d: marker %q before any drop", i, m)
			}
		}
	}
	if kept != 4 {
		t.Errorf("kept %d lines of a burst, want 4", kept)
	}
	// Half a second later there is room for one line, with the marker.
	ok, m := l.admit(t0.Add(500*time.Millisecond), 499)
	if !ok || !strings.Contains(m, "6 lines (3000 bytes) of output dropped") || !strings.Contains(m, "limit of 0 KB/s") && !strings.Contains(m, "KB/s") {
		t.Errorf("after refill: kept %v, marker %q", ok, m)
	}
	if ok, _ := l.admit(t0.Add(500*time.Millisecond), 499); ok {
		t.Error("a line beyond the refill was kept")
	}
	if m := l.flush(); !strings.Contains(m, "1 lines (500 bytes)") {
		t.Errorf("flush = %q", m)
	}
	if m := l.flush(); m != "" {
		t.Errorf("second flush = %q, want nothing", m)
	}
	// Time never refills above the burst.
	if ok, _ := l.admit(t0.Add(time.Hour), 2100); ok {
		t.Error("a line above the burst was kept")
	}
	if newLogLimit(-1, 0) != nil {
		t.Error("a negative rate should mean no limit")
	}
	var none *logLimit
	if ok, m := none.admit(t0, 1<<30); !ok || m != "" {
		t.Error("no limit dropped a line")
	}
}

// An instance printing in a loop is held to its rate and burst, whatever
// it prints, and the log says how much was dropped.
func TestRealLogFloodIsBounded(t *testing.T) {
	var mu sync.Mutex
	var bytes int
	var lines []string
	e := newRealEnv(t, func(o *Options) {
		o.LogRate, o.LogBurst = 64<<10, 256<<10
		o.InstanceLog = func(_ *scf.Function, l sandbox.LogLine) {
			mu.Lock()
			defer mu.Unlock()
			bytes += len(l.Text) + 1
			if strings.HasPrefix(l.Text, "[scfd]") || l.Text == "after" {
				lines = append(lines, l.Text)
			}
		}
	})
	fn := realFunction("flood")
	began := time.Now()
	if _, err := call(t.Context(), e.p, fn, `{"flood_mb": 16}`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := call(t.Context(), e.p, fn, `{"print": ["after"]}`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	took := time.Since(began)
	mu.Lock()
	defer mu.Unlock()
	allowed := 256<<10 + int(took.Seconds()*(64<<10)) + 4<<10
	if bytes > allowed {
		t.Errorf("the instance log got %d bytes of a 16 MiB flood in %v, want at most %d", bytes, took, allowed)
	}
	if len(lines) < 2 || lines[len(lines)-1] != "after" {
		t.Fatalf("markers and the next line: %q", lines)
	}
	for _, m := range lines[:len(lines)-1] {
		if !strings.Contains(m, "of output dropped: this instance printed more than its limit of 64 KB/s (bursts of 256 KB)") {
			t.Errorf("marker %q", m)
		}
	}
	t.Logf("16 MiB printed, %d bytes kept in %v, %d markers; %s", bytes, took, len(lines)-1, lines[0])
}
