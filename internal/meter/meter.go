// Package meter keeps scfd's usage as SCF bills it: invocations, errors
// and GB-seconds of each invocation, idle GB-seconds of provisioned
// instances in 10-second steps, and outbound bytes, aggregated per
// function, qualifier and hour in SQLite, and the cost that follows from
// them with SCF's published prices and free tier.
//
// Records are committed when Record returns: writes from concurrent
// invocations share one transaction (group commit). Through the store's
// Relaxed handle, a commit survives kill -9 of the process without
// waiting for the disk. Each
// invocation attempt is counted once, keyed by its request id and retry
// number, so a retried write or a replay after a restart never counts
// twice.
package meter

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"
)

// Migrator is what the meter needs of the database; *store.Store has it.
type Migrator interface {
	DB() *sql.DB
	Migrate(ctx context.Context, owner string, migrations []string) error
}

// ProvisionedStep is the granularity of idle provisioned metering.
const ProvisionedStep = 10 * time.Second

// Invocation is one finished invocation attempt.
type Invocation struct {
	RequestID    string
	RetryNum     int
	Namespace    string
	Function     string
	Qualifier    string // the version that ran
	MemoryMB     int64
	BillDuration int64 // ms: Duration rounded up to the next whole ms
	Error        bool
	Time         time.Time // when it finished
}

// GBSeconds is SCF's resource usage of an invocation:
// MemorySize / 1024 * BillDuration / 1000.
func (i Invocation) GBSeconds() float64 {
	return float64(i.MemoryMB) / 1024 * float64(i.BillDuration) / 1000
}

// Key names the bucket of a function version.
type Key struct {
	Namespace, Function, Qualifier string
}

// Options configure a Meter. DB is required.
type Options struct {
	DB Migrator
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// Writer is the handle writes commit through, such as the store's
	// Relaxed one: its commits survive kill -9 without a disk flush each.
	// Nil means DB.DB().
	Writer *sql.DB
}

var migrations = []string{
	`CREATE TABLE usage_hourly (
		namespace      TEXT NOT NULL,
		function       TEXT NOT NULL,
		qualifier      TEXT NOT NULL,
		hour           INTEGER NOT NULL,
		invocations    INTEGER NOT NULL DEFAULT 0,
		errors         INTEGER NOT NULL DEFAULT 0,
		gb_seconds     REAL NOT NULL DEFAULT 0,
		idle_gb_seconds REAL NOT NULL DEFAULT 0,
		outbound_bytes INTEGER NOT NULL DEFAULT 0,
		PRIMARY KEY (namespace, function, qualifier, hour)
	);
	CREATE TABLE usage_seen (
		id   TEXT PRIMARY KEY,
		hour INTEGER NOT NULL
	);
	CREATE INDEX usage_seen_hour ON usage_seen(hour);`,
}

// Meter records usage. It is safe for concurrent use.
type Meter struct {
	db  *sql.DB // queries
	wdb *sql.DB // commits, see Options.Writer
	now func() time.Time
	log *slog.Logger

	mu      sync.Mutex
	pending []write
	kick    chan struct{}
	done    chan struct{}
	closed  bool
}

// write is one queued change and the channel its result goes to.
type write struct {
	apply func(tx *sql.Tx) error
	errc  chan error
}

// Open creates the usage tables if needed and starts the writer.
func Open(ctx context.Context, opts Options) (*Meter, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := opts.DB.Migrate(ctx, "meter", migrations); err != nil {
		return nil, err
	}
	if opts.Writer == nil {
		opts.Writer = opts.DB.DB()
	}
	m := &Meter{db: opts.DB.DB(), wdb: opts.Writer, now: opts.Now, log: opts.Logger, kick: make(chan struct{}, 1), done: make(chan struct{})}
	go m.writer()
	return m, nil
}

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("meter: closed")

// Close writes what is queued and stops the writer.
func (m *Meter) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	close(m.kick)
	<-m.done
	return nil
}

