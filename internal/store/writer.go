package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Defaults of WriterOptions.
const (
	// DefaultWriterQueue is how many records may wait for the writer
	// before Put waits (and TryPut drops).
	DefaultWriterQueue = 1 << 16
	// DefaultWriterBatch is the most records committed in one
	// transaction.
	DefaultWriterBatch = 4096
	// DefaultWriterDelay is how long the writer lets records gather
	// after the first one of a batch arrived, so that a steady stream of
	// records commits in few transactions. Sync cuts it short: a reader
	// that needs the records does not wait for it.
	DefaultWriterDelay = 50 * time.Millisecond
)

// A Record is a change that the Writer applies inside one of its
// transactions, next to other records.
type Record interface {
	Apply(b *Batch) error
}

// RecordFunc is a Record made of a function.
type RecordFunc func(b *Batch) error

// Apply calls f.
func (f RecordFunc) Apply(b *Batch) error { return f(b) }

// Batch is one transaction of the Writer. Its statements are prepared
// once per Writer and reused by every later batch.
type Batch struct {
	ctx   context.Context
	tx    *sql.Tx
	w     *Writer
	stmts map[string]*sql.Stmt // the Writer's statements bound to tx
}

// stmt returns query, prepared once for the Writer's connection, bound
// to the batch's transaction once per batch.
func (b *Batch) stmt(query string) (*sql.Stmt, error) {
	if st := b.stmts[query]; st != nil {
		return st, nil
	}
	st, err := b.w.prepare(b.ctx, query)
	if err != nil {
		return nil, err
	}
	if b.stmts == nil {
		b.stmts = map[string]*sql.Stmt{}
	}
	st = b.tx.StmtContext(b.ctx, st)
	b.stmts[query] = st
	return st, nil
}

// Exec runs query, prepared once for the Writer's connection, with args.
func (b *Batch) Exec(query string, args ...any) (sql.Result, error) {
	st, err := b.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(b.ctx, args...)
}

// QueryRow runs query, prepared once, and returns its first row.
func (b *Batch) QueryRow(query string, args ...any) *sql.Row {
	st, err := b.stmt(query)
	if err != nil {
		// Let Scan report the error: a closed statement's row does.
		return b.tx.QueryRowContext(b.ctx, query, args...)
	}
	return st.QueryRowContext(b.ctx, args...)
}

// Query runs query, prepared once, and returns its rows; close them
// before the next statement of the batch.
func (b *Batch) Query(query string, args ...any) (*sql.Rows, error) {
	st, err := b.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(b.ctx, args...)
}

// WriterOptions configure a Writer. The zero value takes every default.
type WriterOptions struct {
	// Queue: see DefaultWriterQueue. Zero means the default.
	Queue int
	// Batch: see DefaultWriterBatch. Zero means the default.
	Batch int
	// Delay: see DefaultWriterDelay. Zero means the default; negative
	// commits as soon as a record arrives.
	Delay time.Duration
	// Logger receives the errors of batches (a record that failed is
	// logged and dropped, the others of its batch are committed).
	// Nil discards them.
	Logger *slog.Logger
}

// Writer commits records written at the rate of invocations (logs,
// usage, the monitor's minutes) off the request path: Put hands a record
// to a bounded in-memory queue and returns; one goroutine commits what
// is queued in few transactions, through one connection with statements
// prepared once. A record is durable (against kill -9 of the process,
// through the store's relaxed handle) within about Delay plus one commit
// of the moment it was put; Sync waits for that, and Close commits
// everything queued before it returns.
type Writer struct {
	db    *sql.DB
	lock  string // run first in each batch; see dialect.lockWriter
	opts  WriterOptions
	log   *slog.Logger
	queue chan Record
	done  chan struct{}
	kick  chan struct{} // Sync's request to commit what gathered now

	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt

	mu       sync.Mutex
	closed   bool
	queued   uint64        // records ever queued
	written  uint64        // records ever handled by the writer
	progress chan struct{} // closed and replaced after each batch
	dropped  uint64        // records TryPut dropped
	failed   uint64        // records whose Apply failed
}

// NewWriter returns a Writer committing through db, and starts it. db
// should be the Writer's alone, with two connections at most, both kept
// idle: a statement is prepared on one while the other holds the batch's
// transaction, and stays prepared on each.
func NewWriter(db *sql.DB, opts WriterOptions) *Writer { return newWriter(db, opts, "") }

