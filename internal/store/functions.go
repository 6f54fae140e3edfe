package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/scf"
)

// DefaultLimit is the page size of ListFunctions when the query sets none.
const DefaultLimit = 20

// FunctionQuery selects $LATEST function versions for ListFunctions.
type FunctionQuery struct {
	Namespace   string             // "" means every namespace
	SearchKey   string             // substring of the name, case-insensitive; "" matches all
	Description string             // substring of the description, case-insensitive; "" matches all
	Statuses    []scf.Status       // nil matches every status
	Types       []scf.FunctionType // nil matches every type
	Tags        []TagFilter        // all must match; nil matches every function
	Offset      int                // rows to skip; must not be negative
	Limit       int                // page size; 0 means DefaultLimit
	OrderBy     string             // "AddTime" (the default), "ModTime" or "FunctionName"
	Order       string             // "DESC" (the default) or "ASC"
}

// TagFilter matches functions with the tag Key set to one of Values.
type TagFilter struct {
	Key    string
	Values []string
}

var orderColumns = map[string]string{
	"":             "add_time",
	"AddTime":      "add_time",
	"ModTime":      "mod_time",
	"FunctionName": "name",
}

// CreateFunction stores a new function version (normally $LATEST). It
// assigns FunctionID ("lam-" and 8 random lowercase letters and digits)
// unless set, and sets AddTime and ModTime. The namespace must exist.
func (s *Store) CreateFunction(ctx context.Context, fn *scf.Function) error {
	if fn.Version == "" {
		fn.Version = scf.Latest
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM namespaces WHERE name = ?`, fn.Namespace).Scan(&n); err != nil {
			return fmt.Errorf("store: reading namespace %q: %w", fn.Namespace, err)
		}
		if n == 0 {
			return errdefs.NotFound("Namespace", "namespace %q not found", fn.Namespace)
		}
		err := tx.QueryRowContext(ctx, `SELECT count(*) FROM functions WHERE namespace = ? AND name = ? AND version = ?`,
			fn.Namespace, fn.Name, fn.Version).Scan(&n)
		if err != nil {
			return fmt.Errorf("store: reading function %s/%s: %w", fn.Namespace, fn.Name, err)
		}
		if n > 0 {
			return errdefs.New(errdefs.ErrAlreadyExists, "Function", "function %q already exists in namespace %q", fn.Name, fn.Namespace)
		}
		if fn.FunctionID == "" {
			fn.FunctionID = newFunctionID()
		}
		now := s.timestamp()
		fn.AddTime, fn.ModTime = now, now
		return insertFunction(ctx, tx, fn)
	})
}

func insertFunction(ctx context.Context, tx *sql.Tx, fn *scf.Function) error {
	doc, err := json.Marshal(fn)
	if err != nil {
		return fmt.Errorf("store: encoding function %s/%s: %w", fn.Namespace, fn.Name, err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO functions
		(namespace, name, version, function_id, status, add_time, mod_time, image_digest, doc)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		fn.Namespace, fn.Name, fn.Version, fn.FunctionID, string(fn.Status),
		fn.AddTime.UnixNano(), fn.ModTime.UnixNano(), fn.ImageDigest, string(doc))
	if err != nil {
		return fmt.Errorf("store: storing function %s/%s: %w", fn.Namespace, fn.Name, err)
	}
	return nil
}

// GetFunction returns one version of a function; version "" means $LATEST.
// A missing function is ErrNotFound about "Function"; a missing published
// version of an existing function is ErrNotFound about "Version".
//
// Versions read are kept in memory until the next transaction of the
// store commits (every change of a function goes through one), so the
// invocation path reads a warm function without the database; each
// caller gets its own copy. On PostgreSQL the commits of other processes
// sharing the database count too, as their notifications arrive (within
// milliseconds); while the store cannot hear them, nothing is cached.
func (s *Store) GetFunction(ctx context.Context, ns, name, version string) (*scf.Function, error) {
	if version == "" {
		version = scf.Latest
	}
	if s.watched && !s.listening.Load() {
		return getFunction(ctx, s.db, ns, name, version)
	}
	k := fnKey{ns, name, version}
	gen := s.gen.Load()
	s.cacheMu.RLock()
	c, ok := s.cache[k]
	s.cacheMu.RUnlock()
	if ok && c.gen == gen {
		return c.fn.Clone(), nil
	}
	fn, err := getFunction(ctx, s.db, ns, name, version)
	if err != nil {
		return nil, err
	}
	s.cacheMu.Lock()
	if len(s.cache) >= maxCachedFunctions {
		clear(s.cache)
	}
	s.cache[k] = cachedFunction{fn: fn.Clone(), gen: gen}
	s.cacheMu.Unlock()
	return fn, nil
}

// maxCachedFunctions bounds the function versions kept in memory.
const maxCachedFunctions = 10000

// fnKey names a function version in the cache.
type fnKey struct{ ns, name, version string }

// cachedFunction is a version read at generation gen of the store.
type cachedFunction struct {
	fn  *scf.Function
	gen uint64
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func getFunction(ctx context.Context, q querier, ns, name, version string) (*scf.Function, error) {
	if version == "" {
		version = scf.Latest
	}
	var doc string
	err := q.QueryRowContext(ctx, `SELECT doc FROM functions WHERE namespace = ? AND name = ? AND version = ?`,
		ns, name, version).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		if version != scf.Latest {
			var n int
			if err := q.QueryRowContext(ctx, `SELECT count(*) FROM functions WHERE namespace = ? AND name = ?`, ns, name).Scan(&n); err != nil {
				return nil, fmt.Errorf("store: reading function %s/%s: %w", ns, name, err)
			}
			if n > 0 {
				return nil, errdefs.NotFound("Version", "version %q of function %q not found", version, name)
			}
		}
		return nil, errdefs.NotFound("Function", "function %q not found in namespace %q", name, ns)
	}
	if err != nil {
		return nil, fmt.Errorf("store: reading function %s/%s: %w", ns, name, err)
	}
	fn := new(scf.Function)
	if err := json.Unmarshal([]byte(doc), fn); err != nil {
		return nil, fmt.Errorf("store: decoding function %s/%s: %w", ns, name, err)
	}
	return fn, nil
}

// ListFunctions returns one page of $LATEST versions matching q, and how
// many match in all.
func (s *Store) ListFunctions(ctx context.Context, q FunctionQuery) ([]*scf.Function, int, error) {
	col, ok := orderColumns[q.OrderBy]
	if !ok {
		return nil, 0, errdefs.Invalid("OrderBy", "cannot order by %q: use AddTime, ModTime or FunctionName", q.OrderBy)
	}
	dir := strings.ToUpper(q.Order)
	switch dir {
	case "":
		dir = "DESC"
	case "ASC", "DESC":
	default:
		return nil, 0, errdefs.Invalid("Order", "Order %q is invalid: use ASC or DESC", q.Order)
	}
	if q.Offset < 0 || q.Limit < 0 {
		return nil, 0, errdefs.Invalid("Offset", "Offset and Limit must not be negative")
	}
	limit := q.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	where := []string{"version = ?"}
	args := []any{scf.Latest}
	if q.Namespace != "" {
		where = append(where, "namespace = ?")
		args = append(args, q.Namespace)
	}
	if q.SearchKey != "" {
		where = append(where, `lower(name) LIKE lower(?) ESCAPE '\'`)
		args = append(args, "%"+escapeLike(q.SearchKey)+"%")
	}
	if q.Description != "" {
		where = append(where, `lower(`+s.d.jsonField("doc", "Description")+`) LIKE lower(?) ESCAPE '\'`)
		args = append(args, "%"+escapeLike(q.Description)+"%")
	}
	if len(q.Statuses) > 0 {
		marks := make([]string, len(q.Statuses))
		for i, st := range q.Statuses {
			marks[i] = "?"
			args = append(args, string(st))
		}
		where = append(where, "status IN ("+strings.Join(marks, ", ")+")")
	}
	if len(q.Types) > 0 {
		marks := make([]string, len(q.Types))
		for i, t := range q.Types {
			marks[i] = "?"
			args = append(args, string(t))
		}
		where = append(where, s.d.jsonField("doc", "Type")+" IN ("+strings.Join(marks, ", ")+")")
	}
	for _, tf := range q.Tags {
		marks := make([]string, len(tf.Values))
		args = append(args, tf.Key)
		for i, v := range tf.Values {
			marks[i] = "?"
			args = append(args, v)
		}
		where = append(where, `EXISTS (SELECT 1 FROM `+s.d.jsonElems("doc", "Tags", "t")+`
			WHERE `+s.d.jsonField("t.value", "Key")+` = ? AND `+s.d.jsonField("t.value", "Value")+` IN (`+strings.Join(marks, ", ")+`))`)
	}
	cond := strings.Join(where, " AND ")

	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM functions WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("store: counting functions: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT doc FROM functions WHERE `+cond+
		` ORDER BY `+col+` `+dir+`, namespace, name LIMIT ? OFFSET ?`, append(args, limit, q.Offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("store: listing functions: %w", err)
	}
	defer rows.Close()
	var out []*scf.Function
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, 0, fmt.Errorf("store: listing functions: %w", err)
		}
		fn := new(scf.Function)
		if err := json.Unmarshal([]byte(doc), fn); err != nil {
			return nil, 0, fmt.Errorf("store: decoding a function: %w", err)
		}
		out = append(out, fn)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("store: listing functions: %w", err)
	}
	return out, total, nil
}

