// Package monitor keeps the time series the console plots: per function
// version and minute, the invocations, errors, a histogram of durations,
// cold starts with their total and longest duration, the peak of
// concurrent instances and the GB-seconds.
//
// Record and SampleInstances only touch memory; Flush (run once a minute
// by Run) adds the finished minutes to the store's database through the store's batching
// writer (store.Writer), merging with what is there,
// and deletes minutes past the retention. Query reads a range at a chosen
// step, merging the minutes still in memory, so a plot is current at once.
// Durations are counted in fixed log-spaced buckets, so percentiles of any
// range are computed by adding the buckets of its minutes.
package monitor

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/scfd/scfd/internal/store"
)

// Migrator is what the monitor needs of the database; *store.Store has it.
type Migrator interface {
	DB() *sql.DB
	Migrate(ctx context.Context, owner string, migrations []string) error
	Writer() *store.Writer
}

// DefaultRetention is how long minutes are kept when Options.Retention is
// zero: a week plots whole, with a day to spare.
const DefaultRetention = 8 * 24 * time.Hour

// Key names a function version.
type Key struct {
	Namespace, Function, Qualifier string
}

// Invocation is one finished invocation, as the monitor counts it.
type Invocation struct {
	Key
	Time      time.Time     // when it finished; zero means now
	Duration  time.Duration // the code's run time
	Error     bool          // a non-zero RetCode
	Refused   bool          // refused before it ran (counted, its duration not)
	Cold      bool          // it started its instance
	ColdStart time.Duration // the start's total, when Cold
	GBSeconds float64
}

// Options configure a Monitor. DB is required.
type Options struct {
	DB Migrator
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Retention is how long minutes are kept; zero means DefaultRetention.
	Retention time.Duration
	// Logger: nil means slog.Default().
	Logger *slog.Logger
}

var migrations = []string{
	`CREATE TABLE monitor_minute (
		namespace   TEXT NOT NULL,
		function    TEXT NOT NULL,
		qualifier   TEXT NOT NULL,
		minute      INTEGER NOT NULL,
		invocations INTEGER NOT NULL DEFAULT 0,
		errors      INTEGER NOT NULL DEFAULT 0,
		cold_starts INTEGER NOT NULL DEFAULT 0,
		cold_ms     REAL NOT NULL DEFAULT 0,
		cold_max_ms REAL NOT NULL DEFAULT 0,
		instances   INTEGER NOT NULL DEFAULT 0,
		gb_seconds  REAL NOT NULL DEFAULT 0,
		hist        BLOB,
		PRIMARY KEY (namespace, function, minute, qualifier)
	);
	CREATE INDEX monitor_minute_by_time ON monitor_minute (minute);`,
}

// Monitor collects and serves the series. Its methods are safe for
// concurrent use.
type Monitor struct {
	db        *sql.DB
	w         *store.Writer
	now       func() time.Time
	retention time.Duration
	log       *slog.Logger

	mu      sync.Mutex
	pending map[bucketKey]*Point
	flushMu sync.Mutex // one Flush at a time
}

type bucketKey struct {
	Key
	minute int64 // Unix minutes
}

