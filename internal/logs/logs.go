// Package logs keeps the log of every invocation, and the output a
// function's instances print between invocations, in scfd's SQLite
// database, and answers GetFunctionLogs queries over them.
//
// The invocation path builds each invocation's log with a Builder (SCF's
// platform lines around the function's own output, capped at MaxLogBytes
// and marked when cut) and hands the finished Entry to Store.Put. Put
// does not wait for the disk: one writer goroutine commits queued entries
// in batches, one transaction (one fsync) per batch, so logging costs the
// invocation no disk latency. Queries first wait until every entry queued
// before them is committed, so a caller reads its own writes.
//
// Entries are kept for Options.Retention (7 days by default); Reap deletes
// older ones and RunReaper calls it periodically. The clock is injected.
//
// Tables (owner "logs" in store.Migrate): invocation_logs, one row per
// (request id, retry), and instance_logs, one row per line printed outside
// an invocation.
package logs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/scfd/scfd/internal/sandbox"
)

// DefaultRetention is how long entries are kept.
const DefaultRetention = 7 * 24 * time.Hour

// Queue sizes of the writer.
const (
	queueEntries = 4096
	batchEntries = 256
)

// Migrator is what Store needs of the database: *store.Store has it.
type Migrator interface {
	DB() *sql.DB
	Migrate(ctx context.Context, owner string, migrations []string) error
}

// Options configure a Store. The zero value takes every default.
type Options struct {
	// Retention is how long entries are kept. Zero means DefaultRetention.
	Retention time.Duration
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// Logger receives write errors. Nil discards them.
	Logger *slog.Logger
	// Writer is the handle the writer commits through, such as the
	// store's Relaxed one (no disk flush per batch). Nil means the
	// Migrator's DB.
	Writer *sql.DB
}

// Entry is one invocation's log record, GetFunctionLogs' FunctionLog.
type Entry struct {
	RequestID string
	Namespace string
	Function  string
	Qualifier string // the version that ran
	StartTime time.Time
	// RetCode is 0 on success, else the SCF status code (see package
	// invoke): 430 a non-2xx answer, 433 a timeout, 434 out of memory,
	// 439 a process exit, ...
	RetCode        int
	RetMsg         string
	Duration       float64 // ms
	BillDuration   int64   // ms
	MemUsage       int64   // bytes, the peak during the invocation
	Log            string
	InvokeFinished int // 1 when the invocation ended
	RetryNum       int
	Truncated      bool // the function's output was cut at MaxLogBytes
}

// InstanceLine is a line an instance printed outside any invocation.
type InstanceLine struct {
	Namespace string
	Function  string
	Qualifier string
	Instance  string
	Time      time.Time
	Stream    sandbox.Stream
	Text      string
}

var migrations = []string{
	`CREATE TABLE invocation_logs (
		request_id      TEXT    NOT NULL,
		retry_num       INTEGER NOT NULL,
		namespace       TEXT    NOT NULL,
		function        TEXT    NOT NULL,
		qualifier       TEXT    NOT NULL,
		start_time      INTEGER NOT NULL,
		ret_code        INTEGER NOT NULL,
		ret_msg         TEXT    NOT NULL,
		duration        REAL    NOT NULL,
		bill_duration   INTEGER NOT NULL,
		mem_usage       INTEGER NOT NULL,
		log             TEXT    NOT NULL,
		invoke_finished INTEGER NOT NULL,
		truncated       INTEGER NOT NULL,
		PRIMARY KEY (request_id, retry_num)
	);
	CREATE INDEX invocation_logs_function ON invocation_logs (namespace, function, start_time);
	CREATE INDEX invocation_logs_time ON invocation_logs (start_time);
	CREATE TABLE instance_logs (
		id        INTEGER PRIMARY KEY,
		namespace TEXT    NOT NULL,
		function  TEXT    NOT NULL,
		qualifier TEXT    NOT NULL,
		instance  TEXT    NOT NULL,
		time      INTEGER NOT NULL,
		stream    TEXT    NOT NULL,
		text      TEXT    NOT NULL
	);
	CREATE INDEX instance_logs_function ON instance_logs (namespace, function, time);`,
}

// Store keeps logs. It is safe for concurrent use.
type Store struct {
	db        *sql.DB // queries
	wdb       *sql.DB // the writer's commits, see Options.Writer
	now       func() time.Time
	retention time.Duration
	log       *slog.Logger

	queue chan any // Entry or InstanceLine
	done  chan struct{}

	mu       sync.Mutex
	queued   uint64        // items ever queued
	written  uint64        // items ever handled by the writer
	progress chan struct{} // closed and replaced after each batch
	closed   bool
	dropped  uint64 // instance lines dropped because the queue was full
}

// Open creates the tables if needed and starts the writer.
func Open(ctx context.Context, m Migrator, opts Options) (*Store, error) {
	if err := m.Migrate(ctx, "logs", migrations); err != nil {
		return nil, err
	}
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Writer == nil {
		opts.Writer = m.DB()
	}
	s := &Store{
		db: m.DB(), wdb: opts.Writer, now: opts.Now, retention: opts.Retention, log: opts.Logger,
		queue: make(chan any, queueEntries), done: make(chan struct{}), progress: make(chan struct{}),
	}
	go s.writer()
	return s, nil
}

