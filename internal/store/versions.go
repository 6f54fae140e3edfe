package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/scf"
)

// PublishVersion snapshots $LATEST as the next version (1, 2, ...; numbers
// are never reused, even after a version is deleted). $LATEST must be
// Active: a version pins an image that is already local.
func (s *Store) PublishVersion(ctx context.Context, ns, name, description string) (*scf.Function, error) {
	var out *scf.Function
	err := s.tx(ctx, func(tx *sql.Tx) error {
		fn, err := getFunction(ctx, tx, ns, name, scf.Latest)
		if err != nil {
			return err
		}
		if fn.Status != scf.StatusActive {
			return errdefs.New(errdefs.ErrFailedPrecondition, "PublishVersion", "function %q is %s: only an Active function can be published", name, fn.Status)
		}
		var last int64
		err = tx.QueryRowContext(ctx, `SELECT last FROM version_counters WHERE namespace = ? AND name = ?`, ns, name).Scan(&last)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: reading the version counter of %s/%s: %w", ns, name, err)
		}
		last++
		if _, err := tx.ExecContext(ctx, `INSERT INTO version_counters (namespace, name, last) VALUES (?, ?, ?)
			ON CONFLICT(namespace, name) DO UPDATE SET last = excluded.last`, ns, name, last); err != nil {
			return fmt.Errorf("store: counting versions of %s/%s: %w", ns, name, err)
		}
		fn.Version = strconv.FormatInt(last, 10)
		fn.Description = description
		fn.PublishOnActive = false
		now := s.timestamp()
		fn.AddTime, fn.ModTime = now, now
		out = fn
		return insertFunction(ctx, tx, fn)
	})
	return out, err
}

// ListVersions returns every version of a function: $LATEST first, then
// the published ones in increasing order.
func (s *Store) ListVersions(ctx context.Context, ns, name string) ([]*scf.Function, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT doc FROM functions WHERE namespace = ? AND name = ?`, ns, name)
	if err != nil {
		return nil, fmt.Errorf("store: listing versions of %s/%s: %w", ns, name, err)
	}
	defer rows.Close()
	var out []*scf.Function
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, fmt.Errorf("store: listing versions of %s/%s: %w", ns, name, err)
		}
		fn := new(scf.Function)
		if err := json.Unmarshal([]byte(doc), fn); err != nil {
			return nil, fmt.Errorf("store: decoding a version of %s/%s: %w", ns, name, err)
		}
		out = append(out, fn)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: listing versions of %s/%s: %w", ns, name, err)
	}
	if len(out) == 0 {
		return nil, errdefs.NotFound("Function", "function %q not found in namespace %q", name, ns)
	}
	sort.Slice(out, func(i, j int) bool { return versionLess(out[i].Version, out[j].Version) })
	return out, nil
}

// versionLess orders $LATEST first, then versions by number.
func versionLess(a, b string) bool {
	if a == scf.Latest || b == scf.Latest {
		return a == scf.Latest && b != scf.Latest
	}
	x, _ := strconv.ParseInt(a, 10, 64)
	y, _ := strconv.ParseInt(b, 10, 64)
	return x < y
}

// DeleteVersion deletes one published version. It is refused (ErrInUse
// about "Version") while an alias routes traffic to it; $LATEST cannot be
// deleted alone.
func (s *Store) DeleteVersion(ctx context.Context, ns, name, version string) error {
	if version == scf.Latest {
		return errdefs.Invalid("Qualifier", "$LATEST cannot be deleted alone: delete the function")
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := getFunction(ctx, tx, ns, name, version); err != nil {
			return err
		}
		aliases, err := listAliases(ctx, tx, ns, name)
		if err != nil {
			return err
		}
		for _, a := range aliases {
			for _, v := range a.Versions() {
				if v == version {
					return errdefs.New(errdefs.ErrInUse, "AliasBind", "version %s of function %q is in use by alias %q: point the alias elsewhere first", version, name, a.Name)
				}
			}
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM functions WHERE namespace = ? AND name = ? AND version = ?`, ns, name, version)
		if err != nil {
			return fmt.Errorf("store: deleting version %s of %s/%s: %w", version, ns, name, err)
		}
		return nil
	})
}
