// Package meter keeps scfd's usage as SCF bills it: invocations, errors
// and GB-seconds of each invocation, idle GB-seconds of provisioned
// instances in 10-second steps, and outbound bytes, aggregated per
// function, qualifier and hour in the store's database, and the cost that follows from
// them with SCF's published prices and free tier.
//
// Record does not wait for the database: counts add up in memory, per
// version and hour, and are written by the store's batching writer
// (store.Writer) a few milliseconds later, one row per version and hour
// however many invocations it holds; Sync waits for them. An attempt that
// can be replayed (an async event's) is counted once, keyed by its
// request id and retry number, so a replay after a restart never counts
// twice; its key is kept only while a replay can come (ReplayWindow).
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

	"github.com/scfd/scfd/internal/store"
)

// Migrator is what the meter needs of the database; *store.Store has it.
type Migrator interface {
	DB() *sql.DB
	Migrate(ctx context.Context, owner string, migrations []string) error
	Writer() *store.Writer
}

// ProvisionedStep is the granularity of idle provisioned metering.
const ProvisionedStep = 10 * time.Second

// DefaultReplayWindow is how long the key of a replayable invocation is
// kept (Options.ReplayWindow): longer than the largest MsgTTL of an async
// event (6 h), after which no attempt of it can run again.
const DefaultReplayWindow = 8 * time.Hour

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
	// Replayable marks an attempt that may be recorded again, such as an
	// async event's, which runs again when scfd restarts before it was
	// marked done: it is counted once per request id and retry number.
	// Other invocations (synchronous calls, web requests) have ids no
	// one reuses and are counted without a key.
	Replayable bool
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
	// ReplayWindow: see DefaultReplayWindow. Zero means the default.
	ReplayWindow time.Duration
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
	db     *sql.DB // queries
	w      *store.Writer
	now    func() time.Time
	log    *slog.Logger
	window time.Duration

	mu         sync.Mutex
	pending    map[bucket]*amounts // added since the last flush was queued
	queued     bool                // a flush is queued in the writer
	closed     bool
	lastForget time.Time
}

// bucket is one version's hour.
type bucket struct {
	Key
	hour int64
}

// amounts are what a bucket adds up.
type amounts struct {
	invocations, errors int64
	gbs, idle           float64
	out                 int64
}

// Open creates the usage tables if needed.
func Open(ctx context.Context, opts Options) (*Meter, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ReplayWindow <= 0 {
		opts.ReplayWindow = DefaultReplayWindow
	}
	if err := opts.DB.Migrate(ctx, "meter", migrations); err != nil {
		return nil, err
	}
	m := &Meter{
		db: opts.DB.DB(), w: opts.DB.Writer(), now: opts.Now, log: opts.Logger, window: opts.ReplayWindow,
		pending: map[bucket]*amounts{},
	}
	return m, nil
}

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("meter: closed")

// Close queues what is counted in memory and waits until it is written.
func (m *Meter) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	if err := m.w.Put(context.Background(), store.RecordFunc(m.flush)); err != nil && !errors.Is(err, store.ErrWriterClosed) {
		return err
	}
	return m.w.Sync(context.Background())
}

// Sync waits until everything counted before it is written.
func (m *Meter) Sync(ctx context.Context) error {
	if err := m.w.Put(ctx, store.RecordFunc(m.flush)); err != nil && !errors.Is(err, store.ErrWriterClosed) {
		return err
	}
	return m.w.Sync(ctx)
}

// add counts amounts in memory and makes sure a flush is queued.
func (m *Meter) add(ctx context.Context, b bucket, a amounts) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	p := m.pending[b]
	if p == nil {
		p = &amounts{}
		m.pending[b] = p
	}
	p.invocations += a.invocations
	p.errors += a.errors
	p.gbs += a.gbs
	p.idle += a.idle
	p.out += a.out
	queue := !m.queued
	m.queued = true
	m.mu.Unlock()
	if !queue {
		return nil
	}
	if err := m.w.Put(ctx, store.RecordFunc(m.flush)); err != nil {
		m.mu.Lock()
		m.queued = false
		m.mu.Unlock()
		return fmt.Errorf("meter: %w", err)
	}
	return nil
}

