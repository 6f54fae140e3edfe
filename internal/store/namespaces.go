package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/scf"
)

// Namespace types.
const (
	NamespaceTypeDefault = "default"
	NamespaceTypeCustom  = "custom"
)

// CreateNamespace stores a new namespace. Its AddTime and ModTime are set
// to now; its Type to "custom" when empty.
func (s *Store) CreateNamespace(ctx context.Context, ns scf.Namespace) error {
	if ns.Type == "" {
		ns.Type = NamespaceTypeCustom
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM namespaces WHERE name = ?`, ns.Name).Scan(&n); err != nil {
			return fmt.Errorf("store: reading namespace %q: %w", ns.Name, err)
		}
		if n > 0 {
			return errdefs.New(errdefs.ErrAlreadyExists, "Namespace", "namespace %q already exists", ns.Name)
		}
		now := s.timestamp()
		_, err := tx.ExecContext(ctx, `INSERT INTO namespaces (name, description, type, add_time, mod_time) VALUES (?, ?, ?, ?, ?)`,
			ns.Name, ns.Description, ns.Type, now.UnixNano(), now.UnixNano())
		if err != nil {
			return fmt.Errorf("store: creating namespace %q: %w", ns.Name, err)
		}
		return nil
	})
}

// GetNamespace returns one namespace.
func (s *Store) GetNamespace(ctx context.Context, name string) (scf.Namespace, error) {
	row := s.db.QueryRowContext(ctx, `SELECT name, description, type, add_time, mod_time FROM namespaces WHERE name = ?`, name)
	ns, err := scanNamespace(row)
	if errors.Is(err, sql.ErrNoRows) {
		return scf.Namespace{}, errdefs.NotFound("Namespace", "namespace %q not found", name)
	}
	if err != nil {
		return scf.Namespace{}, fmt.Errorf("store: reading namespace %q: %w", name, err)
	}
	return ns, nil
}

// ListNamespaces returns every namespace, by name.
func (s *Store) ListNamespaces(ctx context.Context) ([]scf.Namespace, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, description, type, add_time, mod_time FROM namespaces ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: listing namespaces: %w", err)
	}
	defer rows.Close()
	var out []scf.Namespace
	for rows.Next() {
		ns, err := scanNamespace(rows)
		if err != nil {
			return nil, fmt.Errorf("store: listing namespaces: %w", err)
		}
		out = append(out, ns)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: listing namespaces: %w", err)
	}
	return out, nil
}

// UpdateNamespace sets a namespace's description.
func (s *Store) UpdateNamespace(ctx context.Context, name, description string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE namespaces SET description = ?, mod_time = ? WHERE name = ?`,
		description, s.timestamp().UnixNano(), name)
	if err != nil {
		return fmt.Errorf("store: updating namespace %q: %w", name, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: updating namespace %q: %w", name, err)
	} else if n == 0 {
		return errdefs.NotFound("Namespace", "namespace %q not found", name)
	}
	return nil
}

// DeleteNamespace deletes an empty namespace. The default namespace cannot
// be deleted (ErrFailedPrecondition), nor one that holds functions or that
// a tenant key names (ErrInUse): a namespace created again later under the
// same name must not open to an old key.
func (s *Store) DeleteNamespace(ctx context.Context, name string) error {
	if name == scf.DefaultNamespace {
		return errdefs.New(errdefs.ErrFailedPrecondition, "DeleteNamespace", "the default namespace cannot be deleted")
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		var fns int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM functions WHERE namespace = ?`, name).Scan(&fns); err != nil {
			return fmt.Errorf("store: counting the functions of namespace %q: %w", name, err)
		}
		if fns > 0 {
			return errdefs.New(errdefs.ErrInUse, "Namespace", "namespace %q still holds functions: delete them first", name)
		}
		keys, err := s.keysNaming(ctx, tx, name)
		if err != nil {
			return err
		}
		if keys > 0 {
			return errdefs.New(errdefs.ErrInUse, "Namespace", "%d key(s) name namespace %q: update or delete them first", keys, name)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM namespaces WHERE name = ?`, name)
		if err != nil {
			return fmt.Errorf("store: deleting namespace %q: %w", name, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: deleting namespace %q: %w", name, err)
		} else if n == 0 {
			return errdefs.NotFound("Namespace", "namespace %q not found", name)
		}
		return nil
	})
}

type scanner interface{ Scan(dest ...any) error }

func scanNamespace(row scanner) (scf.Namespace, error) {
	var ns scf.Namespace
	var add, mod int64
	if err := row.Scan(&ns.Name, &ns.Description, &ns.Type, &add, &mod); err != nil {
		return scf.Namespace{}, err
	}
	ns.AddTime = time.Unix(0, add).UTC()
	ns.ModTime = time.Unix(0, mod).UTC()
	return ns, nil
}
