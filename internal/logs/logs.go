// Package logs keeps the log of every invocation, and the output a
// function's instances print between invocations, in scfd's database
// (the store's SQLite or PostgreSQL), and answers GetFunctionLogs queries
// over them. On PostgreSQL every replica reads what any replica wrote.
//
// The invocation path builds each invocation's log with a Builder (SCF's
// platform lines around the function's own output, capped at MaxLogBytes
// and marked when cut) and hands the finished Entry to Store.Put. Put
// does not wait for the database: the store's batching writer (store.Writer)
// commits queued entries with the other records of the request path in
// few transactions, so logging costs the invocation no disk latency.
// Queries first wait until every entry queued before them is committed,
// so a caller reads its own writes. Begin marks an invocation as running
// until its entry is Put, in memory only, and Running reports it.
//
// Entries are kept for Options.Retention (7 days by default) and within a
// budget of bytes (Options.MaxBytes): past it, the oldest entries and
// instance lines are deleted first. Reap deletes entries past the
// retention and RunReaper calls it periodically. The clock is injected.
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
	"github.com/scfd/scfd/internal/store"
)

// DefaultRetention is how long entries are kept.
const DefaultRetention = 7 * 24 * time.Hour

// Migrator is what Store needs of the database: *store.Store has it.
type Migrator interface {
	DB() *sql.DB
	Migrate(ctx context.Context, owner string, migrations []string) error
	Writer() *store.Writer
}

// DefaultMaxBytes is the log budget when Options.MaxBytes is zero.
const DefaultMaxBytes = 10 << 30

// rowOverhead is what a row costs beyond its text, as the budget counts
// it: the other columns and the three index entries.
const rowOverhead = 200

// trimChunk is the most of the oldest rows one step of a trim deletes.
const trimChunk = 1024

// Options configure a Store. The zero value takes every default.
type Options struct {
	// Retention is how long entries are kept. Zero means DefaultRetention.
	Retention time.Duration
	// MaxBytes bounds what the logs keep (their text plus rowOverhead a
	// row): past it the oldest entries and instance lines are deleted.
	// Zero means DefaultMaxBytes.
	MaxBytes int64
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// Logger receives write errors. Nil discards them.
	Logger *slog.Logger
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
	// HTTPMethod, HTTPPath and HTTPStatus describe a web function's
	// request: its method, its path below the function, and the status
	// the caller got. Empty and 0 for events.
	HTTPMethod string
	HTTPPath   string
	HTTPStatus int
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
	// 2: what each row costs the budget (Options.MaxBytes).
	`ALTER TABLE invocation_logs ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
	UPDATE invocation_logs SET size = length(CAST(log AS BLOB)) + length(CAST(ret_msg AS BLOB)) + 200;
	ALTER TABLE instance_logs ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
	UPDATE instance_logs SET size = length(CAST(text AS BLOB)) + 200;
	CREATE INDEX instance_logs_time ON instance_logs (time);`,
	// 3: the budget is shared fairly: trims take the oldest rows of the
	// namespace that keeps the most.
	`CREATE INDEX invocation_logs_namespace_time ON invocation_logs (namespace, start_time);
	CREATE INDEX instance_logs_namespace_time ON instance_logs (namespace, time);`,
	// 4: a web request's method, path and status.
	`ALTER TABLE invocation_logs ADD COLUMN http_method TEXT NOT NULL DEFAULT '';
	ALTER TABLE invocation_logs ADD COLUMN http_path TEXT NOT NULL DEFAULT '';
	ALTER TABLE invocation_logs ADD COLUMN http_status INTEGER NOT NULL DEFAULT 0;`,
}

// Store keeps logs. It is safe for concurrent use.
type Store struct {
	db        *sql.DB // queries
	w         *store.Writer
	now       func() time.Time
	retention time.Duration
	max       int64
	log       *slog.Logger

	mu       sync.Mutex
	bytes    int64            // what the kept rows cost, see Options.MaxBytes
	byNS     map[string]int64 // the same, by namespace
	trimming bool             // a trim is queued
	closed   bool

	run running // invocations begun and not yet Put
}

// Open creates the tables if needed and reads what the kept logs cost.
func Open(ctx context.Context, m Migrator, opts Options) (*Store, error) {
	if err := m.Migrate(ctx, "logs", migrations); err != nil {
		return nil, err
	}
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{
		db: m.DB(), w: m.Writer(), now: opts.Now, retention: opts.Retention, max: opts.MaxBytes, log: opts.Logger,
		byNS: map[string]int64{},
	}
	rows, err := s.db.QueryContext(ctx, `SELECT namespace, SUM(size) FROM
		(SELECT namespace, size FROM invocation_logs UNION ALL SELECT namespace, size FROM instance_logs) AS kept GROUP BY namespace`)
	if err != nil {
		return nil, fmt.Errorf("logs: reading the size of the logs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var ns string
		var n int64
		if err := rows.Scan(&ns, &n); err != nil {
			return nil, fmt.Errorf("logs: reading the size of the logs: %w", err)
		}
		s.byNS[ns] = n
		s.bytes += n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("logs: reading the size of the logs: %w", err)
	}
	return s, nil
}

// Close writes what is queued. Later Puts fail.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return s.w.Sync(context.Background())
}

