// Package store keeps scfd's namespaces, functions and tenant keys, the
// uses of request signatures that replicas share (signatures.go), and
// the tables of the packages above it, in SQLite (the embedded default)
// or in a PostgreSQL database that several scfd processes share.
//
// SQLite (Open): one file, <dir>/scfd.db, opened with the pure-Go
// modernc.org/sqlite driver in WAL mode with synchronous=FULL, so that
// everything the API acknowledged survives a crash of the process or the
// machine. Every transaction takes the write lock when it begins (BEGIN
// IMMEDIATE), so a read-modify-write such as UpdateFunction never loses an
// update and never fails on a lock upgrade; concurrent writers wait up to
// busyTimeout.
//
// PostgreSQL (OpenPostgres): pgx through database/sql, so that every
// package keeps its *sql.DB code. The same guarantee is explicit: each of
// the store's transactions first takes one transaction-scoped advisory
// lock (pg_advisory_xact_lock), so the store's read-modify-writes are
// serialised across every process sharing the database, as SQLite's are
// within one; the Writer's batches take another. Migrate runs under the
// first, so processes starting at once apply each migration once. The
// SQL is one text for both databases: "?" placeholders (numbered for
// PostgreSQL by its connections), INSERT ... ON CONFLICT, migrations in
// SQLite's type names; the few differences sit in dialect.
//
// The schema is versioned per owner: the store owns "store", and later
// packages (logs, async queue, metering) may keep their own tables in the
// same database through DB and Migrate. A function version is a row keyed
// by (namespace, name, version) holding a few indexed columns and a JSON
// document of the whole scf.Function.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/scf"
)

// FileName is the database file inside the store's directory.
const FileName = "scfd.db"

// busyTimeout bounds how long a statement waits for another writer.
const busyTimeout = 10 * time.Second

// Store is scfd's function store. It is safe for concurrent use.
type Store struct {
	db      *sql.DB
	relaxed *sql.DB // the Writer's connections
	writer  *Writer
	d       dialect
	now     func() time.Time

	// gen counts the transactions committed (and, on PostgreSQL, those
	// other processes announced); cache holds the function versions read,
	// valid while gen has not moved (see GetFunction).
	gen     atomic.Uint64
	cacheMu sync.RWMutex
	cache   map[fnKey]cachedFunction

	// watched is set when other processes may write the database: then
	// the cache is used only while listening is (see watchFunctions),
	// which stopWatch ends.
	watched   bool
	listening atomic.Bool
	stopWatch func()
}

// migrations of the store's own tables, owner "store". Append only: a
// migration, once released, never changes.
var migrations = []string{
	// 1: namespaces and function versions.
	`CREATE TABLE namespaces (
		name        TEXT PRIMARY KEY,
		description TEXT NOT NULL DEFAULT '',
		type        TEXT NOT NULL,
		add_time    INTEGER NOT NULL,
		mod_time    INTEGER NOT NULL
	);
	CREATE TABLE functions (
		namespace    TEXT NOT NULL REFERENCES namespaces(name),
		name         TEXT NOT NULL,
		version      TEXT NOT NULL,
		function_id  TEXT NOT NULL,
		status       TEXT NOT NULL,
		add_time     INTEGER NOT NULL,
		mod_time     INTEGER NOT NULL,
		image_digest TEXT NOT NULL DEFAULT '',
		doc          TEXT NOT NULL,
		PRIMARY KEY (namespace, name, version)
	);
	CREATE INDEX functions_image_digest ON functions(image_digest);
	CREATE INDEX functions_add_time ON functions(add_time);
	CREATE INDEX functions_mod_time ON functions(mod_time);`,
	// 2: version numbers and aliases.
	`CREATE TABLE version_counters (
		namespace TEXT NOT NULL,
		name      TEXT NOT NULL,
		last      INTEGER NOT NULL,
		PRIMARY KEY (namespace, name)
	);
	CREATE TABLE aliases (
		namespace TEXT NOT NULL,
		function  TEXT NOT NULL,
		name      TEXT NOT NULL,
		add_time  INTEGER NOT NULL,
		mod_time  INTEGER NOT NULL,
		doc       TEXT NOT NULL,
		PRIMARY KEY (namespace, function, name)
	);`,
	// 3: tenant keys.
	`CREATE TABLE tenant_keys (
		secret_id   TEXT PRIMARY KEY,
		secret_key  TEXT NOT NULL,
		description TEXT NOT NULL DEFAULT '',
		namespaces  TEXT NOT NULL,
		role        TEXT NOT NULL,
		disabled    INTEGER NOT NULL DEFAULT 0,
		add_time    INTEGER NOT NULL,
		mod_time    INTEGER NOT NULL
	);`,
	// 4: the uses of request signatures, shared by replicas (see
	// ClaimSignature).
	`CREATE TABLE signature_uses (
		signature BLOB PRIMARY KEY,
		actions   TEXT NOT NULL,
		client    TEXT NOT NULL,
		first_use INTEGER NOT NULL,
		expires   INTEGER NOT NULL
	);
	CREATE INDEX signature_uses_expires ON signature_uses(expires);`,
}

