package pool

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/scf"
)

// migrations of the pool's tables, owner "pool". Append only.
var migrations = []string{
	// 1: the account's quota, reserved quotas, provisioned concurrency.
	`CREATE TABLE pool_account (
		id        INTEGER PRIMARY KEY CHECK (id = 1),
		total_mem INTEGER NOT NULL
	);
	CREATE TABLE pool_reserved (
		namespace TEXT NOT NULL,
		name      TEXT NOT NULL,
		mem       INTEGER NOT NULL,
		PRIMARY KEY (namespace, name)
	);
	CREATE TABLE pool_provisioned (
		namespace TEXT NOT NULL,
		name      TEXT NOT NULL,
		version   TEXT NOT NULL,
		num       INTEGER NOT NULL,
		mem       INTEGER NOT NULL,
		PRIMARY KEY (namespace, name, version)
	);`,
}

// load reads the settings and starts the provisioned instances they name.
func (p *Pool) load(ctx context.Context) error {
	st := p.opts.Store
	if err := st.Migrate(ctx, "pool", migrations); err != nil {
		return err
	}
	set, err := p.readSettings(ctx)
	if err != nil {
		return err
	}
	if set.total > 0 {
		p.total = set.total
	}
	for k, mem := range set.reserved {
		p.fnState(k).reserved = mem
		p.reservedSum += mem
	}
	for k, r := range set.provisioned {
		fn, err := st.GetFunction(ctx, k.ns, k.name, k.version)
		p.mu.Lock()
		ps := &provState{target: r.num, mem: r.mem}
		p.fnState(fnKey{k.ns, k.name}).prov[k.version] = ps
		if err != nil {
			ps.failure = err.Error()
		} else {
			p.poolFor(fn)
		}
		p.mu.Unlock()
		if err != nil {
			p.log.Warn("pool: provisioned version", "function", k.name, "namespace", k.ns, "version", k.version, "err", err)
		}
	}
	return nil
}

// settings are the pool's settings as stored.
type settings struct {
	total       int64 // 0: none stored
	reserved    map[fnKey]int64
	provisioned map[verKey]provSetting
}

type provSetting struct{ num, mem int64 }

// readSettings reads the settings from the store.
func (p *Pool) readSettings(ctx context.Context) (settings, error) {
	set := settings{reserved: map[fnKey]int64{}, provisioned: map[verKey]provSetting{}}
	db := p.opts.Store.DB()
	err := db.QueryRowContext(ctx, `SELECT total_mem FROM pool_account WHERE id = 1`).Scan(&set.total)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return settings{}, fmt.Errorf("pool: reading the account quota: %w", err)
	}
	rows, err := db.QueryContext(ctx, `SELECT namespace, name, mem FROM pool_reserved`)
	if err != nil {
		return settings{}, fmt.Errorf("pool: reading reserved quotas: %w", err)
	}
	for rows.Next() {
		var k fnKey
		var mem int64
		if err := rows.Scan(&k.ns, &k.name, &mem); err != nil {
			rows.Close()
			return settings{}, fmt.Errorf("pool: reading reserved quotas: %w", err)
		}
		set.reserved[k] = mem
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return settings{}, fmt.Errorf("pool: reading reserved quotas: %w", err)
	}
	rows, err = db.QueryContext(ctx, `SELECT namespace, name, version, num, mem FROM pool_provisioned`)
	if err != nil {
		return settings{}, fmt.Errorf("pool: reading provisioned concurrency: %w", err)
	}
	for rows.Next() {
		var k verKey
		var r provSetting
		if err := rows.Scan(&k.ns, &k.name, &k.version, &r.num, &r.mem); err != nil {
			rows.Close()
			return settings{}, fmt.Errorf("pool: reading provisioned concurrency: %w", err)
		}
		set.provisioned[k] = r
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return settings{}, fmt.Errorf("pool: reading provisioned concurrency: %w", err)
	}
	return set, nil
}

