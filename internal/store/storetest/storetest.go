// Package storetest opens stores for the tests of the packages that keep
// tables in the store (logs, meter, monitor, async, trigger, pool), so
// that the same tests run on both databases: a package's TestMain calls
// Main, which runs its tests on SQLite and again on PostgreSQL, and its
// tests open stores with Open. It is imported only by _test.go files.
package storetest

import (
	"context"
	"testing"

	"github.com/scfd/scfd/internal/store"
	"github.com/scfd/scfd/internal/testenv"
)

// Main runs the package's tests on SQLite, then on PostgreSQL when
// testenv.EnvDatabaseURL is set (required under CI=true), and returns the
// exit code: func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }.
func Main(m *testing.M) int { return testenv.StoreMain(m) }

// Open opens the store standing for dir on the database of the current
// run: SQLite in dir, or a PostgreSQL database made for dir (the same one
// each time dir is opened again within its test), like store.Open. The
// caller closes it. On PostgreSQL the store holds no LISTEN connection
// (store.PostgresOptions.NoListen), so that it works in a synctest
// bubble; it caches no function then.
func Open(t testing.TB, dir string) (*store.Store, error) {
	t.Helper()
	if u := testenv.DatabaseURL(t, dir); u != "" {
		return store.OpenPostgres(context.Background(), u, store.PostgresOptions{NoListen: true})
	}
	return store.Open(context.Background(), dir)
}