// Open opens (creating if needed) the store in dir, applies pending
// migrations and makes sure the default namespace exists.
func Open(ctx context.Context, dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: creating %s: %w", dir, err)
	}
	db, err := sql.Open("sqlite", dsn(dir, "FULL"))
	if err != nil {
		return nil, fmt.Errorf("store: opening %s: %w", dir, err)
	}
	s := newStore(db, sqlite)
	if err := s.init(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if s.relaxed, err = sql.Open("sqlite", dsn(dir, "NORMAL")); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: opening %s: %w", dir, err)
	}
	// The Writer's connections: one holds its transaction while a new
	// statement is prepared on the other (then cached on both).
	s.relaxed.SetMaxOpenConns(2)
	s.relaxed.SetMaxIdleConns(2)
	s.relaxed.SetConnMaxIdleTime(0)
	s.writer = NewWriter(s.relaxed, WriterOptions{})
	return s, nil
}

func newStore(db *sql.DB, d dialect) *Store {
	return &Store{db: db, d: d, now: time.Now, cache: map[fnKey]cachedFunction{}, stopWatch: func() {}}
}

// Dialect names the database the store keeps its tables in: "sqlite" or
// "postgres".
func (s *Store) Dialect() string { return s.d.name }

// dsn names the database in dir with the store's pragmas and the given
// synchronous mode.
func dsn(dir, synchronous string) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+synchronous+")")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	return "file:" + filepath.Join(dir, FileName) + "?" + q.Encode()
}

// Writer is the store's batching writer, for records written at the rate
// of invocations (logs, usage, the monitor's minutes): see Writer. It
// commits through a second handle on the same database whose commits do
// not wait for the disk (synchronous=NORMAL in WAL mode on SQLite,
// synchronous_commit=off on PostgreSQL): what it commits survives the
// death of the process (kill -9) but may be lost to a power failure or a
// crash of the machine (of the database server, for PostgreSQL).
func (s *Store) Writer() *Writer { return s.writer }

func (s *Store) init(ctx context.Context) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			owner   TEXT PRIMARY KEY,
			version INTEGER NOT NULL
		)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: creating schema_migrations: %w", err)
	}
	if err := s.Migrate(ctx, "store", migrations); err != nil {
		return err
	}
	now := s.timestamp()
	_, err = s.db.ExecContext(ctx, `INSERT INTO namespaces (name, description, type, add_time, mod_time)
		VALUES (?, '', 'default', ?, ?) ON CONFLICT (name) DO NOTHING`, scf.DefaultNamespace, now.UnixNano(), now.UnixNano())
	if err != nil {
		return fmt.Errorf("store: creating the default namespace: %w", err)
	}
	return nil
}

// Close commits what the Writer holds and closes the database.
func (s *Store) Close() error {
	s.stopWatch()
	return errors.Join(s.writer.Close(), s.relaxed.Close(), s.db.Close())
}

// DB is the underlying database, for packages that keep their own tables
// next to the store's (create them with Migrate).
func (s *Store) DB() *sql.DB { return s.db }

// Migrate applies, in one transaction, the migrations of owner that have
// not been applied yet: migrations[i] is version i+1 of owner's schema.
// Each owner versions its tables independently; a migration, once
// released, must never change, and new ones are appended. Migrations are
// written for SQLite, with the column types INTEGER (64 bits), REAL, TEXT
// and BLOB; on PostgreSQL they are read as BIGINT, DOUBLE PRECISION, TEXT
// and BYTEA, and an INTEGER PRIMARY KEY as an identity column. Processes
// sharing a database and migrating at once apply each migration once.
func (s *Store) Migrate(ctx context.Context, owner string, migrations []string) error {
	if owner == "" {
		return errors.New("store: Migrate needs an owner")
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		var applied int
		err := tx.QueryRowContext(ctx, `SELECT version FROM schema_migrations WHERE owner = ?`, owner).Scan(&applied)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: reading the schema version of %s: %w", owner, err)
		}
		if applied > len(migrations) {
			return fmt.Errorf("store: the schema of %s is at version %d, newer than this scfd knows (%d)", owner, applied, len(migrations))
		}
		for i := applied; i < len(migrations); i++ {
			if _, err := tx.ExecContext(ctx, s.d.migration(migrations[i])); err != nil {
				return fmt.Errorf("store: migration %d of %s: %w", i+1, owner, err)
			}
		}
		if applied == len(migrations) {
			return nil
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO schema_migrations (owner, version) VALUES (?, ?)
			ON CONFLICT(owner) DO UPDATE SET version = excluded.version`, owner, len(migrations))
		if err != nil {
			return fmt.Errorf("store: recording the schema version of %s: %w", owner, err)
		}
		return nil
	})
}

// tx runs fn in a transaction holding the store's write lock (BEGIN
// IMMEDIATE on SQLite, an advisory lock on PostgreSQL), committing when
// fn returns nil.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return errdefs.NoSpace(fmt.Errorf("store: beginning a transaction: %w", err))
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if s.d.lockStore != "" {
		if _, err = tx.ExecContext(ctx, s.d.lockStore); err != nil {
			return errdefs.NoSpace(fmt.Errorf("store: locking: %w", err))
		}
	}
	if err = fn(tx); err != nil {
		return errdefs.NoSpace(err)
	}
	if s.d.notify != "" {
		if _, err = tx.ExecContext(ctx, s.d.notify); err != nil {
			return errdefs.NoSpace(fmt.Errorf("store: announcing a change: %w", err))
		}
	}
	err = tx.Commit()
	s.gen.Add(1) // even when the commit failed: it may have applied
	if err != nil {
		return errdefs.NoSpace(fmt.Errorf("store: committing: %w", err))
	}
	return nil
}

// unixNano reads a stored timestamp.
func unixNano(n int64) time.Time { return time.Unix(0, n).UTC() }

// timestamp is the store's notion of now: UTC, without a monotonic reading.
func (s *Store) timestamp() time.Time { return s.now().UTC().Round(0) }