var errClosed = errors.New("logs: store closed")

// Put queues an invocation's entry for writing and returns: the entry is
// committed within milliseconds (see store.Writer). An entry with the
// same request id and retry number replaces the earlier one. It waits
// only when the writer's queue is full.
func (s *Store) Put(ctx context.Context, e Entry) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		s.end(e.RequestID)
		return errClosed
	}
	// Forgotten as running only once queued, so that a Query made after
	// Running missed it finds it.
	defer s.end(e.RequestID)
	return s.w.Put(ctx, entryRecord{s, e})
}

// Instance keeps a line an instance printed while no invocation held it.
// It never blocks: when the writer is behind, the line is dropped and
// counted. Its shape fits the pool's instance-log callback.
func (s *Store) Instance(namespace, function, qualifier string, l sandbox.LogLine) {
	s.w.TryPut(lineRecord{s, InstanceLine{
		Namespace: namespace, Function: function, Qualifier: qualifier,
		Instance: l.Instance, Time: l.Time, Stream: l.Stream, Text: l.Text,
	}})
}

type entryRecord struct {
	s *Store
	e Entry
}

func (r entryRecord) Apply(b *store.Batch) error {
	e := r.e
	// A replaced entry (the same request and retry) is counted again:
	// the budget errs on the safe side until the next Open sums it anew.
	size := int64(len(e.Log)+len(e.RetMsg)+len(e.HTTPPath)) + rowOverhead
	if _, err := b.Exec(`INSERT INTO invocation_logs
		(request_id, retry_num, namespace, function, qualifier, start_time, ret_code, ret_msg,
		 duration, bill_duration, mem_usage, log, invoke_finished, truncated, size, http_method, http_path, http_status)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (request_id, retry_num) DO UPDATE SET
		 namespace = excluded.namespace, function = excluded.function, qualifier = excluded.qualifier,
		 start_time = excluded.start_time, ret_code = excluded.ret_code, ret_msg = excluded.ret_msg,
		 duration = excluded.duration, bill_duration = excluded.bill_duration, mem_usage = excluded.mem_usage,
		 log = excluded.log, invoke_finished = excluded.invoke_finished, truncated = excluded.truncated,
		 size = excluded.size, http_method = excluded.http_method, http_path = excluded.http_path,
		 http_status = excluded.http_status`,
		e.RequestID, e.RetryNum, e.Namespace, e.Function, e.Qualifier, e.StartTime.UnixNano(),
		e.RetCode, e.RetMsg, e.Duration, e.BillDuration, e.MemUsage, e.Log, e.InvokeFinished, e.Truncated, size,
		e.HTTPMethod, e.HTTPPath, e.HTTPStatus); err != nil {
		return fmt.Errorf("logs: keeping the log of %s: %w", e.RequestID, err)
	}
	r.s.grow(e.Namespace, size)
	return nil
}

type lineRecord struct {
	s *Store
	l InstanceLine
}