// Close writes what is queued and stops the writer. Later Puts fail.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.queue)
	s.mu.Unlock()
	<-s.done
	return nil
}

var errClosed = errors.New("logs: store closed")

// Put queues an invocation's entry for writing. An entry with the same
// request id and retry number replaces the earlier one. It waits only
// when the queue is full.
func (s *Store) Put(ctx context.Context, e Entry) error {
	return s.enqueue(ctx, e, true)
}

// Instance keeps a line an instance printed while no invocation held it.
// It never blocks: when the writer is behind, the line is dropped and
// counted. Its shape fits the pool's instance-log callback.
func (s *Store) Instance(namespace, function, qualifier string, l sandbox.LogLine) {
	_ = s.enqueue(context.Background(), InstanceLine{
		Namespace: namespace, Function: function, Qualifier: qualifier,
		Instance: l.Instance, Time: l.Time, Stream: l.Stream, Text: l.Text,
	}, false)
}

func (s *Store) enqueue(ctx context.Context, item any, wait bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	select {
	case s.queue <- item:
		s.queued++
		return nil
	default:
	}
	if !wait {
		s.dropped++
		return nil
	}
	// The queue is full: wait without holding the lock for long. Close
	// cannot run meanwhile, since it takes the lock.
	select {
	case s.queue <- item:
		s.queued++
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Store) writer() {
	defer close(s.done)
	batch := make([]any, 0, batchEntries)
	for item := range s.queue {
		batch = append(batch[:0], item)
	fill:
		for len(batch) < batchEntries {
			select {
			case it, ok := <-s.queue:
				if !ok {
					break fill
				}
				batch = append(batch, it)
			default:
				break fill
			}
		}
		if err := s.write(batch); err != nil {
			s.log.Error("logs: writing invocation logs", "entries", len(batch), "err", err)
		}
		s.mu.Lock()
		s.written += uint64(len(batch))
		close(s.progress)
		s.progress = make(chan struct{})
		s.mu.Unlock()
	}
}

func (s *Store) write(batch []any) error {
	ctx := context.Background()
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// Statements are prepared once per batch, lazily: most batches hold
	// only one kind of item.
	var entries, lines *sql.Stmt
	for _, item := range batch {
		switch it := item.(type) {
		case Entry:
			if entries == nil {
				if entries, err = tx.PrepareContext(ctx, `INSERT OR REPLACE INTO invocation_logs
					(request_id, retry_num, namespace, function, qualifier, start_time, ret_code, ret_msg,
					 duration, bill_duration, mem_usage, log, invoke_finished, truncated)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`); err != nil {
					return err
				}
				defer entries.Close()
			}
			_, err = entries.ExecContext(ctx, it.RequestID, it.RetryNum, it.Namespace, it.Function, it.Qualifier, it.StartTime.UnixNano(),
				it.RetCode, it.RetMsg, it.Duration, it.BillDuration, it.MemUsage, it.Log, it.InvokeFinished, it.Truncated)
		case InstanceLine:
			if lines == nil {
				if lines, err = tx.PrepareContext(ctx, `INSERT INTO instance_logs (namespace, function, qualifier, instance, time, stream, text)
					VALUES (?, ?, ?, ?, ?, ?, ?)`); err != nil {
					return err
				}
				defer lines.Close()
			}
			_, err = lines.ExecContext(ctx, it.Namespace, it.Function, it.Qualifier, it.Instance, it.Time.UnixNano(), string(it.Stream), it.Text)
		}
		if err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Sync waits until everything queued before it was written.
func (s *Store) Sync(ctx context.Context) error {
	s.mu.Lock()
	target := s.queued
	for s.written < target {
		ch := s.progress
		s.mu.Unlock()
		select {
		case <-ch:
		case <-s.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		s.mu.Lock()
	}
	s.mu.Unlock()
	return nil
}

// DroppedInstanceLines counts instance lines dropped because the writer
// was behind.
func (s *Store) DroppedInstanceLines() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// Reap deletes entries and instance lines older than the retention and
// returns how many rows went.
func (s *Store) Reap(ctx context.Context) (int64, error) {
	if err := s.Sync(ctx); err != nil {
		return 0, err
	}
	cutoff := s.now().Add(-s.retention).UnixNano()
	var n int64
	for _, q := range []string{
		`DELETE FROM invocation_logs WHERE start_time < ?`,
		`DELETE FROM instance_logs WHERE time < ?`,
	} {
		res, err := s.db.ExecContext(ctx, q, cutoff)
		if err != nil {
			return n, fmt.Errorf("logs: reap: %w", err)
		}
		k, _ := res.RowsAffected()
		n += k
	}
	return n, nil
}

// RunReaper calls Reap every interval until ctx ends.
func (s *Store) RunReaper(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.Reap(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("logs: reaping old logs", "err", err)
			}
		}
	}
}