// newWriter is NewWriter whose batches first run lock ("" for none).
func newWriter(db *sql.DB, opts WriterOptions, lock string) *Writer {
	if opts.Queue <= 0 {
		opts.Queue = DefaultWriterQueue
	}
	if opts.Batch <= 0 {
		opts.Batch = DefaultWriterBatch
	}
	if opts.Delay == 0 {
		opts.Delay = DefaultWriterDelay
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Writer{
		db: db, opts: opts, log: opts.Logger, lock: lock,
		queue: make(chan Record, opts.Queue), done: make(chan struct{}), kick: make(chan struct{}, 1),
		stmts: map[string]*sql.Stmt{}, progress: make(chan struct{}),
	}
	go w.run()
	return w
}

// ErrWriterClosed is returned by Put after Close.
var ErrWriterClosed = errors.New("store: writer closed")

// Put queues r. It waits only while the queue is full, until ctx ends.
// The queue is tried again every millisecond: a send that blocked could
// not be stopped by Close, which closes the queue under the lock.
func (w *Writer) Put(ctx context.Context, r Record) error {
	var t *time.Ticker
	for {
		switch err := w.offer(r); {
		case err == nil:
			return nil
		case errors.Is(err, ErrWriterClosed):
			return err
		}
		if t == nil {
			t = time.NewTicker(time.Millisecond)
			defer t.Stop()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// errFull is offer's answer when the queue has no room.
var errFull = errors.New("store: writer queue full")

// offer queues r if there is room: nil, errFull or ErrWriterClosed.
func (w *Writer) offer(r Record) error {
	if w.enqueue(r) {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrWriterClosed
	}
	return errFull
}

// TryPut queues r unless the queue is full or the writer closed, and
// reports whether it did. It never waits.
func (w *Writer) TryPut(r Record) bool {
	if w.enqueue(r) {
		return true
	}
	w.mu.Lock()
	w.dropped++
	w.mu.Unlock()
	return false
}

func (w *Writer) enqueue(r Record) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return false
	}
	select {
	case w.queue <- r:
		w.queued++
		return true
	default:
		return false
	}
}

// Sync waits until every record queued before it was committed (or
// failed), ending the current gathering at once.
func (w *Writer) Sync(ctx context.Context) error {
	w.mu.Lock()
	target := w.queued
	if w.written < target {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
	for w.written < target {
		ch := w.progress
		w.mu.Unlock()
		select {
		case <-ch:
		case <-w.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
		w.mu.Lock()
	}
	w.mu.Unlock()
	return nil
}

// Stats are the Writer's counters.
type WriterStats struct {
	Queued, Written, Dropped, Failed uint64
	Pending                          int
}

// Stats reads the Writer's counters.
func (w *Writer) Stats() WriterStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return WriterStats{Queued: w.queued, Written: w.written, Dropped: w.dropped, Failed: w.failed, Pending: len(w.queue)}
}

// Close commits everything queued and stops the writer. Later Puts fail.
func (w *Writer) Close() error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.queue)
	}
	w.mu.Unlock()
	<-w.done
	w.stmtMu.Lock()
	defer w.stmtMu.Unlock()
	var errs []error
	for q, st := range w.stmts {
		errs = append(errs, st.Close())
		delete(w.stmts, q)
	}
	return errors.Join(errs...)
}

func (w *Writer) prepare(ctx context.Context, query string) (*sql.Stmt, error) {
	w.stmtMu.Lock()
	defer w.stmtMu.Unlock()
	if st := w.stmts[query]; st != nil {
		return st, nil
	}
	st, err := w.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("store: preparing a statement: %w", err)
	}
	w.stmts[query] = st
	return st, nil
}

func (w *Writer) run() {
	defer close(w.done)
	batch := make([]Record, 0, w.opts.Batch)
	for r := range w.queue {
		batch = append(batch[:0], r)
		if w.opts.Delay > 0 && len(w.queue) < w.opts.Batch {
			// Let a stream of records gather into one commit.
			timer := time.NewTimer(w.opts.Delay)
		gather:
			for len(batch) < w.opts.Batch {
				select {
				case r, ok := <-w.queue:
					if !ok {
						break gather
					}
					batch = append(batch, r)
				case <-timer.C:
					break gather
				case <-w.kick:
					break gather
				}
			}
			timer.Stop()
		}
	fill:
		for len(batch) < w.opts.Batch {
			select {
			case r, ok := <-w.queue:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		failed := w.commit(batch)
		w.mu.Lock()
		w.written += uint64(len(batch))
		w.failed += uint64(failed)
		close(w.progress)
		w.progress = make(chan struct{})
		w.mu.Unlock()
		clear(batch)
	}
}

// commit applies batch in one transaction. A record that fails is rolled
// back alone (a savepoint each) and logged; the rest commit. It returns
// how many records failed.
func (w *Writer) commit(batch []Record) (failed int) {
	ctx := context.Background()
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		w.log.Error("store: writer: beginning a transaction", "records", len(batch), "err", err)
		return len(batch)
	}
	if w.lock != "" {
		if _, err := tx.ExecContext(ctx, w.lock); err != nil {
			tx.Rollback()
			w.log.Error("store: writer: locking", "records", len(batch), "err", err)
			return len(batch)
		}
	}
	b := &Batch{ctx: ctx, tx: tx, w: w}
	for i, r := range batch {
		if err := r.Apply(b); err != nil {
			// Redo the batch without the failing record: failures are
			// rare (a full disk, a bug), so the simple way is fine.
			tx.Rollback()
			w.log.Error("store: writer: a record failed", "err", err)
			rest := append(append(make([]Record, 0, len(batch)-1), batch[:i]...), batch[i+1:]...)
			if len(rest) == 0 {
				return 1
			}
			return 1 + w.commit(rest)
		}
	}
	if err := tx.Commit(); err != nil {
		w.log.Error("store: writer: committing", "records", len(batch), "err", err)
		return len(batch)
	}
	return 0
}
