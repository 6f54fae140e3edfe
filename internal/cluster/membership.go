package cluster

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// migrations of the cluster's table, owner "cluster". Append only.
var migrations = []string{
	// 1: the replicas and their heartbeats (Unix nanoseconds of the
	// writer's clock).
	`CREATE TABLE replicas (
		id        TEXT PRIMARY KEY,
		addr      TEXT NOT NULL,
		heartbeat BIGINT NOT NULL
	);`,
	// 2: a replica draining keeps its row, marked, until it stopped its
	// instances: the others neither forward to it nor remove its Pods.
	`ALTER TABLE replicas ADD COLUMN leaving INTEGER NOT NULL DEFAULT 0;`,
}

// DB is what membership needs of the shared database; *store.Store has
// it. Statements use $1, $2 placeholders.
type DB interface {
	DB() *sql.DB
	Migrate(ctx context.Context, owner string, migrations []string) error
}

// Options configure a Membership. DB and Self are required.
type Options struct {
	DB   DB
	Self Member
	// Interval: see DefaultInterval. Zero means the default.
	Interval time.Duration
	// Timeout: see DefaultTimeout. Zero means the default.
	Timeout time.Duration
	// Forget: see DefaultForget. Zero means the default.
	Forget time.Duration
	// Now is the clock of heartbeats and liveness. Nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger // nil discards
}

// Change is a change of this replica's view.
type Change struct {
	Old, New *View
	// Gone are the replicas that departed or whose heartbeat stopped:
	// their instances are nobody's now, and the new owners of their
	// functions remove them (on Kubernetes, their Pods). A replica only
	// suspected of being unreachable is not gone, nor is one leaving
	// (draining) while its heartbeat goes on.
	Gone []Member
}

// Membership keeps this replica's heartbeat and its view of the live
// replicas. It is safe for concurrent use.
type Membership struct {
	opts Options
	db   *sql.DB
	log  *slog.Logger
	view atomic.Pointer[View]

	mu       sync.Mutex
	seen     map[string]seen      // every replica row read, by ID
	live     []Member             // the replicas live by the database, self included
	leaving  []Member             // the replicas draining, their heartbeat going on
	dead     []Member             // the rows of replicas whose heartbeat stopped
	reported map[string]bool      // replicas told Gone and not live since
	suspects map[string]time.Time // left out of the view until then
	subs     []func(Change)
	left     bool      // Leave was called: the row says leaving
	departed bool      // Depart was called: the row is deleted
	wrote    time.Time // when the first heartbeat was written; zero before
}

// seen is what a replica's row last said and when it last changed, by
// this replica's clock.
type seen struct {
	Member
	beat    int64
	leaving bool
	changed time.Time
}

