package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// insert is a record adding v to table r.
func insert(v int) Record {
	return RecordFunc(func(b *Batch) error {
		_, err := b.Exec(`INSERT INTO r (v) VALUES (?)`, v)
		return err
	})
}

func count(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.DB().QueryRow(`SELECT count(*) FROM r`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestWriterCommitsThroughTheRelaxedHandle(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir)
	if s.Dialect() == "postgres" {
		var full, relaxed string
		if err := s.DB().QueryRowContext(ctx, `SHOW synchronous_commit`).Scan(&full); err != nil {
			t.Fatal(err)
		}
		if err := s.relaxed.QueryRowContext(ctx, `SHOW synchronous_commit`).Scan(&relaxed); err != nil {
			t.Fatal(err)
		}
		if full != "on" || relaxed != "off" {
			t.Errorf("synchronous_commit: main %s, writer %s; want on and off", full, relaxed)
		}
	} else {
		var full, normal int
		if err := s.DB().QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&full); err != nil {
			t.Fatal(err)
		}
		if err := s.relaxed.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&normal); err != nil {
			t.Fatal(err)
		}
		if full != 2 || normal != 1 {
			t.Errorf("synchronous: main %d, writer %d; want 2 (FULL) and 1 (NORMAL)", full, normal)
		}
	}
	if err := s.Migrate(ctx, "writertest", []string{`CREATE TABLE r (v INTEGER)`}); err != nil {
		t.Fatal(err)
	}
	if err := s.Writer().Put(ctx, insert(42)); err != nil {
		t.Fatal(err)
	}
	// Close commits what is queued.
	s.Close()
	s = openTest(t, dir)
	var v int
	if err := s.DB().QueryRowContext(ctx, `SELECT v FROM r`).Scan(&v); err != nil || v != 42 {
		t.Errorf("a written record after reopening: %d, %v", v, err)
	}
}

func TestWriterBatchesConcurrentRecords(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	if err := s.Migrate(ctx, "writertest", []string{`CREATE TABLE r (v INTEGER)`}); err != nil {
		t.Fatal(err)
	}
	var commits int
	var mu sync.Mutex
	counter := RecordFunc(func(*Batch) error { mu.Lock(); commits++; mu.Unlock(); return nil })
	const n = 5000
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n / 8 {
				if err := s.Writer().Put(ctx, insert(g*n+i)); err != nil {
					t.Error(err)
					return
				}
				if i%100 == 0 {
					s.Writer().Put(ctx, counter)
				}
			}
		}()
	}
	wg.Wait()
	if err := s.Writer().Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := count(t, s); got != n {
		t.Errorf("%d rows after Sync, want %d", got, n)
	}
	st := s.Writer().Stats()
	if st.Written != st.Queued || st.Failed != 0 {
		t.Errorf("stats %+v: want everything written, nothing failed", st)
	}
}

func TestWriterIsolatesAFailingRecord(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	if err := s.Migrate(ctx, "writertest", []string{`CREATE TABLE r (v INTEGER)`}); err != nil {
		t.Fatal(err)
	}
	w := NewWriter(s.relaxed, WriterOptions{Delay: 50 * time.Millisecond})
	defer w.Close()
	bad := RecordFunc(func(b *Batch) error {
		if _, err := b.Exec(`INSERT INTO r (v) VALUES (-1)`); err != nil {
			return err
		}
		return errors.New("this record fails after writing")
	})
	for _, r := range []Record{insert(1), bad, insert(2)} {
		if err := w.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	var sum, n int
	if err := s.DB().QueryRow(`SELECT count(*), COALESCE(SUM(v), 0) FROM r`).Scan(&n, &sum); err != nil {
		t.Fatal(err)
	}
	if n != 2 || sum != 3 {
		t.Errorf("%d rows summing to %d; want the two good records (1 and 2) and nothing of the failing one", n, sum)
	}
	if st := w.Stats(); st.Failed != 1 {
		t.Errorf("Failed = %d, want 1", st.Failed)
	}
}

func TestWriterQueueIsBounded(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	if err := s.Migrate(ctx, "writertest", []string{`CREATE TABLE r (v INTEGER)`}); err != nil {
		t.Fatal(err)
	}
	w := NewWriter(s.relaxed, WriterOptions{Queue: 4, Batch: 1, Delay: -1})
	release := make(chan struct{})
	started := make(chan struct{})
	// A record that holds the writer, so the queue behind it fills.
	w.Put(ctx, RecordFunc(func(*Batch) error { close(started); <-release; return nil }))
	<-started
	for i := range 4 {
		if !w.TryPut(insert(i)) {
			t.Fatalf("TryPut %d refused with room in the queue", i)
		}
	}
	if w.TryPut(insert(99)) {
		t.Error("TryPut took a record into a full queue")
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := w.Put(short, insert(100)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Put into a full queue: %v, want it to wait until its context ends", err)
	}
	close(release)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := count(t, s), 4; got != want {
		t.Errorf("%d rows, want %d", got, want)
	}
	if st := w.Stats(); st.Dropped != 1 {
		t.Errorf("Dropped = %d, want 1", st.Dropped)
	}
	if err := w.Put(ctx, insert(1)); !errors.Is(err, ErrWriterClosed) {
		t.Errorf("Put after Close: %v, want ErrWriterClosed", err)
	}
}

func BenchmarkWriterLogRows(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx, "writerbench", []string{`CREATE TABLE r (id TEXT PRIMARY KEY, t INTEGER, body TEXT); CREATE INDEX r_t ON r(t)`}); err != nil {
		b.Fatal(err)
	}
	body := fmt.Sprintf("%0400d", 0)
	b.ResetTimer()
	for i := range b.N {
		id := fmt.Sprintf("%016x-req", uint64(i))
		s.Writer().Put(ctx, RecordFunc(func(bt *Batch) error {
			_, err := bt.Exec(`INSERT INTO r (id, t, body) VALUES (?, ?, ?)`, id, i, body)
			return err
		}))
	}
	s.Writer().Sync(ctx)
}
