package sandbox

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLogPumpLines(t *testing.T) {
	var got []LogLine
	at := time.Unix(1700000000, 0)
	p := NewLogPump("ins-1", func(l LogLine) { got = append(got, l) }, func() time.Time { return at })
	p.Read(Stdout, io.NopCloser(strings.NewReader("one\ntwo\r\nthree")))
	p.Wait()
	want := []LogLine{
		{Instance: "ins-1", Stream: Stdout, Time: at, Text: "one"},
		{Instance: "ins-1", Stream: Stdout, Time: at, Text: "two"},
		{Instance: "ins-1", Stream: Stdout, Time: at, Text: "three"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("lines (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"one", "two", "three"}, p.LastLines()); d != "" {
		t.Errorf("LastLines (-want +got):\n%s", d)
	}
}

func TestLogPumpLongLine(t *testing.T) {
	var got []string
	p := NewLogPump("i", func(l LogLine) { got = append(got, l.Text) }, nil)
	long := strings.Repeat("x", MaxLineBytes+10)
	p.Read(Stderr, io.NopCloser(strings.NewReader(long+"\nend\n")))
	p.Wait()
	want := []string{strings.Repeat("x", MaxLineBytes), "xxxxxxxxxx", "end"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("pieces (-want +got):\n%s", d)
	}
}

// A sink that never returns until released must not stop the reader: the
// reader reaches EOF, the excess lines are dropped and counted.
func TestLogPumpSlowSinkDrops(t *testing.T) {
	release := make(chan struct{})
	var delivered, droppedSeen uint64
	p := NewLogPump("i", func(l LogLine) {
		<-release
		if l.Text != "" {
			delivered++
		}
		droppedSeen += l.Dropped
	}, nil)
	const n = LogQueueLines * 4
	pr, pw := io.Pipe()
	p.Read(Stdout, pr)
	writeDone := make(chan struct{})
	go func() {
		defer close(writeDone)
		for i := 0; i < n; i++ {
			io.WriteString(pw, "line\n")
		}
		pw.Close()
	}()
	select {
	case <-writeDone:
	case <-time.After(10 * time.Second):
		t.Fatal("writer blocked by a slow sink")
	}
	close(release)
	p.Wait()
	if p.Dropped() == 0 {
		t.Fatal("Dropped = 0, want lines dropped")
	}
	if delivered+droppedSeen != n {
		t.Errorf("delivered %d + reported dropped %d, want %d lines accounted", delivered, droppedSeen, n)
	}
	if droppedSeen != p.Dropped() {
		t.Errorf("reported dropped %d, Dropped() = %d", droppedSeen, p.Dropped())
	}
}

func TestWaitTwice(t *testing.T) {
	var got []string
	p := NewLogPump("i", func(l LogLine) { got = append(got, l.Text) }, nil)
	p.Read(Stdout, io.NopCloser(strings.NewReader("a\nb\n")))
	p.Wait()
	p.Wait()
	if strings.Join(got, ",") != "a,b" {
		t.Errorf("lines %q", got)
	}
}

// Lines written to a pipe before Sync are delivered when Sync returns,
// however slow the sink.
func TestSyncDeliversWhatWasWritten(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var mu sync.Mutex
	var got []string
	p := NewLogPump("i", func(l LogLine) {
		time.Sleep(time.Millisecond) // a slow sink
		mu.Lock()
		got = append(got, l.Text)
		mu.Unlock()
	}, nil)
	p.Read(Stdout, r)
	for round := range 20 {
		want := fmt.Sprint("line ", round)
		fmt.Fprintf(w, "%s\n", want)
		p.Sync(time.Second)
		mu.Lock()
		n := len(got)
		last := ""
		if n > 0 {
			last = got[n-1]
		}
		mu.Unlock()
		if n != round+1 || last != want {
			t.Fatalf("after Sync of round %d: %d lines, last %q", round, n, last)
		}
	}
}

// Sync returns by its bound while a process floods its output, and the
// pump still reaches the end of the stream afterwards.
func TestSyncUnderAFlood(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var lines atomic.Int64
	p := NewLogPump("i", func(LogLine) { lines.Add(1) }, nil)
	p.Read(Stdout, r)
	stop := make(chan struct{})
	started := make(chan struct{})
	flooded := make(chan struct{})
	go func() {
		defer close(flooded)
		defer w.Close()
		line := strings.Repeat("x", 100) + "\n"
		for i := 0; ; i++ {
			if i == 2000 {
				close(started)
			}
			select {
			case <-stop:
				return
			default:
			}
			io.WriteString(w, line)
		}
	}()
	<-started
	begin := time.Now()
	p.Sync(50 * time.Millisecond)
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("Sync(50ms) under a flood took %s", d)
	}
	close(stop)
	<-flooded
	p.Wait()
	if lines.Load() == 0 {
		t.Error("no line delivered")
	}
}
