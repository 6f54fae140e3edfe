package pool

import (
	"context"
	"testing"

	"github.com/scfd/scfd/internal/store"
	"github.com/scfd/scfd/internal/testenv"
)

// The account's memory and a function's reserved concurrency are kept in
// the store: a pool opened later, on another store of the same database
// (another server sharing PostgreSQL), starts with them.
func TestLimitsAreKeptOnBothDatabases(t *testing.T) {
	for _, db := range []struct {
		name string
		open func(t *testing.T) (first, second *store.Store)
	}{
		{"sqlite", func(t *testing.T) (*store.Store, *store.Store) {
			dir := t.TempDir()
			a := openStore(t, dir)
			return a, a
		}},
		{"postgres", func(t *testing.T) (*store.Store, *store.Store) {
			url := testenv.NewDatabase(t)
			var stores [2]*store.Store
			for i := range stores {
				s, err := store.OpenPostgres(context.Background(), url, store.PostgresOptions{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				stores[i] = s
			}
			return stores[0], stores[1]
		}},
	} {
		t.Run(db.name, func(t *testing.T) {
			ctx := context.Background()
			first, second := db.open(t)
			e := &fakeEnv{d: &fakeDriver{}, clock: newFakeClock(), st: first}
			p := e.open(t, nil)
			mustNil(t, p.PutTotal(ctx, 20000))
			mustNil(t, p.PutReserved(ctx, "default", "f", 512))

			other := &fakeEnv{d: &fakeDriver{}, clock: newFakeClock(), st: second}
			q := other.open(t, nil)
			if total, reserved := q.TotalConcurrency(); total != 20000 || reserved != 512 {
				t.Errorf("TotalConcurrency = %d, %d; want 20000, 512", total, reserved)
			}
			if mb, ok, err := q.GetReserved(ctx, "default", "f"); err != nil || !ok || mb != 512 {
				t.Errorf("GetReserved = %d, %v, %v; want 512", mb, ok, err)
			}
			mustNil(t, p.DeleteReserved(ctx, "default", "f"))
			third := (&fakeEnv{d: &fakeDriver{}, clock: newFakeClock(), st: second}).open(t, nil)
			if _, ok, err := third.GetReserved(ctx, "default", "f"); err != nil || ok {
				t.Errorf("after DeleteReserved: GetReserved = %v, %v; want none", ok, err)
			}
		})
	}
}
