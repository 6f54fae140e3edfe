package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Advisory lock keys, taken at the start of write transactions on
// PostgreSQL (pg_advisory_xact_lock) and released when they end.
const (
	// lockStore serialises the store's transactions (and Migrate) across
	// every process sharing the database, as BEGIN IMMEDIATE does on
	// SQLite.
	lockStore = 0x5cfd0001
	// lockWriter serialises the Writers' batches across processes: some
	// records read a row and write it back (the monitor's minutes).
	lockWriter = 0x5cfd0002
)

// maxConns bounds the connections of one store's main handle.
const maxConns = 32

// notifyChannel is where every committed store transaction is announced
// (NOTIFY), so that other processes drop their cached functions.
const notifyChannel = "scfd_store"

// OpenPostgres opens the store in the PostgreSQL database named by url
// (postgres://user:password@host:port/database?sslmode=...), applies
// pending migrations, makes sure the default namespace exists and starts
// listening for the commits of other processes sharing the database. Many
// processes may open one database at once: each migration is applied
// once.
func OpenPostgres(ctx context.Context, url string, opts PostgresOptions) (*Store, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("store: parsing the database URL: %w", err)
	}
	db := sql.OpenDB(pgConnector{stdlib.GetConnector(*cfg)})
	// Servers share the database's connections (max_connections, 100 by
	// default): each holds at most maxConns, plus the Writer's two and
	// the listener.
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(8)
	s := newStore(db, postgres)
	if err := s.init(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: opening the PostgreSQL database: %w", err)
	}
	// The Writer's commits do not wait for the disk, like SQLite's
	// synchronous=NORMAL: a crash of the database server may lose the
	// last few, a crash of scfd none.
	relaxedCfg := cfg.Copy()
	relaxedCfg.RuntimeParams["synchronous_commit"] = "off"
	s.relaxed = sql.OpenDB(pgConnector{stdlib.GetConnector(*relaxedCfg)})
	s.relaxed.SetMaxOpenConns(2)
	s.relaxed.SetMaxIdleConns(2)
	s.relaxed.SetConnMaxIdleTime(0)
	s.writer = newWriter(s.relaxed, WriterOptions{}, postgres.lockWriter)
	if opts.NoListen {
		s.watched = true // and never listening: nothing is cached
	} else {
		s.watchFunctions(cfg)
	}
	return s, nil
}

// PostgresOptions configure OpenPostgres. The zero value takes every
// default.
type PostgresOptions struct {
	// NoListen holds no LISTEN connection, and so caches no function:
	// every GetFunction reads the database. It is for processes that
	// cannot keep a connection waiting, such as tests whose clock is a
	// synctest bubble's. False listens.
	NoListen bool
}

// watchFunctions keeps the function cache (see GetFunction) correct when
// other processes write the database: a connection LISTENs for their
// commits and moves the generation on each; while it is not listening
// (before it connected, after it lost its connection) the cache is not
// used.
func (s *Store) watchFunctions(cfg *pgx.ConnConfig) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	s.stopWatch = func() { cancel(); <-done }
	s.watched = true
	ready := make(chan struct{})
	var once sync.Once
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			s.listen(ctx, cfg, func() { once.Do(func() { close(ready) }) })
			once.Do(func() { close(ready) })
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
	// Start with a warm cache when the database answers at once; the
	// store works without one anyway.
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
	}
}

// listen holds one LISTEN connection until it fails or ctx ends, calling
// listening once it listens.
func (s *Store) listen(ctx context.Context, cfg *pgx.ConnConfig, listening func()) {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return
	}
	// What was cached before now may have missed a notification.
	s.listening.Store(true)
	s.gen.Add(1)
	defer func() {
		s.listening.Store(false)
		s.gen.Add(1)
	}()
	listening()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return
		}
		s.gen.Add(1)
	}
}

// pgConnector opens pgx connections that read the store's SQL: see pgConn.
type pgConnector struct{ driver.Connector }

func (c pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return pgConn{conn.(*stdlib.Conn)}, nil
}

// pgConn is a pgx connection that takes the SQL the store's packages
// write, whose placeholders are "?" as SQLite reads them: each is
// numbered ($1, $2, ...) as PostgreSQL wants, and Go booleans are passed
// as the integers 0 and 1 that the schema keeps them in.
type pgConn struct{ *stdlib.Conn }

func (c pgConn) Prepare(query string) (driver.Stmt, error) { return c.Conn.Prepare(rebind(query)) }

func (c pgConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, rebind(query))
}

func (c pgConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.ExecContext(ctx, rebind(query), args)
}

func (c pgConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.QueryContext(ctx, rebind(query), args)
}

func (c pgConn) CheckNamedValue(nv *driver.NamedValue) error {
	if b, ok := nv.Value.(bool); ok {
		nv.Value = int64(0)
		if b {
			nv.Value = int64(1)
		}
	}
	return c.Conn.CheckNamedValue(nv)
}

// rebind numbers the "?" placeholders of query outside quoted strings,
// identifiers and comments.
func rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		switch c := query[i]; c {
		case '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		case '\'', '"':
			j := strings.IndexByte(query[i+1:], c)
			if j < 0 {
				b.WriteString(query[i:])
				return b.String()
			}
			b.WriteString(query[i : i+j+2])
			i += j + 1
		case '-':
			if strings.HasPrefix(query[i:], "--") {
				j := strings.IndexByte(query[i:], '\n')
				if j < 0 {
					b.WriteString(query[i:])
					return b.String()
				}
				b.WriteString(query[i : i+j+1])
				i += j
				continue
			}
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// pgTypes are the SQLite column types a migration may use, and what they
// become on PostgreSQL.
var pgTypes = strings.NewReplacer(
	"INTEGER PRIMARY KEY", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
	"INTEGER", "BIGINT",
	"REAL", "DOUBLE PRECISION",
	"BLOB", "BYTEA",
)

// typeWords finds the type names of pgTypes as whole words.
var typeWords = regexp.MustCompile(`\bINTEGER PRIMARY KEY\b|\bINTEGER\b|\bREAL\b|\bBLOB\b`)

// pgMigration is a migration written for SQLite, as PostgreSQL reads it:
// INTEGER (64 bits in SQLite) is BIGINT, REAL is DOUBLE PRECISION, BLOB is
// BYTEA, and an INTEGER PRIMARY KEY numbers new rows itself.
func pgMigration(m string) string {
	return typeWords.ReplaceAllStringFunc(m, pgTypes.Replace)
}
