package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/scf"
)

// Tenant keys are kept with their secret in clear: verifying a
// TC3-HMAC-SHA256 signature needs it. The database file is mode 0600 in
// a directory of mode 0700, like the administrator's key file.

const keyColumns = `secret_id, secret_key, description, namespaces, role, disabled, add_time, mod_time`

// CreateKey stores a new tenant key; its AddTime and ModTime are set to
// now. Every namespace it names must exist (ErrNotFound); a SecretId
// already stored is ErrAlreadyExists.
func (s *Store) CreateKey(ctx context.Context, k scf.Key) (scf.Key, error) {
	now := s.timestamp()
	k.AddTime, k.ModTime = now, now
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := namespacesExist(ctx, tx, k.Namespaces); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM tenant_keys WHERE secret_id = ?`, k.SecretID).Scan(&n); err != nil {
			return fmt.Errorf("store: reading key %q: %w", k.SecretID, err)
		}
		if n > 0 {
			return errdefs.New(errdefs.ErrAlreadyExists, "SecretId", "key %q already exists", k.SecretID)
		}
		ns, _ := json.Marshal(k.Namespaces)
		_, err := tx.ExecContext(ctx, `INSERT INTO tenant_keys (`+keyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			k.SecretID, k.SecretKey, k.Description, string(ns), string(k.Role), k.Disabled, now.UnixNano(), now.UnixNano())
		if err != nil {
			return fmt.Errorf("store: creating key %q: %w", k.SecretID, err)
		}
		return nil
	})
	if err != nil {
		return scf.Key{}, err
	}
	return k, nil
}

// GetKey returns one tenant key, secret included; ErrNotFound when there
// is none.
func (s *Store) GetKey(ctx context.Context, secretID string) (scf.Key, error) {
	k, err := scanKey(s.db.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM tenant_keys WHERE secret_id = ?`, secretID))
	if errors.Is(err, sql.ErrNoRows) {
		return scf.Key{}, errdefs.NotFound("SecretId", "key %q not found", secretID)
	}
	if err != nil {
		return scf.Key{}, fmt.Errorf("store: reading key %q: %w", secretID, err)
	}
	return k, nil
}

// ListKeys returns every tenant key, oldest first, secrets included.
func (s *Store) ListKeys(ctx context.Context) ([]scf.Key, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+keyColumns+` FROM tenant_keys ORDER BY add_time, secret_id`)
	if err != nil {
		return nil, fmt.Errorf("store: listing keys: %w", err)
	}
	defer rows.Close()
	var out []scf.Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("store: listing keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: listing keys: %w", err)
	}
	return out, nil
}

// UpdateKey changes a tenant key atomically: update gets the stored key
// and changes its Description, Namespaces, Role or Disabled (the other
// fields are kept); when it returns an error nothing is written. Every
// namespace the key then names must exist.
func (s *Store) UpdateKey(ctx context.Context, secretID string, update func(*scf.Key) error) (scf.Key, error) {
	var out scf.Key
	err := s.tx(ctx, func(tx *sql.Tx) error {
		k, err := scanKey(tx.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM tenant_keys WHERE secret_id = ?`, secretID))
		if errors.Is(err, sql.ErrNoRows) {
			return errdefs.NotFound("SecretId", "key %q not found", secretID)
		}
		if err != nil {
			return fmt.Errorf("store: reading key %q: %w", secretID, err)
		}
		next := k
		if err := update(&next); err != nil {
			return err
		}
		if err := namespacesExist(ctx, tx, next.Namespaces); err != nil {
			return err
		}
		next.SecretID, next.SecretKey, next.AddTime, next.ModTime = k.SecretID, k.SecretKey, k.AddTime, s.timestamp()
		ns, _ := json.Marshal(next.Namespaces)
		_, err = tx.ExecContext(ctx, `UPDATE tenant_keys SET description = ?, namespaces = ?, role = ?, disabled = ?, mod_time = ? WHERE secret_id = ?`,
			next.Description, string(ns), string(next.Role), next.Disabled, next.ModTime.UnixNano(), secretID)
		if err != nil {
			return fmt.Errorf("store: updating key %q: %w", secretID, err)
		}
		out = next
		return nil
	})
	return out, err
}

// DeleteKey deletes a tenant key; ErrNotFound when there is none.
func (s *Store) DeleteKey(ctx context.Context, secretID string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM tenant_keys WHERE secret_id = ?`, secretID)
	if err != nil {
		return fmt.Errorf("store: deleting key %q: %w", secretID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: deleting key %q: %w", secretID, err)
	} else if n == 0 {
		return errdefs.NotFound("SecretId", "key %q not found", secretID)
	}
	return nil
}

// namespacesExist checks that every name is a stored namespace.
func namespacesExist(ctx context.Context, tx *sql.Tx, names []string) error {
	for _, n := range names {
		var found int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM namespaces WHERE name = ?`, n).Scan(&found); err != nil {
			return fmt.Errorf("store: reading namespace %q: %w", n, err)
		}
		if found == 0 {
			return errdefs.NotFound("Namespace", "namespace %q not found", n)
		}
	}
	return nil
}

// keysNaming counts the tenant keys that name namespace.
func (s *Store) keysNaming(ctx context.Context, tx *sql.Tx, namespace string) (int, error) {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT count(*) FROM tenant_keys, `+s.d.jsonStrings("tenant_keys.namespaces", "e")+` WHERE e.value = ?`, namespace).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: counting the keys of namespace %q: %w", namespace, err)
	}
	return n, nil
}

func scanKey(row scanner) (scf.Key, error) {
	var k scf.Key
	var ns, role string
	var add, mod int64
	if err := row.Scan(&k.SecretID, &k.SecretKey, &k.Description, &ns, &role, &k.Disabled, &add, &mod); err != nil {
		return scf.Key{}, err
	}
	if err := json.Unmarshal([]byte(ns), &k.Namespaces); err != nil {
		return scf.Key{}, fmt.Errorf("key %q: damaged namespaces: %w", k.SecretID, err)
	}
	k.Role = scf.Role(role)
	k.AddTime = time.Unix(0, add).UTC()
	k.ModTime = time.Unix(0, mod).UTC()
	return k, nil
}
