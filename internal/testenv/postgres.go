package testenv

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
)

// EnvDatabaseURL names the PostgreSQL server the tests use: a URL whose
// role may create databases. scripts/testdb.sh starts Debian's cluster
// and prints one; `make test` sets it.
const EnvDatabaseURL = "SCFD_TEST_DATABASE_URL"

var (
	onPostgres bool
	dbMu       sync.Mutex
	dbByDir    = map[string]string{} // dir → database URL, this run
)

// StoreMain runs a package's tests twice: on SQLite, then on PostgreSQL
// when EnvDatabaseURL is set (OnPostgres tells which run is going). It
// returns the exit code for os.Exit. Under CI=true a missing
// EnvDatabaseURL fails the run rather than skip PostgreSQL.
func StoreMain(m *testing.M) int {
	code := m.Run()
	if os.Getenv(EnvDatabaseURL) == "" {
		if os.Getenv("CI") == "true" {
			fmt.Fprintf(os.Stderr, "FAIL: %s is not set: the tests cannot run on PostgreSQL (see scripts/testdb.sh)\n", EnvDatabaseURL)
			return 1
		}
		return code
	}
	onPostgres = true
	fmt.Println("=== the same tests again, the store on PostgreSQL")
	if c := m.Run(); c != 0 {
		code = c
	}
	return code
}

// OnPostgres reports whether StoreMain's PostgreSQL run is going.
func OnPostgres() bool { return onPostgres }

// DatabaseURL returns "" on StoreMain's SQLite run. On its PostgreSQL
// run it returns the URL of a database standing for dir: created on the
// first call for dir and dropped when the test of that call ends, so that
// a test reopening the store in dir finds its tables again.
func DatabaseURL(t testing.TB, dir string) string {
	t.Helper()
	if !onPostgres {
		return ""
	}
	dbMu.Lock()
	defer dbMu.Unlock()
	if u, ok := dbByDir[dir]; ok {
		return u
	}
	sum := sha256.Sum256([]byte(dir))
	u := createDatabase(t, "scfd_test_"+hex.EncodeToString(sum[:8]))
	dbByDir[dir] = u
	t.Cleanup(func() {
		dbMu.Lock()
		delete(dbByDir, dir)
		dbMu.Unlock()
	})
	return u
}

// NewDatabase creates an empty database on the test server and returns
// its URL; it is dropped when t ends. Without EnvDatabaseURL the test
// fails under CI=true and is skipped otherwise.
func NewDatabase(t testing.TB) string {
	t.Helper()
	var b [8]byte
	rand.Read(b[:])
	return createDatabase(t, "scfd_test_"+hex.EncodeToString(b[:]))
}

func createDatabase(t testing.TB, name string) string {
	t.Helper()
	base := os.Getenv(EnvDatabaseURL)
	if base == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: start PostgreSQL with scripts/testdb.sh", EnvDatabaseURL)
		}
		t.Skipf("needs PostgreSQL: set %s (scripts/testdb.sh prints it)", EnvDatabaseURL)
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connecting to the test PostgreSQL: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("dropping database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