// Join creates the replicas table if needed and reads the others' rows:
// the view, this replica included, is current when it returns. The
// others learn of this replica at its first heartbeat (Run, or Beat),
// which is written once it serves its internal listener; Leave marks its
// row leaving, and Depart deletes it.
func Join(ctx context.Context, opts Options) (*Membership, error) {
	if opts.DB == nil || opts.Self.ID == "" || opts.Self.Addr == "" {
		return nil, errors.New("cluster: DB, Self.ID and Self.Addr are required")
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Forget <= 0 {
		opts.Forget = DefaultForget
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := opts.DB.Migrate(ctx, "cluster", migrations); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	m := &Membership{
		opts: opts, db: opts.DB.DB(), log: opts.Logger,
		seen: map[string]seen{}, suspects: map[string]time.Time{}, reported: map[string]bool{},
	}
	m.view.Store(NewView(opts.Self.ID, []Member{opts.Self}))
	if err := m.round(ctx, false); err != nil {
		return nil, err
	}
	return m, nil
}

// Self is this replica.
func (m *Membership) Self() Member { return m.opts.Self }

// View is the current view.
func (m *Membership) View() *View { return m.view.Load() }

// Owner returns k's owner in the current view and whether it is this
// replica. It neither allocates nor reads the database.
func (m *Membership) Owner(k Key) (Member, bool) { return m.view.Load().Owner(k) }

// Next returns k's owner in the current view without skip.
func (m *Membership) Next(k Key, skip string) (Member, bool) { return m.view.Load().Next(k, skip) }

// Subscribe calls f at once with the current view (as Old and New) and
// the replicas whose rows say they are dead (as Gone: they died before
// this replica joined), then with every change of the view, in order,
// from the goroutine that made it (Beat or Suspect). f must not call
// back into the Membership, but may call Owner.
func (m *Membership) Subscribe(f func(Change)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.subs = append(m.subs, f)
	v := m.view.Load()
	f(Change{Old: v, New: v, Gone: slices.Clone(m.dead)})
}

// Run writes the heartbeat and reads the others' at once and then every
// Interval until ctx ends. A failed round is logged and retried at the
// next.
func (m *Membership) Run(ctx context.Context) {
	t := time.NewTicker(m.opts.Interval)
	defer t.Stop()
	for {
		if err := m.Beat(ctx); err != nil && ctx.Err() == nil {
			m.log.Warn("cluster: heartbeat", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Beat is one round of Run: it writes this replica's heartbeat, reads
// every row, updates the view and deletes the rows of replicas dead for
// Forget.
func (m *Membership) Beat(ctx context.Context) error { return m.round(ctx, true) }

// round is Beat, writing the heartbeat only when write is set.
func (m *Membership) round(ctx context.Context, write bool) error {
	now := m.opts.Now()
	m.mu.Lock()
	left, departed := m.left, m.departed
	m.mu.Unlock()
	if write && !departed {
		leaving := 0
		if left {
			leaving = 1
		}
		if _, err := m.db.ExecContext(ctx, `INSERT INTO replicas (id, addr, heartbeat, leaving) VALUES ($1, $2, $3, $4)
			ON CONFLICT (id) DO UPDATE SET addr = excluded.addr, heartbeat = excluded.heartbeat, leaving = excluded.leaving`,
			m.opts.Self.ID, m.opts.Self.Addr, now.UnixNano(), leaving); err != nil {
			return fmt.Errorf("cluster: writing the heartbeat: %w", err)
		}
		m.mu.Lock()
		if m.wrote.IsZero() {
			m.wrote = now
		}
		m.mu.Unlock()
	}
	rows, err := m.db.QueryContext(ctx, `SELECT id, addr, heartbeat, leaving FROM replicas`)
	if err != nil {
		return fmt.Errorf("cluster: reading the replicas: %w", err)
	}
	defer rows.Close()
	var read []seen
	for rows.Next() {
		var s seen
		var leaving int
		if err := rows.Scan(&s.ID, &s.Addr, &s.beat, &leaving); err != nil {
			return fmt.Errorf("cluster: reading the replicas: %w", err)
		}
		s.leaving = leaving != 0
		read = append(read, s)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("cluster: reading the replicas: %w", err)
	}
	for _, s := range m.update(now, read) {
		// Unless it came back meanwhile.
		if _, err := m.db.ExecContext(ctx, `DELETE FROM replicas WHERE id = $1 AND heartbeat = $2`, s.ID, s.beat); err != nil {
			return fmt.Errorf("cluster: deleting a dead replica: %w", err)
		}
	}
	return nil
}

// update takes the rows read at now into the view. It returns the rows
// whose heartbeat has not moved for Forget, to delete.
func (m *Membership) update(now time.Time, read []seen) (forget []seen) {
	m.mu.Lock()
	defer m.mu.Unlock()
	seenNow := make(map[string]seen, len(read))
	for _, s := range read {
		prev, ok := m.seen[s.ID]
		switch {
		case !ok:
			// First sight: as old as its heartbeat says, never newer
			// than now.
			s.changed = time.Unix(0, s.beat)
			if s.changed.After(now) {
				s.changed = now
			}
		case prev.beat != s.beat:
			s.changed = now
		default:
			s.changed = prev.changed
		}
		seenNow[s.ID] = s
	}
	m.seen = seenNow
	var live, leaving, dead []Member
	for _, s := range seenNow {
		self := s.ID == m.opts.Self.ID
		switch {
		case self && m.left || !self && s.leaving && now.Sub(s.changed) < m.opts.Timeout:
			leaving = append(leaving, s.Member)
		case self || now.Sub(s.changed) < m.opts.Timeout:
			live = append(live, s.Member)
		default:
			dead = append(dead, s.Member)
			if now.Sub(s.changed) >= m.opts.Forget {
				forget = append(forget, s)
			}
		}
	}
	if !m.left && !slices.ContainsFunc(live, func(x Member) bool { return x.ID == m.opts.Self.ID }) {
		live = append(live, m.opts.Self)
	}
	slices.SortFunc(live, compareID)
	slices.SortFunc(leaving, compareID)
	slices.SortFunc(dead, compareID)
	// Gone: once each, whether its row went (it departed) or stayed (it
	// died, maybe before this replica saw it live, or while leaving).
	var gone []Member
	present := func(id string) bool {
		has := func(y Member) bool { return y.ID == id }
		return slices.ContainsFunc(live, has) || slices.ContainsFunc(leaving, has)
	}
	for _, x := range append(append(slices.Clone(m.live), m.leaving...), dead...) {
		if !m.reported[x.ID] && !present(x.ID) {
			m.reported[x.ID] = true
			gone = append(gone, x)
		}
	}
	for id := range m.reported {
		if _, ok := seenNow[id]; !ok || present(id) {
			delete(m.reported, id) // its row is gone, or it is back
		}
	}
	m.live, m.leaving, m.dead = live, leaving, dead
	for id, until := range m.suspects {
		if !now.Before(until) {
			delete(m.suspects, id)
		}
	}
	m.publish(gone)
	return forget
}

// Joined reports whether the other replicas count this one in: its first
// heartbeat was written an Interval ago or more (each of them has read it
// since), and it has not left. Until then they do not forward to it.
func (m *Membership) Joined() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.left && !m.wrote.IsZero() && m.opts.Now().Sub(m.wrote) >= m.opts.Interval
}

// Suspect leaves the replica id out of this replica's view for Timeout:
// it could not be reached. This replica is never suspected.
func (m *Membership) Suspect(id string) {
	if id == m.opts.Self.ID {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.suspects[id]; ok {
		return
	}
	m.suspects[id] = m.opts.Now().Add(m.opts.Timeout)
	m.log.Warn("cluster: a replica could not be reached; its functions are served by others for now", "replica", id)
	m.publish(nil)
}

// publish swaps in the view of m.live less the suspects and tells the
// subscribers when it changed or replicas are gone. m.mu is held.
func (m *Membership) publish(gone []Member) {
	var members []Member
	for _, x := range m.live {
		if _, suspect := m.suspects[x.ID]; !suspect {
			members = append(members, x)
		}
	}
	old := m.view.Load()
	if slices.Equal(old.Members(), members) && len(gone) == 0 {
		return
	}
	nv := NewView(m.opts.Self.ID, members)
	m.view.Store(nv)
	if len(gone) > 0 {
		m.log.Info("cluster: replicas gone", "gone", len(gone), "live", len(members))
	}
	for _, f := range m.subs {
		f(Change{Old: old, New: nv, Gone: gone})
	}
}

// Leave marks this replica's row leaving, before it drains: the others
// stop forwarding to it at their next heartbeat, and the functions it
// owned are theirs; but its heartbeat goes on (Run, Beat) while it
// finishes its requests, and its instances (its Pods) are its own to
// stop until it departs or its heartbeat stops.
func (m *Membership) Leave(ctx context.Context) error {
	m.mu.Lock()
	m.left = true
	m.mu.Unlock()
	if _, err := m.db.ExecContext(ctx, `UPDATE replicas SET leaving = 1 WHERE id = $1`, m.opts.Self.ID); err != nil {
		return fmt.Errorf("cluster: leaving: %w", err)
	}
	return nil
}

// Depart deletes this replica's row, once it stopped its instances: Beat
// writes no heartbeat after it.
func (m *Membership) Depart(ctx context.Context) error {
	m.mu.Lock()
	m.left, m.departed = true, true
	m.mu.Unlock()
	if _, err := m.db.ExecContext(ctx, `DELETE FROM replicas WHERE id = $1`, m.opts.Self.ID); err != nil {
		return fmt.Errorf("cluster: departing: %w", err)
	}
	return nil
}

func compareID(a, b Member) int {
	switch {
	case a.ID < b.ID:
		return -1
	case a.ID > b.ID:
		return 1
	}
	return 0
}
