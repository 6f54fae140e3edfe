package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/scf"
	"github.com/scfd/scfd/internal/testenv"
)

// clock is a fake time source that advances one second per reading.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

// openAt opens the store standing for dir on the database of this run
// (see TestMain): SQLite in dir, or a PostgreSQL database made for dir.
func openAt(t testing.TB, dir string) (*Store, error) {
	t.Helper()
	if u := testenv.DatabaseURL(t, dir); u != "" {
		return OpenPostgres(context.Background(), u, PostgresOptions{})
	}
	return Open(context.Background(), dir)
}

func openTest(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := openAt(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c := &clock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
	s.now = c.now
	return s
}

func newFunction(ns, name string) *scf.Function {
	fn := &scf.Function{
		Namespace: ns,
		Name:      name,
		Image:     scf.ImageConfig{ImageUri: "127.0.0.1:5000/fn/" + name + ":1"},
		Status:    scf.StatusActive,
		Environment: []scf.Variable{
			{Key: "A", Value: "1"},
		},
	}
	scf.ApplyDefaults(fn)
	return fn
}

func TestOpenCreatesDefaultNamespace(t *testing.T) {
	s := openTest(t, t.TempDir())
	ns, err := s.GetNamespace(context.Background(), scf.DefaultNamespace)
	if err != nil {
		t.Fatal(err)
	}
	if ns.Type != NamespaceTypeDefault {
		t.Errorf("default namespace type = %q", ns.Type)
	}
}

func TestNamespaces(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	if err := s.CreateNamespace(ctx, scf.Namespace{Name: "team", Description: "d1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateNamespace(ctx, scf.Namespace{Name: "team"}); !errors.Is(err, errdefs.ErrAlreadyExists) || errdefs.Resource(err) != "Namespace" {
		t.Errorf("duplicate: %v", err)
	}
	if err := s.UpdateNamespace(ctx, "team", "d2"); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetNamespace(ctx, "team")
	if err != nil {
		t.Fatal(err)
	}
	want := scf.Namespace{
		Name:        "team",
		Description: "d2",
		Type:        NamespaceTypeCustom,
		AddTime:     time.Date(2025, 1, 2, 3, 4, 6, 0, time.UTC),
		ModTime:     time.Date(2025, 1, 2, 3, 4, 7, 0, time.UTC),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetNamespace (-want +got):\n%s", diff)
	}
	list, err := s.ListNamespaces(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "default" || list[1].Name != "team" {
		t.Errorf("ListNamespaces = %+v", list)
	}

	if err := s.CreateFunction(ctx, newFunction("team", "fn")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		ns       string
		class    error
		resource string
	}{
		{"holds functions", "team", errdefs.ErrInUse, "Namespace"},
		{"default", "default", errdefs.ErrFailedPrecondition, "DeleteNamespace"},
		{"missing", "nope", errdefs.ErrNotFound, "Namespace"},
	} {
		err := s.DeleteNamespace(ctx, tc.ns)
		if !errors.Is(err, tc.class) || errdefs.Resource(err) != tc.resource {
			t.Errorf("%s: DeleteNamespace = %v, want %v/%s", tc.name, err, tc.class, tc.resource)
		}
	}
	if err := s.UpdateNamespace(ctx, "nope", "x"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("UpdateNamespace(missing) = %v", err)
	}
	if err := s.DeleteFunction(ctx, "team", "fn"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteNamespace(ctx, "team"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetNamespace(ctx, "team"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("GetNamespace after delete = %v", err)
	}
}

func TestFunctionLifecycle(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	fn := newFunction("default", "hello")
	if err := s.CreateFunction(ctx, fn); err != nil {
		t.Fatal(err)
	}
	if len(fn.FunctionID) != 12 || fn.FunctionID[:4] != "lam-" {
		t.Errorf("FunctionID = %q", fn.FunctionID)
	}
	for _, c := range fn.FunctionID[4:] {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			t.Errorf("FunctionID %q has %q", fn.FunctionID, c)
		}
	}
	if fn.AddTime.IsZero() || !fn.AddTime.Equal(fn.ModTime) {
		t.Errorf("times: add %v mod %v", fn.AddTime, fn.ModTime)
	}
	got, err := s.GetFunction(ctx, "default", "hello", "")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fn, got); diff != "" {
		t.Errorf("GetFunction (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		name     string
		fn       *scf.Function
		class    error
		resource string
	}{
		{"duplicate", newFunction("default", "hello"), errdefs.ErrAlreadyExists, "Function"},
		{"no namespace", newFunction("nope", "hello"), errdefs.ErrNotFound, "Namespace"},
	} {
		err := s.CreateFunction(ctx, tc.fn)
		if !errors.Is(err, tc.class) || errdefs.Resource(err) != tc.resource {
			t.Errorf("%s: CreateFunction = %v, want %v/%s", tc.name, err, tc.class, tc.resource)
		}
	}
	for _, tc := range []struct {
		name, fn, version, resource string
	}{
		{"missing function", "nope", "", "Function"},
		{"missing version", "hello", "3", "Version"},
		{"missing function and version", "nope", "3", "Function"},
	} {
		_, err := s.GetFunction(ctx, "default", tc.fn, tc.version)
		if !errors.Is(err, errdefs.ErrNotFound) || errdefs.Resource(err) != tc.resource {
			t.Errorf("%s: GetFunction = %v, want NotFound/%s", tc.name, err, tc.resource)
		}
	}

	updated, err := s.UpdateFunction(ctx, "default", "hello", scf.Latest, func(f *scf.Function) error {
		f.MemorySize = 256
		f.ImageDigest = "sha256:abc"
		f.FunctionID = "lam-changed" // ignored
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if updated.MemorySize != 256 || updated.FunctionID != fn.FunctionID || !updated.ModTime.After(fn.ModTime) || !updated.AddTime.Equal(fn.AddTime) {
		t.Errorf("UpdateFunction = %+v", updated)
	}
	abort := errdefs.Invalid("MemorySize", "no")
	if _, err := s.UpdateFunction(ctx, "default", "hello", "", func(f *scf.Function) error {
		f.MemorySize = 512
		return abort
	}); !errors.Is(err, abort) {
		t.Errorf("aborted update = %v", err)
	}
	got, err = s.GetFunction(ctx, "default", "hello", scf.Latest)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(updated, got); diff != "" {
		t.Errorf("after an aborted update (-want +got):\n%s", diff)
	}
	if _, err := s.UpdateFunction(ctx, "default", "nope", "", func(*scf.Function) error { return nil }); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("UpdateFunction(missing) = %v", err)
	}
	digests, err := s.ImageDigests(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]bool{"sha256:abc": true}, digests); diff != "" {
		t.Errorf("ImageDigests (-want +got):\n%s", diff)
	}
	if pins, err := s.FunctionWithImage(ctx, "sha256:abc"); err != nil || pins.Name != "hello" {
		t.Errorf("FunctionWithImage = %+v, %v, want hello", pins, err)
	}
	if _, err := s.FunctionWithImage(ctx, "sha256:none"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("FunctionWithImage of an image no function pins = %v, want NotFound", err)
	}

	if err := s.DeleteFunction(ctx, "default", "hello"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteFunction(ctx, "default", "hello"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("second delete = %v", err)
	}
	if _, err := s.GetFunction(ctx, "default", "hello", ""); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("GetFunction after delete = %v", err)
	}
}

func TestListFunctions(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	if err := s.CreateNamespace(ctx, scf.Namespace{Name: "other"}); err != nil {
		t.Fatal(err)
	}
	// Created in this order, one second apart.
	for _, f := range []struct{ ns, name, desc string }{
		{"default", "beta", "the second letter"},
		{"default", "alpha", ""},
		{"other", "alpha_2", ""},
		{"default", "gamma", "third"},
	} {
		fn := newFunction(f.ns, f.name)
		fn.Description = f.desc
		if err := s.CreateFunction(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.UpdateFunction(ctx, "default", "beta", "", func(f *scf.Function) error {
		f.Status = scf.StatusUpdating
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	names := func(fns []*scf.Function) []string {
		var out []string
		for _, f := range fns {
			out = append(out, f.Namespace+"/"+f.Name)
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		q         FunctionQuery
		want      []string
		wantTotal int
	}{
		{"default order is newest first", FunctionQuery{}, []string{"default/gamma", "other/alpha_2", "default/alpha", "default/beta"}, 4},
		{"by name ascending", FunctionQuery{OrderBy: "FunctionName", Order: "asc"}, []string{"default/alpha", "other/alpha_2", "default/beta", "default/gamma"}, 4},
		{"by mod time", FunctionQuery{OrderBy: "ModTime", Order: "DESC", Limit: 1}, []string{"default/beta"}, 4},
		{"namespace", FunctionQuery{Namespace: "default", OrderBy: "AddTime", Order: "ASC"}, []string{"default/beta", "default/alpha", "default/gamma"}, 3},
		{"search key", FunctionQuery{SearchKey: "ALPHA", OrderBy: "FunctionName", Order: "ASC"}, []string{"default/alpha", "other/alpha_2"}, 2},
		{"search key underscore is literal", FunctionQuery{SearchKey: "_"}, []string{"other/alpha_2"}, 1},
		{"description", FunctionQuery{Description: "letter"}, []string{"default/beta"}, 1},
		{"statuses", FunctionQuery{Statuses: []scf.Status{scf.StatusUpdating, scf.StatusCreating}}, []string{"default/beta"}, 1},
		{"page", FunctionQuery{OrderBy: "FunctionName", Order: "ASC", Offset: 1, Limit: 2}, []string{"other/alpha_2", "default/beta"}, 4},
		{"past the end", FunctionQuery{Offset: 10}, nil, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, total, err := s.ListFunctions(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, names(got)); diff != "" {
				t.Errorf("names (-want +got):\n%s", diff)
			}
			if total != tc.wantTotal {
				t.Errorf("total = %d, want %d", total, tc.wantTotal)
			}
		})
	}
	for _, q := range []FunctionQuery{{OrderBy: "Size"}, {Order: "UP"}, {Offset: -1}} {
		if _, _, err := s.ListFunctions(ctx, q); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("ListFunctions(%+v) = %v, want ErrInvalidArgument", q, err)
		}
	}
	counts, err := s.CountFunctions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{"default": 3, "other": 1}, counts); diff != "" {
		t.Errorf("CountFunctions (-want +got):\n%s", diff)
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := openAt(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateNamespace(ctx, scf.Namespace{Name: "kept", Description: "still here"}); err != nil {
		t.Fatal(err)
	}
	fn := newFunction("kept", "fn")
	fn.ImageDigest = "sha256:def"
	if err := s.CreateFunction(ctx, fn); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTest(t, dir)
	ns, err := s.GetNamespace(ctx, "kept")
	if err != nil {
		t.Fatal(err)
	}
	if ns.Description != "still here" {
		t.Errorf("namespace after reopen = %+v", ns)
	}
	got, err := s.GetFunction(ctx, "kept", "fn", "")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fn, got); diff != "" {
		t.Errorf("function after reopen (-want +got):\n%s", diff)
	}
	if s.Dialect() == "postgres" {
		return
	}
	var mode string
	if err := s.DB().QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v", mode, err)
	}
	var sync int
	if err := s.DB().QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil || sync != 2 {
		t.Errorf("synchronous = %d, %v; want 2 (FULL)", sync, err)
	}
}

func TestConcurrentUpdatesLoseNothing(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	if err := s.CreateFunction(ctx, newFunction("default", "counter")); err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if _, err := s.UpdateFunction(ctx, "default", "counter", "", func(f *scf.Function) error {
					f.CodeRevision++
					return nil
				}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	fn, err := s.GetFunction(ctx, "default", "counter", "")
	if err != nil {
		t.Fatal(err)
	}
	if fn.CodeRevision != workers*each {
		t.Errorf("CodeRevision = %d, want %d", fn.CodeRevision, workers*each)
	}
}

func TestMigrateAppliesOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTest(t, dir)
	v1 := []string{
		`CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT)`,
		`INSERT INTO things (name) VALUES ('first')`,
	}
	count := func() int {
		var n int
		if err := s.DB().QueryRowContext(ctx, `SELECT count(*) FROM things`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for i := 0; i < 2; i++ {
		if err := s.Migrate(ctx, "things", v1); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(); n != 1 {
		t.Errorf("rows after applying twice = %d, want 1", n)
	}
	v2 := append(v1, `INSERT INTO things (name) VALUES ('second')`)
	if err := s.Migrate(ctx, "things", v2); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 2 {
		t.Errorf("rows after the appended migration = %d, want 2", n)
	}
	if err := s.Migrate(ctx, "things", v1); err == nil {
		t.Error("Migrate with fewer migrations than applied succeeded")
	}
	bad := append(v2, `CREATE TABLE things (x)`, `INSERT INTO things (name) VALUES ('never')`)
	if err := s.Migrate(ctx, "things", bad); err == nil {
		t.Error("a failing migration succeeded")
	}
	if n := count(); n != 2 {
		t.Errorf("rows after a failed migration = %d, want 2 (rolled back)", n)
	}
	var version int
	if err := s.DB().QueryRowContext(ctx, `SELECT version FROM schema_migrations WHERE owner = 'things'`).Scan(&version); err != nil || version != len(v2) {
		t.Errorf("version = %d, %v; want %d", version, err, len(v2))
	}
	// The store's own schema is applied once too: reopening is harmless.
	s.Close()
	s = openTest(t, dir)
	if err := s.DB().QueryRowContext(ctx, `SELECT version FROM schema_migrations WHERE owner = 'store'`).Scan(&version); err != nil || version != len(migrations) {
		t.Errorf("store version = %d, %v", version, err)
	}
}

func TestFunctionIDsDiffer(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := newFunctionID()
		if seen[id] {
			t.Fatalf("duplicate id %s", id)
		}
		seen[id] = true
	}
}

// GetFunction serves a version read before from memory, until a change
// of the store; callers get copies.
func TestGetFunctionCacheFollowsChanges(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	fn := &scf.Function{Namespace: scf.DefaultNamespace, Name: "f", Image: scf.ImageConfig{ImageUri: "r/i:1"}}
	scf.ApplyDefaults(fn)
	if err := s.CreateFunction(ctx, fn); err != nil {
		t.Fatal(err)
	}
	a, err := s.GetFunction(ctx, fn.Namespace, "f", "")
	if err != nil {
		t.Fatal(err)
	}
	a.Description = "changed by a caller"
	b, err := s.GetFunction(ctx, fn.Namespace, "f", scf.Latest)
	if err != nil || b.Description != "" {
		t.Fatalf("second read %q, %v: a caller's change leaked into the cache", b.Description, err)
	}
	if _, err := s.UpdateFunction(ctx, fn.Namespace, "f", scf.Latest, func(f *scf.Function) error {
		f.Description = "updated"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if c, err := s.GetFunction(ctx, fn.Namespace, "f", scf.Latest); err != nil || c.Description != "updated" {
		t.Errorf("after an update: %q, %v", c.Description, err)
	}
	if err := s.DeleteFunction(ctx, fn.Namespace, "f"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetFunction(ctx, fn.Namespace, "f", scf.Latest); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("after a delete: %v, want ErrNotFound", err)
	}
}

// With the data directory full, writes fail with a class and a message
// naming the cause, and reads still work.
func TestFullDataDirectoryNamesTheCause(t *testing.T) {
	if testenv.OnPostgres() {
		t.Skip("SQLite only: on PostgreSQL the data directory holds no table")
	}
	dir := testenv.SmallDisk(t, 4<<20)
	s := openTest(t, dir)
	if err := s.CreateFunction(context.Background(), newFunction("default", "before")); err != nil {
		t.Fatal(err)
	}
	free := testenv.FillDisk(t, dir)
	fn := newFunction("default", "after")
	fn.Environment = []scf.Variable{{Key: "BIG", Value: strings.Repeat("x", 4000)}}
	var err error
	for i := 0; i < 50 && err == nil; i++ { // until SQLite needs a page it has not got
		fn.Name = fmt.Sprintf("after%d", i)
		err = s.CreateFunction(context.Background(), fn)
	}
	if !errors.Is(err, errdefs.ErrResourceExhausted) || errdefs.Resource(err) != "DiskSpace" {
		t.Fatalf("CreateFunction on a full disk = %v, want ErrResourceExhausted about DiskSpace", err)
	}
	if msg := errdefs.Message(err, ""); !strings.Contains(msg, "data directory is full") {
		t.Errorf("message %q does not name the cause", msg)
	}
	if _, err := s.GetFunction(context.Background(), "default", "before", scf.Latest); err != nil {
		t.Errorf("reading on a full disk: %v", err)
	}
	free()
	fn.Name = "later"
	if err := s.CreateFunction(context.Background(), fn); err != nil {
		t.Errorf("CreateFunction once space is back: %v", err)
	}
}