// Open migrates the monitor's table and returns a Monitor.
func Open(ctx context.Context, opts Options) (*Monitor, error) {
	if opts.DB == nil {
		return nil, errors.New("monitor: Options.DB is required")
	}
	if err := opts.DB.Migrate(ctx, "monitor", migrations); err != nil {
		return nil, err
	}
	m := &Monitor{
		db: opts.DB.DB(), w: opts.DB.Writer(), now: opts.Now, retention: opts.Retention, log: opts.Logger,
		pending: map[bucketKey]*Point{},
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.retention <= 0 {
		m.retention = DefaultRetention
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	return m, nil
}

func unixMinute(t time.Time) int64 { return t.Unix() / 60 }

// point returns the pending point of k at minute, creating it; m.mu is held.
func (m *Monitor) point(k Key, minute int64) *Point {
	bk := bucketKey{k, minute}
	p := m.pending[bk]
	if p == nil {
		p = &Point{}
		m.pending[bk] = p
	}
	return p
}

// Record counts one finished invocation.
func (m *Monitor) Record(inv Invocation) {
	t := inv.Time
	if t.IsZero() {
		t = m.now()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.point(inv.Key, unixMinute(t))
	p.Invocations++
	if inv.Error {
		p.Errors++
	}
	if !inv.Refused {
		p.Durations.Add(inv.Duration)
	}
	if inv.Cold {
		ms := float64(inv.ColdStart) / float64(time.Millisecond)
		p.ColdStarts++
		p.ColdStartMs += ms
		p.ColdStartMaxMs = math.Max(p.ColdStartMaxMs, ms)
	}
	p.GBSeconds += inv.GBSeconds
}

// SampleInstances records how many instances each version has now; each
// minute keeps the peak of its samples.
func (m *Monitor) SampleInstances(counts map[Key]int) {
	minute := unixMinute(m.now())
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, n := range counts {
		if n <= 0 {
			continue
		}
		p := m.point(k, minute)
		p.Instances = max(p.Instances, int64(n))
	}
}

// Flush writes the minutes that have ended to the database, merging with
// rows already there, and deletes the minutes past the retention. With
// all, the current minute is written too (at shutdown).
func (m *Monitor) Flush(ctx context.Context, all bool) error {
	m.flushMu.Lock()
	defer m.flushMu.Unlock()
	now := m.now()
	current := unixMinute(now)
	m.mu.Lock()
	batch := map[bucketKey]*Point{}
	for k, p := range m.pending {
		if all || k.minute < current {
			batch[k] = p
			delete(m.pending, k)
		}
	}
	m.mu.Unlock()
	err := m.write(ctx, batch, unixMinute(now.Add(-m.retention)))
	if err != nil {
		// Put the batch back, so the next Flush tries again.
		m.mu.Lock()
		for k, p := range batch {
			if q := m.pending[k]; q != nil {
				p.merge(q)
			}
			m.pending[k] = p
		}
		m.mu.Unlock()
	}
	return err
}

func (m *Monitor) write(ctx context.Context, batch map[bucketKey]*Point, oldest int64) error {
	errc := make(chan error, 1)
	rec := store.RecordFunc(func(b *store.Batch) error {
		err := m.apply(b, batch, oldest)
		errc <- err
		return err
	})
	if err := m.w.Put(ctx, rec); err != nil {
		return fmt.Errorf("monitor: %w", err)
	}
	if err := m.w.Sync(ctx); err != nil {
		return fmt.Errorf("monitor: %w", err)
	}
	select {
	case err := <-errc:
		return err
	default:
		return errors.New("monitor: the store's writer did not write the minutes")
	}
}

// apply merges batch into the stored minutes, in the writer's
// transaction.
func (m *Monitor) apply(b *store.Batch, batch map[bucketKey]*Point, oldest int64) error {
	for k, p := range batch {
		if k.minute < oldest {
			continue
		}
		row := *p
		var old Point
		var hist []byte
		err := b.QueryRow(`SELECT invocations, errors, cold_starts, cold_ms, cold_max_ms, instances, gb_seconds, hist
			FROM monitor_minute WHERE namespace = ? AND function = ? AND minute = ? AND qualifier = ?`,
			k.Namespace, k.Function, k.minute, k.Qualifier).Scan(
			&old.Invocations, &old.Errors, &old.ColdStarts, &old.ColdStartMs, &old.ColdStartMaxMs, &old.Instances, &old.GBSeconds, &hist)
		switch {
		case err == nil:
			old.Durations.decode(hist)
			row.merge(&old)
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("monitor: %w", err)
		}
		if _, err := b.Exec(`INSERT INTO monitor_minute
			(namespace, function, qualifier, minute, invocations, errors, cold_starts, cold_ms, cold_max_ms, instances, gb_seconds, hist)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (namespace, function, minute, qualifier) DO UPDATE SET
			 invocations = excluded.invocations, errors = excluded.errors, cold_starts = excluded.cold_starts,
			 cold_ms = excluded.cold_ms, cold_max_ms = excluded.cold_max_ms, instances = excluded.instances,
			 gb_seconds = excluded.gb_seconds, hist = excluded.hist`, k.Namespace, k.Function, k.Qualifier, k.minute, row.Invocations, row.Errors,
			row.ColdStarts, row.ColdStartMs, row.ColdStartMaxMs, row.Instances, row.GBSeconds, row.Durations.encode()); err != nil {
			return fmt.Errorf("monitor: %w", err)
		}
	}
	if _, err := b.Exec(`DELETE FROM monitor_minute WHERE minute < ?`, oldest); err != nil {
		return fmt.Errorf("monitor: %w", err)
	}
	return nil
}

// Forget drops the minutes of a deleted function, in memory and stored.
func (m *Monitor) Forget(ctx context.Context, namespace, function string) error {
	m.mu.Lock()
	for k := range m.pending {
		if k.Namespace == namespace && k.Function == function {
			delete(m.pending, k)
		}
	}
	m.mu.Unlock()
	if _, err := m.db.ExecContext(ctx, `DELETE FROM monitor_minute WHERE namespace = ? AND function = ?`, namespace, function); err != nil {
		return fmt.Errorf("monitor: %w", err)
	}
	return nil
}

// Run flushes every interval until ctx ends, then flushes everything.
func (m *Monitor) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = time.Minute
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := m.Flush(context.WithoutCancel(ctx), true); err != nil {
				m.log.Error("monitor: the last flush failed", "err", err)
			}
			return
		case <-t.C:
			if err := m.Flush(ctx, false); err != nil {
				m.log.Error("monitor: flush failed; retrying at the next", "err", err)
			}
		}
	}
}

// RunSampler calls sample every interval until ctx ends and records the
// instance counts it returns.
func (m *Monitor) RunSampler(ctx context.Context, interval time.Duration, sample func() map[Key]int) {
	if interval <= 0 {
		interval = time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			m.SampleInstances(sample())
		}
	}
}
