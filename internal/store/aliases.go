package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/scf"
)

// aliasRow is the JSON document of an alias.
type aliasRow struct {
	FunctionVersion string
	Description     string
	Routing         scf.RoutingConfig
}

// CreateAlias stores a new alias. Every version it routes to must exist.
func (s *Store) CreateAlias(ctx context.Context, a *scf.Alias) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := checkVersions(ctx, tx, a); err != nil {
			return err
		}
		if _, err := getAlias(ctx, tx, a.Namespace, a.Function, a.Name); err == nil {
			return errdefs.New(errdefs.ErrAlreadyExists, "Alias", "alias %q of function %q already exists", a.Name, a.Function)
		} else if !errors.Is(err, errdefs.ErrNotFound) {
			return err
		}
		now := s.timestamp()
		a.AddTime, a.ModTime = now, now
		doc, err := json.Marshal(aliasRow{a.FunctionVersion, a.Description, a.Routing})
		if err != nil {
			return fmt.Errorf("store: encoding alias %q: %w", a.Name, err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO aliases (namespace, function, name, add_time, mod_time, doc)
			VALUES (?, ?, ?, ?, ?, ?)`, a.Namespace, a.Function, a.Name, now.UnixNano(), now.UnixNano(), string(doc))
		if err != nil {
			return fmt.Errorf("store: storing alias %q: %w", a.Name, err)
		}
		return nil
	})
}

// UpdateAlias changes an alias's version, description and routing.
func (s *Store) UpdateAlias(ctx context.Context, a *scf.Alias) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		cur, err := getAlias(ctx, tx, a.Namespace, a.Function, a.Name)
		if err != nil {
			return err
		}
		if err := checkVersions(ctx, tx, a); err != nil {
			return err
		}
		a.AddTime, a.ModTime = cur.AddTime, s.timestamp()
		doc, err := json.Marshal(aliasRow{a.FunctionVersion, a.Description, a.Routing})
		if err != nil {
			return fmt.Errorf("store: encoding alias %q: %w", a.Name, err)
		}
		_, err = tx.ExecContext(ctx, `UPDATE aliases SET mod_time = ?, doc = ? WHERE namespace = ? AND function = ? AND name = ?`,
			a.ModTime.UnixNano(), string(doc), a.Namespace, a.Function, a.Name)
		if err != nil {
			return fmt.Errorf("store: updating alias %q: %w", a.Name, err)
		}
		return nil
	})
}

// GetAlias returns one alias of a function.
func (s *Store) GetAlias(ctx context.Context, ns, function, name string) (*scf.Alias, error) {
	return getAlias(ctx, s.db, ns, function, name)
}

// ListAliases returns a function's aliases, by name.
func (s *Store) ListAliases(ctx context.Context, ns, function string) ([]*scf.Alias, error) {
	return listAliases(ctx, s.db, ns, function)
}

// DeleteAlias deletes one alias.
func (s *Store) DeleteAlias(ctx context.Context, ns, function, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM aliases WHERE namespace = ? AND function = ? AND name = ?`, ns, function, name)
	if err != nil {
		return fmt.Errorf("store: deleting alias %q: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errdefs.NotFound("Alias", "alias %q of function %q not found", name, function)
	}
	return nil
}

func checkVersions(ctx context.Context, tx *sql.Tx, a *scf.Alias) error {
	for _, v := range a.Versions() {
		_, err := getFunction(ctx, tx, a.Namespace, a.Function, v)
		if errdefs.Resource(err) == "Version" {
			return errdefs.NotFound("FunctionVersion", "alias %q would route to version %q of function %q, which does not exist", a.Name, v, a.Function)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

type rowsQuerier interface {
	querier
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func getAlias(ctx context.Context, q querier, ns, function, name string) (*scf.Alias, error) {
	var addTime, modTime int64
	var doc string
	err := q.QueryRowContext(ctx, `SELECT add_time, mod_time, doc FROM aliases WHERE namespace = ? AND function = ? AND name = ?`,
		ns, function, name).Scan(&addTime, &modTime, &doc)
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := getFunction(ctx, q, ns, function, scf.Latest); err != nil {
			return nil, err
		}
		return nil, errdefs.NotFound("Alias", "alias %q of function %q not found", name, function)
	}
	if err != nil {
		return nil, fmt.Errorf("store: reading alias %q: %w", name, err)
	}
	return decodeAlias(ns, function, name, addTime, modTime, doc)
}

func listAliases(ctx context.Context, q rowsQuerier, ns, function string) ([]*scf.Alias, error) {
	rows, err := q.QueryContext(ctx, `SELECT name, add_time, mod_time, doc FROM aliases WHERE namespace = ? AND function = ?`, ns, function)
	if err != nil {
		return nil, fmt.Errorf("store: listing aliases of %q: %w", function, err)
	}
	defer rows.Close()
	var out []*scf.Alias
	for rows.Next() {
		var name, doc string
		var addTime, modTime int64
		if err := rows.Scan(&name, &addTime, &modTime, &doc); err != nil {
			return nil, fmt.Errorf("store: listing aliases of %q: %w", function, err)
		}
		a, err := decodeAlias(ns, function, name, addTime, modTime, doc)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: listing aliases of %q: %w", function, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func decodeAlias(ns, function, name string, addTime, modTime int64, doc string) (*scf.Alias, error) {
	var r aliasRow
	if err := json.Unmarshal([]byte(doc), &r); err != nil {
		return nil, fmt.Errorf("store: decoding alias %q: %w", name, err)
	}
	return &scf.Alias{
		Namespace: ns, Function: function, Name: name,
		FunctionVersion: r.FunctionVersion, Description: r.Description, Routing: r.Routing,
		AddTime: unixNano(addTime), ModTime: unixNano(modTime),
	}, nil
}