// PutReserved sets a function's reserved quota in MB: it may use at most
// that much, and the account's unreserved functions may no longer use it.
// 0 disables the function. Reserved quotas together may not exceed the
// account's quota minus scf.UnreservedFloorMB
// (LimitExceeded.FunctionReservedConcurrencyMemory, as SCF lists for
// PutReservedConcurrencyConfig).
func (p *Pool) PutReserved(ctx context.Context, ns, name string, mb int64) error {
	if mb < 0 {
		return errdefs.Invalid("ReservedConcurrencyMem", "ReservedConcurrencyMem must not be negative")
	}
	p.setMu.Lock()
	defer p.setMu.Unlock()
	p.mu.Lock()
	sum := p.reservedSum + mb
	if fs := p.fns[fnKey{ns, name}]; fs != nil && fs.reserved >= 0 {
		sum -= fs.reserved
	}
	limit := p.total - scf.UnreservedFloorMB
	p.mu.Unlock()
	if sum > limit {
		return errdefs.New(errdefs.ErrResourceExhausted, "FunctionReservedConcurrencyMemory",
			"reserved quotas would total %d MB, above the account's %d MB minus the %d MB kept for unreserved functions",
			sum, p.totalMB(), scf.UnreservedFloorMB)
	}
	_, err := p.opts.Store.DB().ExecContext(ctx, `INSERT INTO pool_reserved (namespace, name, mem) VALUES (?, ?, ?)
		ON CONFLICT (namespace, name) DO UPDATE SET mem = excluded.mem`, ns, name, mb)
	if err != nil {
		return fmt.Errorf("pool: saving the reserved quota of %s/%s: %w", ns, name, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fs := p.fnState(fnKey{ns, name})
	if fs.reserved < 0 {
		p.unreservedUsed -= fs.used
	} else {
		p.reservedSum -= fs.reserved
	}
	fs.reserved = mb
	p.reservedSum += mb
	return nil
}

// GetReserved returns a function's reserved quota in MB; ok is false when
// none is set.
func (p *Pool) GetReserved(ctx context.Context, ns, name string) (mb int64, ok bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if fs := p.fns[fnKey{ns, name}]; fs != nil && fs.reserved >= 0 {
		return fs.reserved, true, nil
	}
	return 0, false, nil
}

// DeleteReserved returns a function to the account's shared quota.
func (p *Pool) DeleteReserved(ctx context.Context, ns, name string) error {
	p.setMu.Lock()
	defer p.setMu.Unlock()
	_, err := p.opts.Store.DB().ExecContext(ctx, `DELETE FROM pool_reserved WHERE namespace = ? AND name = ?`, ns, name)
	if err != nil {
		return fmt.Errorf("pool: deleting the reserved quota of %s/%s: %w", ns, name, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if fs := p.fns[fnKey{ns, name}]; fs != nil && fs.reserved >= 0 {
		p.reservedSum -= fs.reserved
		fs.reserved = -1
		p.unreservedUsed += fs.used
	}
	return nil
}

// PutTotal sets the account's concurrency quota in MB. It may not go
// below the reserved quotas plus scf.UnreservedFloorMB
// (FailedOperation.ReservedExceedTotal, as SCF lists for
// PutTotalConcurrencyConfig).
func (p *Pool) PutTotal(ctx context.Context, mb int64) error {
	p.setMu.Lock()
	defer p.setMu.Unlock()
	p.mu.Lock()
	floor := p.reservedSum + scf.UnreservedFloorMB
	p.mu.Unlock()
	if mb < floor {
		return errdefs.New(errdefs.ErrFailedPrecondition, "ReservedExceedTotal",
			"the account's concurrency quota must be at least %d MB: the reserved quotas plus %d MB", floor, scf.UnreservedFloorMB)
	}
	_, err := p.opts.Store.DB().ExecContext(ctx, `INSERT INTO pool_account (id, total_mem) VALUES (1, ?)
		ON CONFLICT (id) DO UPDATE SET total_mem = excluded.total_mem`, mb)
	if err != nil {
		return fmt.Errorf("pool: saving the account quota: %w", err)
	}
	p.mu.Lock()
	p.total = mb
	p.mu.Unlock()
	return nil
}

// TotalConcurrency returns the account's quota and the sum of the
// reserved quotas, in MB.
func (p *Pool) TotalConcurrency() (totalMB, reservedMB int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.total, p.reservedSum
}

// InUse returns the memory in use by a function's busy instances and
// pending starts, and by the account's unreserved functions, in MB.
func (p *Pool) InUse(ns, name string) (functionMB, unreservedMB int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if fs := p.fns[fnKey{ns, name}]; fs != nil {
		functionMB = fs.used
	}
	return functionMB, p.unreservedUsed
}

func (p *Pool) totalMB() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.total
}

func (p *Pool) saveProvisioned(ctx context.Context, ns, name, version string, n, mem int64) error {
	_, err := p.opts.Store.DB().ExecContext(ctx, `INSERT INTO pool_provisioned (namespace, name, version, num, mem) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (namespace, name, version) DO UPDATE SET num = excluded.num, mem = excluded.mem`, ns, name, version, n, mem)
	if err != nil {
		return fmt.Errorf("pool: saving the provisioned concurrency of %s/%s:%s: %w", ns, name, version, err)
	}
	return nil
}

func (p *Pool) deleteProvisioned(ctx context.Context, ns, name, version string) error {
	_, err := p.opts.Store.DB().ExecContext(ctx, `DELETE FROM pool_provisioned WHERE namespace = ? AND name = ? AND version = ?`, ns, name, version)
	if err != nil {
		return fmt.Errorf("pool: deleting the provisioned concurrency of %s/%s:%s: %w", ns, name, version, err)
	}
	return nil
}

// deleteSettings forgets a deleted function's settings.
func (p *Pool) deleteSettings(ctx context.Context, ns, name string) error {
	p.setMu.Lock()
	defer p.setMu.Unlock()
	db := p.opts.Store.DB()
	if _, err := db.ExecContext(ctx, `DELETE FROM pool_reserved WHERE namespace = ? AND name = ?`, ns, name); err != nil {
		return fmt.Errorf("pool: deleting the settings of %s/%s: %w", ns, name, err)
	}
	if _, err := db.ExecContext(ctx, `DELETE FROM pool_provisioned WHERE namespace = ? AND name = ?`, ns, name); err != nil {
		return fmt.Errorf("pool: deleting the settings of %s/%s: %w", ns, name, err)
	}
	return nil
}

// Allocations reports, for each function of namespace that has a
// reserved quota or provisioned instances, what it holds of the account's
// quota.
func (p *Pool) Allocations(namespace string) map[string]scf.Allocation {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]scf.Allocation)
	for k, fs := range p.fns {
		if k.ns != namespace {
			continue
		}
		var a scf.Allocation
		if fs.reserved > 0 {
			a.ReservedMB = fs.reserved
		}
		for _, ps := range fs.prov {
			a.ProvisionedMB += ps.target * ps.mem
		}
		if a != (scf.Allocation{}) {
			out[k.name] = a
		}
	}
	return out
}