// UpdateFunction reads one version of a function, lets update change it
// and writes it back, all in one transaction: concurrent updates are
// serialised and none is lost. When update returns an error nothing
// changes and the error is returned. Namespace, Name, Version, FunctionID
// and AddTime cannot change; ModTime is set to now.
func (s *Store) UpdateFunction(ctx context.Context, ns, name, version string, update func(*scf.Function) error) (*scf.Function, error) {
	var out *scf.Function
	err := s.tx(ctx, func(tx *sql.Tx) error {
		fn, err := getFunction(ctx, tx, ns, name, version)
		if err != nil {
			return err
		}
		key := *fn
		if err := update(fn); err != nil {
			return err
		}
		fn.Namespace, fn.Name, fn.Version = key.Namespace, key.Name, key.Version
		fn.FunctionID, fn.AddTime = key.FunctionID, key.AddTime
		fn.ModTime = s.timestamp()
		doc, err := json.Marshal(fn)
		if err != nil {
			return fmt.Errorf("store: encoding function %s/%s: %w", ns, name, err)
		}
		_, err = tx.ExecContext(ctx, `UPDATE functions SET status = ?, mod_time = ?, image_digest = ?, doc = ?
			WHERE namespace = ? AND name = ? AND version = ?`,
			string(fn.Status), fn.ModTime.UnixNano(), fn.ImageDigest, string(doc), fn.Namespace, fn.Name, fn.Version)
		if err != nil {
			return fmt.Errorf("store: updating function %s/%s: %w", ns, name, err)
		}
		out = fn
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteFunction deletes every version of a function, its aliases and its
// version counter.
func (s *Store) DeleteFunction(ctx context.Context, ns, name string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM functions WHERE namespace = ? AND name = ?`, ns, name)
		if err != nil {
			return fmt.Errorf("store: deleting function %s/%s: %w", ns, name, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: deleting function %s/%s: %w", ns, name, err)
		} else if n == 0 {
			return errdefs.NotFound("Function", "function %q not found in namespace %q", name, ns)
		}
		for _, table := range []string{"aliases WHERE namespace = ? AND function = ?", "version_counters WHERE namespace = ? AND name = ?"} {
			if _, err := tx.ExecContext(ctx, "DELETE FROM "+table, ns, name); err != nil {
				return fmt.Errorf("store: deleting function %s/%s: %w", ns, name, err)
			}
		}
		return nil
	})
}

// ImageDigests returns every image digest some function version pins, so
// that the image cache knows what it must keep.
func (s *Store) ImageDigests(ctx context.Context) (map[string]bool, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT image_digest FROM functions WHERE image_digest != ''`)
	if err != nil {
		return nil, fmt.Errorf("store: listing image digests: %w", err)
	}
	defer rows.Close()
	out := make(map[string]bool)
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, fmt.Errorf("store: listing image digests: %w", err)
		}
		out[d] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: listing image digests: %w", err)
	}
	return out, nil
}