// flush writes the amounts counted in memory, one row per bucket, in the
// writer's transaction; an hour after the last, it also forgets the keys
// of replayable invocations older than the replay window.
func (m *Meter) flush(b *store.Batch) error {
	m.mu.Lock()
	pending := m.pending
	m.pending = map[bucket]*amounts{}
	m.queued = false
	now := m.now()
	forget := now.Sub(m.lastForget) >= time.Hour
	if forget {
		m.lastForget = now
	}
	m.mu.Unlock()
	for k, a := range pending {
		if err := addRow(b, k, *a); err != nil {
			return err
		}
	}
	if forget {
		if _, err := b.Exec(`DELETE FROM usage_seen WHERE hour < ?`, hourOf(now.Add(-m.window))); err != nil {
			return fmt.Errorf("meter: forgetting old invocation keys: %w", err)
		}
	}
	return nil
}

func hourOf(t time.Time) int64 { return t.UTC().Truncate(time.Hour).Unix() }

// addRow adds to one hour's row.
func addRow(b *store.Batch, k bucket, a amounts) error {
	_, err := b.Exec(`INSERT INTO usage_hourly
		(namespace, function, qualifier, hour, invocations, errors, gb_seconds, idle_gb_seconds, outbound_bytes)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(namespace, function, qualifier, hour) DO UPDATE SET
			invocations = usage_hourly.invocations + excluded.invocations,
			errors = usage_hourly.errors + excluded.errors,
			gb_seconds = usage_hourly.gb_seconds + excluded.gb_seconds,
			idle_gb_seconds = usage_hourly.idle_gb_seconds + excluded.idle_gb_seconds,
			outbound_bytes = usage_hourly.outbound_bytes + excluded.outbound_bytes`,
		k.Namespace, k.Function, k.Qualifier, k.hour, a.invocations, a.errors, a.gbs, a.idle, a.out)
	if err != nil {
		return fmt.Errorf("meter: adding usage of %s/%s: %w", k.Namespace, k.Function, err)
	}
	return nil
}

// Record counts one finished invocation attempt. It does not wait for
// the database: the count is written within milliseconds by the store's
// writer (Sync waits for it). A Replayable attempt is counted once:
// recording the same request id and retry number again changes nothing.
func (m *Meter) Record(ctx context.Context, inv Invocation) error {
	if inv.Time.IsZero() {
		inv.Time = m.now()
	}
	a := amounts{invocations: 1, gbs: inv.GBSeconds()}
	if inv.Error {
		a.errors = 1
	}
	b := bucket{Key{inv.Namespace, inv.Function, inv.Qualifier}, hourOf(inv.Time)}
	if !inv.Replayable {
		return m.add(ctx, b, a)
	}
	id := fmt.Sprintf("%s#%d", inv.RequestID, inv.RetryNum)
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return ErrClosed
	}
	return m.w.Put(ctx, store.RecordFunc(func(tx *store.Batch) error {
		res, err := tx.Exec(`INSERT INTO usage_seen (id, hour) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`, id, b.hour)
		if err != nil {
			return fmt.Errorf("meter: recording %s: %w", id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // counted already
		}
		return addRow(tx, b, a)
	}))
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
	for _, s := range samples {
		if s.Idle <= 0 {
			continue
		}
		gbs := float64(s.Idle) * float64(s.MemoryMB) / 1024 * ProvisionedStep.Seconds()
		if err := m.add(ctx, bucket{s.Key, hour}, amounts{idle: gbs}); err != nil {
			return err
		}
	}
	return nil
}

// RecordOutbound adds bytes that a version's instances sent to anything
// but scfd.
func (m *Meter) RecordOutbound(ctx context.Context, t time.Time, k Key, bytes int64) error {
	if bytes <= 0 {
		return nil
	}
	return m.add(ctx, bucket{k, hourOf(t)}, amounts{out: bytes})
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