func (r lineRecord) Apply(b *store.Batch) error {
	l := r.l
	size := int64(len(l.Text)) + rowOverhead
	if _, err := b.Exec(`INSERT INTO instance_logs (namespace, function, qualifier, instance, time, stream, text, size)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		l.Namespace, l.Function, l.Qualifier, l.Instance, l.Time.UnixNano(), string(l.Stream), l.Text, size); err != nil {
		return fmt.Errorf("logs: keeping an instance line: %w", err)
	}
	r.s.grow(l.Namespace, size)
	return nil
}

// grow counts bytes a namespace keeps (or, negative, freed) and queues a
// trim when the logs pass their budget.
func (s *Store) grow(namespace string, n int64) {
	s.mu.Lock()
	s.bytes += n
	if n != 0 {
		if s.byNS[namespace] += n; s.byNS[namespace] <= 0 {
			delete(s.byNS, namespace)
		}
	}
	trim := s.bytes > s.max && !s.trimming
	if trim {
		s.trimming = true
	}
	s.mu.Unlock()
	if trim && !s.w.TryPut(store.RecordFunc(s.trim)) {
		s.mu.Lock()
		s.trimming = false
		s.mu.Unlock()
	}
}

// trim deletes the oldest rows of the namespace that keeps the most, a
// chunk at a time, from whichever table holds its oldest, until the logs
// fit their budget again: a namespace that logs a lot loses its own old
// logs before any other's. It runs in the
// writer, between batches of new rows; when 64 chunks were not enough it
// queues itself again.
func (s *Store) trim(b *store.Batch) error {
	err := s.trimChunks(b)
	s.mu.Lock()
	s.trimming = false
	s.mu.Unlock()
	if err == nil {
		s.grow("", 0)
	}
	return err
}

func (s *Store) trimChunks(b *store.Batch) error {
	for range 64 {
		s.mu.Lock()
		excess := s.bytes - s.max
		over := excess > 0
		ns, most := "", int64(-1)
		for k, n := range s.byNS {
			if n > most || n == most && k < ns {
				ns, most = k, n
			}
		}
		s.mu.Unlock()
		if !over {
			return nil
		}
		if most < 0 { // nothing counted: the count drifted
			s.mu.Lock()
			s.bytes = 0
			s.mu.Unlock()
			return nil
		}
		var oldEntry, oldLine sql.NullInt64
		if err := b.QueryRow(`SELECT (SELECT MIN(start_time) FROM invocation_logs WHERE namespace = ?), (SELECT MIN(time) FROM instance_logs WHERE namespace = ?)`, ns, ns).Scan(&oldEntry, &oldLine); err != nil {
			return fmt.Errorf("logs: trim: %w", err)
		}
		q := `DELETE FROM invocation_logs WHERE (request_id, retry_num) IN
			(SELECT request_id, retry_num FROM invocation_logs WHERE namespace = ? ORDER BY start_time LIMIT ?) RETURNING size`
		switch {
		case !oldEntry.Valid && !oldLine.Valid:
			s.grow(ns, -most) // its rows are gone
			continue
		case !oldEntry.Valid, oldLine.Valid && oldLine.Int64 < oldEntry.Int64:
			q = `DELETE FROM instance_logs WHERE id IN (SELECT id FROM instance_logs WHERE namespace = ? ORDER BY time LIMIT ?) RETURNING size`
		}
		// A chunk of about what is too much (counting 4 KB a row, so rows
		// of any size go a few at a time), within [16, trimChunk] rows.
		limit := min(max(excess/4096+1, 16), trimChunk)
		freed, err := sumRows(b.Query(q, ns, limit))
		if err != nil {
			return fmt.Errorf("logs: trim: %w", err)
		}
		s.mu.Lock()
		s.bytes -= freed
		if s.byNS[ns] -= freed; s.byNS[ns] <= 0 {
			delete(s.byNS, ns)
		}
		s.mu.Unlock()
	}
	return nil
}

// sumRows adds up the single integer column of rows.
func sumRows(rows *sql.Rows, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var sum int64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			return sum, err
		}
		sum += n
	}
	return sum, rows.Err()
}

// Sync waits until everything queued before it was written.
func (s *Store) Sync(ctx context.Context) error { return s.w.Sync(ctx) }

// Bytes is what the kept logs cost the budget (Options.MaxBytes).
func (s *Store) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

// Reap deletes entries and instance lines older than the retention and
// returns how many rows went. It runs in the writer, after what was
// queued before it.
func (s *Store) Reap(ctx context.Context) (int64, error) {
	cutoff := s.now().Add(-s.retention).UnixNano()
	var n int64
	errc := make(chan error, 1)
	err := s.w.Put(ctx, store.RecordFunc(func(b *store.Batch) error {
		freed := map[string]int64{}
		for _, q := range []string{
			`DELETE FROM invocation_logs WHERE start_time < ? RETURNING namespace, size`,
			`DELETE FROM instance_logs WHERE time < ? RETURNING namespace, size`,
		} {
			rows, err := b.Query(q, cutoff)
			if err != nil {
				errc <- err
				return err
			}
			for rows.Next() {
				var ns string
				var size int64
				if err := rows.Scan(&ns, &size); err != nil {
					rows.Close()
					errc <- err
					return err
				}
				freed[ns] += size
				n++
			}
			rows.Close()
		}
		for ns, size := range freed {
			s.grow(ns, -size)
		}
		errc <- nil
		return nil
	}))
	if err != nil {
		return 0, fmt.Errorf("logs: reap: %w", err)
	}
	if err := s.w.Sync(ctx); err != nil {
		return 0, err
	}
	select {
	case err := <-errc:
		if err != nil {
			return 0, fmt.Errorf("logs: reap: %w", err)
		}
		return n, nil
	default:
		return 0, errors.New("logs: reap: the writer did not run it")
	}
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