// FunctionWithImage returns a function version that pins the image
// digest; ErrNotFound when none does.
func (s *Store) FunctionWithImage(ctx context.Context, digest string) (*scf.Function, error) {
	var doc string
	err := s.db.QueryRowContext(ctx, `SELECT doc FROM functions WHERE image_digest = ? ORDER BY mod_time DESC LIMIT 1`, digest).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errdefs.NotFound("Image", "no function pins image %s", digest)
	}
	if err != nil {
		return nil, fmt.Errorf("store: finding the function of image %s: %w", digest, err)
	}
	fn := new(scf.Function)
	if err := json.Unmarshal([]byte(doc), fn); err != nil {
		return nil, fmt.Errorf("store: decoding the function of image %s: %w", digest, err)
	}
	return fn, nil
}

// CountFunctions returns how many functions ($LATEST versions) each
// namespace holds; namespaces without functions are absent.
func (s *Store) CountFunctions(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT namespace, count(*) FROM functions WHERE version = ? GROUP BY namespace`, scf.Latest)
	if err != nil {
		return nil, fmt.Errorf("store: counting functions: %w", err)
	}
	defer rows.Close()
	out := make(map[string]int)
	for rows.Next() {
		var ns string
		var n int
		if err := rows.Scan(&ns, &n); err != nil {
			return nil, fmt.Errorf("store: counting functions: %w", err)
		}
		out[ns] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: counting functions: %w", err)
	}
	return out, nil
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

const idAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// newFunctionID returns "lam-" and 8 random lowercase letters and digits.
func newFunctionID() string {
	b := make([]byte, 8)
	for i := range b {
		b[i] = idAlphabet[randIndex(len(idAlphabet))]
	}
	return "lam-" + string(b)
}

func randIndex(n int) int {
	// Rejection sampling keeps the distribution uniform.
	limit := 256 - 256%n
	var b [1]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			panic("store: crypto/rand failed: " + err.Error())
		}
		if int(b[0]) < limit {
			return int(b[0]) % n
		}
	}
}