// submit queues a change and waits until it is committed.
func (m *Meter) submit(ctx context.Context, apply func(tx *sql.Tx) error) error {
	w := write{apply: apply, errc: make(chan error, 1)}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	m.pending = append(m.pending, w)
	m.mu.Unlock()
	select {
	case m.kick <- struct{}{}:
	default:
	}
	select {
	case err := <-w.errc:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writer commits queued changes in batches: everything queued while one
// transaction commits goes into the next.
func (m *Meter) writer() {
	defer close(m.done)
	for range m.kick {
		m.flush()
	}
	m.flush()
}

func (m *Meter) flush() {
	m.mu.Lock()
	batch := m.pending
	m.pending = nil
	m.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	err := m.commit(batch)
	for _, w := range batch {
		w.errc <- err
	}
}

func (m *Meter) commit(batch []write) (err error) {
	tx, err := m.wdb.Begin()
	if err != nil {
		return fmt.Errorf("meter: beginning a transaction: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	for _, w := range batch {
		if err = w.apply(tx); err != nil {
			return err
		}
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("meter: committing: %w", err)
	}
	return nil
}

func hourOf(t time.Time) int64 { return t.UTC().Truncate(time.Hour).Unix() }

// add adds to one hour's bucket.
func add(tx *sql.Tx, k Key, hour int64, invocations, errs int64, gbs, idle float64, out int64) error {
	_, err := tx.Exec(`INSERT INTO usage_hourly
		(namespace, function, qualifier, hour, invocations, errors, gb_seconds, idle_gb_seconds, outbound_bytes)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(namespace, function, qualifier, hour) DO UPDATE SET
			invocations = invocations + excluded.invocations,
			errors = errors + excluded.errors,
			gb_seconds = gb_seconds + excluded.gb_seconds,
			idle_gb_seconds = idle_gb_seconds + excluded.idle_gb_seconds,
			outbound_bytes = outbound_bytes + excluded.outbound_bytes`,
		k.Namespace, k.Function, k.Qualifier, hour, invocations, errs, gbs, idle, out)
	if err != nil {
		return fmt.Errorf("meter: adding usage of %s/%s: %w", k.Namespace, k.Function, err)
	}
	return nil
}

// Record counts one finished invocation attempt, once: recording the same
// request id and retry number again changes nothing.
func (m *Meter) Record(ctx context.Context, inv Invocation) error {
	if inv.Time.IsZero() {
		inv.Time = m.now()
	}
	hour := hourOf(inv.Time)
	id := fmt.Sprintf("%s#%d", inv.RequestID, inv.RetryNum)
	errs := int64(0)
	if inv.Error {
		errs = 1
	}
	k := Key{inv.Namespace, inv.Function, inv.Qualifier}
	return m.submit(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`INSERT OR IGNORE INTO usage_seen (id, hour) VALUES (?, ?)`, id, hour)
		if err != nil {
			return fmt.Errorf("meter: recording %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // counted already
		}
		return add(tx, k, hour, 1, errs, inv.GBSeconds(), 0, 0)
	})
}

// ProvisionedIdle is one sample of a version's provisioned instances.
type ProvisionedIdle struct {
	Key
	MemoryMB int64
	// Idle is max(started provisioned instances - concurrent ones, 0),
	// concurrency being its maximum over the step.
	Idle int
}

// RecordProvisionedIdle meters one ProvisionedStep of idle provisioned
// instances, ending at t: idle × MemorySize/1024 × 10 s each.
func (m *Meter) RecordProvisionedIdle(ctx context.Context, t time.Time, samples []ProvisionedIdle) error {
	hour := hourOf(t)
	return m.submit(ctx, func(tx *sql.Tx) error {
		for _, s := range samples {
			if s.Idle <= 0 {
				continue
			}
			gbs := float64(s.Idle) * float64(s.MemoryMB) / 1024 * ProvisionedStep.Seconds()
			if err := add(tx, s.Key, hour, 0, 0, 0, gbs, 0); err != nil {
				return err
			}
		}
		return nil
	})
}

// RecordOutbound adds bytes that a version's instances sent to anything
// but scfd.
func (m *Meter) RecordOutbound(ctx context.Context, t time.Time, k Key, bytes int64) error {
	if bytes <= 0 {
		return nil
	}
	return m.submit(ctx, func(tx *sql.Tx) error { return add(tx, k, hourOf(t), 0, 0, 0, 0, bytes) })
}

// Forget deletes the dedupe keys older than before (their invocations can
// no longer be replayed); the hourly buckets stay.
func (m *Meter) Forget(ctx context.Context, before time.Time) error {
	return m.submit(ctx, func(tx *sql.Tx) error {
		_, err := tx.Exec(`DELETE FROM usage_seen WHERE hour < ?`, hourOf(before))
		return err
	})
}

// round6 keeps six decimals, enough for GB-seconds and dollars.
func round6(v float64) float64 { return math.Round(v*1e6) / 1e6 }

// SampleInterval is how often RunIdleSampler looks at the provisioned
// instances within one ProvisionedStep.
const SampleInterval = time.Second

// RunIdleSampler meters idle provisioned instances until ctx ends: every
// SampleInterval it reads how many provisioned instances of each version
// are idle, and every ProvisionedStep it records, per version, the
// fewest it saw idle in the step (the started provisioned instances minus
// the step's peak concurrency, as SCF counts them); a version missing
// from any reading of the step counts as 0 idle. read must be cheap.
func (m *Meter) RunIdleSampler(ctx context.Context, read func() []ProvisionedIdle) {
	ticker := time.NewTicker(SampleInterval)
	defer ticker.Stop()
	steps := int(ProvisionedStep / SampleInterval)
	var fewest map[Key]ProvisionedIdle
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		cur := map[Key]ProvisionedIdle{}
		for _, s := range read() {
			cur[s.Key] = s
		}
		if n%steps == 0 {
			fewest = cur
		} else {
			for k, f := range fewest {
				if c, ok := cur[k]; !ok {
					f.Idle = 0
					fewest[k] = f
				} else if c.Idle < f.Idle {
					f.Idle = c.Idle
					fewest[k] = f
				}
			}
		}
		if n%steps != steps-1 {
			continue
		}
		samples := make([]ProvisionedIdle, 0, len(fewest))
		for _, f := range fewest {
			samples = append(samples, f)
		}
		if err := m.RecordProvisionedIdle(ctx, m.now(), samples); err != nil && ctx.Err() == nil {
			m.log.Warn("meter: recording idle provisioned instances", "err", err)
		}
	}
}

// InstanceBytes is how many bytes one instance has sent out so far.
type InstanceBytes struct {
	Key
	Bytes uint64
}

// RunOutboundSampler meters outbound traffic until ctx ends: every
// interval it reads each instance's running count (read returns the
// instances that ran since the previous reading, by instance id, stopped
// ones included once with their final count) and records what each
// version's instances sent since the previous reading.
func (m *Meter) RunOutboundSampler(ctx context.Context, interval time.Duration, read func() (map[string]InstanceBytes, error)) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	last := map[string]uint64{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		cur, err := read()
		if err != nil {
			m.log.Warn("meter: reading outbound traffic", "err", err)
			continue
		}
		sent := map[Key]int64{}
		for id, c := range cur {
			if c.Bytes > last[id] {
				sent[c.Key] += int64(c.Bytes - last[id])
			}
			last[id] = c.Bytes
		}
		for id := range last {
			if _, ok := cur[id]; !ok {
				delete(last, id)
			}
		}
		now := m.now()
		for k, n := range sent {
			if err := m.RecordOutbound(ctx, now, k, n); err != nil && ctx.Err() == nil {
				m.log.Warn("meter: recording outbound traffic", "err", err)
			}
		}
	}
}
