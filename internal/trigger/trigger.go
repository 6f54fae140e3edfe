// Package trigger keeps a function's triggers and fires them: timers on
// their cron schedule, through the asynchronous queue (so a failed fire is
// retried like any async event), and API gateway triggers, which turn an
// HTTP request on the gateway into SCF's API gateway event and the
// function's integration response back into HTTP.
//
// Triggers live in the store's database (owner "trigger") and
// survive restarts. Each timer remembers when it last fired; after
// downtime a timer whose fire times passed fires once, at start, for the
// latest missed time, and then keeps its schedule: missed fires are never
// replayed as a storm.
//
// Several Services (scfd replicas) may share one database: each reads
// the timers again every Options.Refresh, so it fires those another
// replica created, and every replica fires every timer. A fire is queued
// with a request id derived from the trigger and the scheduled time
// (FireID), so the first replica's Enqueue of a time stores the event and
// the others' find it there (errdefs.ErrAlreadyExists): each scheduled
// time is queued once, and the claim of a time is the stored event
// itself, so no replica can claim a time and die before queueing it.
package trigger

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/scfd/scfd/internal/errdefs"
	"github.com/scfd/scfd/internal/invocation"
	"github.com/scfd/scfd/internal/scf"
)

// Migrator is what the service needs of the database; *store.Store has it.
type Migrator interface {
	DB() *sql.DB
	Migrate(ctx context.Context, owner string, migrations []string) error
}

// Functions finds function versions; *store.Store has it.
type Functions interface {
	GetFunction(ctx context.Context, ns, name, version string) (*scf.Function, error)
}

// Aliases finds a function's aliases; *store.Store has it.
type Aliases interface {
	GetAlias(ctx context.Context, ns, function, name string) (*scf.Alias, error)
}

// Queue takes asynchronous invocations; *async.Queue has it.
type Queue interface {
	Enqueue(ctx context.Context, req invocation.Request) (string, error)
}

// Options configure a Service. DB, Functions and Queue are required.
type Options struct {
	DB        Migrator
	Functions Functions
	Queue     Queue
	// Aliases checks that an alias a trigger is bound to exists; nil:
	// only versions and $DEFAULT.
	Aliases invocation.Aliases
	// Location is the time zone of timer expressions; nil means UTC.
	Location *time.Location
	// GatewayURL is the gateway's base URL, for the endpoint of API
	// gateway triggers, such as "http://127.0.0.1:9200".
	GatewayURL string
	// Refresh is how often the timers are read again from the database,
	// to fire those created, changed or deleted by other replicas. Zero
	// means DefaultRefresh.
	Refresh time.Duration
	// Now and After are the clock; nil means time.Now and time.After.
	Now    func() time.Time
	After  func(time.Duration) <-chan time.Time
	Logger *slog.Logger
	// Authorize checks a request to a function URL of AuthType CAM: it
	// must be signed (TC3-HMAC-SHA256, as the SCF API) by a key allowed
	// on namespace. body is the whole request body. Nil refuses every
	// such request.
	Authorize func(r *http.Request, body []byte, namespace string) error
}

// DefaultRefresh is Options.Refresh's default.
const DefaultRefresh = 10 * time.Second

var migrations = []string{
	`CREATE TABLE triggers (
		namespace TEXT NOT NULL,
		function  TEXT NOT NULL,
		name      TEXT NOT NULL,
		type      TEXT NOT NULL,
		add_time  INTEGER NOT NULL,
		mod_time  INTEGER NOT NULL,
		last_fire INTEGER NOT NULL,
		doc       TEXT NOT NULL,
		PRIMARY KEY (namespace, function, name)
	);`,
	// 2: when a timer last fired (last_fire is when its schedule counts
	// from) and why that fire did not run.
	`ALTER TABLE triggers ADD COLUMN last_run INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE triggers ADD COLUMN last_error TEXT NOT NULL DEFAULT '';`,
}

// Service keeps triggers and runs the timers. It is safe for concurrent
// use.
type Service struct {
	opts Options
	db   *sql.DB
	log  *slog.Logger
	wake chan struct{}

	mu     sync.Mutex
	timers map[key]*timer
}

type key struct{ namespace, function, name string }

type timer struct {
	trigger  *scf.Trigger
	mod      int64 // the row's mod_time this timer was armed from
	schedule Schedule
	next     time.Time // zero: never again
}

// Open creates the trigger tables if needed and loads the timers.
func Open(ctx context.Context, opts Options) (*Service, error) {
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.After == nil {
		opts.After = time.After
	}
	if opts.Refresh <= 0 {
		opts.Refresh = DefaultRefresh
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := opts.DB.Migrate(ctx, "trigger", migrations); err != nil {
		return nil, err
	}
	s := &Service{opts: opts, db: opts.DB.DB(), log: opts.Logger, wake: make(chan struct{}, 1), timers: map[key]*timer{}}
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// load reads the timers from the database: it arms those it does not
// know or that changed since it armed them (from their last fire), and
// drops those deleted.
func (s *Service) load(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `SELECT namespace, function, name, doc, last_fire, mod_time FROM triggers WHERE type = $1`, scf.TriggerTimer)
	if err != nil {
		return fmt.Errorf("trigger: loading timers: %w", err)
	}
	defer rows.Close()
	seen := map[key]bool{}
	for rows.Next() {
		var k key
		var doc string
		var last, mod int64
		if err := rows.Scan(&k.namespace, &k.function, &k.name, &doc, &last, &mod); err != nil {
			return fmt.Errorf("trigger: loading timers: %w", err)
		}
		seen[k] = true
		s.mu.Lock()
		cur := s.timers[k]
		s.mu.Unlock()
		if cur != nil && cur.mod == mod {
			continue
		}
		t, err := decode(doc)
		if err != nil {
			return err
		}
		s.schedule(t, time.Unix(0, last), mod)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("trigger: loading timers: %w", err)
	}
	s.mu.Lock()
	for k := range s.timers {
		if !seen[k] {
			delete(s.timers, k)
		}
	}
	s.mu.Unlock()
	return nil
}

// schedule (re)arms a timer whose previous fire was at last, from the row
// of mod_time mod. Callers hold no lock.
func (s *Service) schedule(t *scf.Trigger, last time.Time, mod int64) {
	k := key{t.Namespace, t.Function, t.Name}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.timers, k)
	if t.Type != scf.TriggerTimer || !t.Enabled {
		return
	}
	sched, err := ParseCron(t.Desc)
	if err != nil {
		s.log.Warn("trigger: unreadable timer expression", "trigger", t.Name, "err", err)
		return
	}
	s.timers[k] = &timer{trigger: t, mod: mod, schedule: sched, next: sched.Next(last.In(s.opts.Location))}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run fires the timers, and reads them again every Options.Refresh,
// until ctx is cancelled.
func (s *Service) Run(ctx context.Context) {
	refresh := s.opts.Now().Add(s.opts.Refresh)
	for {
		at := refresh
		if next := s.earliest(); !next.IsZero() && next.Before(at) {
			at = next
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-s.opts.After(at.Sub(s.opts.Now())):
			if now := s.opts.Now(); !now.Before(refresh) {
				if err := s.load(ctx); err != nil && ctx.Err() == nil {
					s.log.Warn("trigger: reading the timers", "err", err)
				}
				refresh = now.Add(s.opts.Refresh)
			}
			s.fireDue(ctx)
		}
	}
}

func (s *Service) earliest() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	var min time.Time
	for _, t := range s.timers {
		if !t.next.IsZero() && (min.IsZero() || t.next.Before(min)) {
			min = t.next
		}
	}
	return min
}

type fire struct {
	trigger *scf.Trigger
	mod     int64
	at      time.Time
}

// fireDue fires every timer whose time has come, once each, for the
// latest of its times that passed, and moves it to its next time after
// now.
func (s *Service) fireDue(ctx context.Context) {
	now := s.opts.Now().In(s.opts.Location)
	var due []fire
	s.mu.Lock()
	for _, t := range s.timers {
		if t.next.IsZero() || t.next.After(now) {
			continue
		}
		due = append(due, fire{t.trigger, t.mod, t.schedule.Latest(t.next, now)})
		t.next = t.schedule.Next(now)
	}
	s.mu.Unlock()
	sort.Slice(due, func(i, j int) bool { return due[i].at.Before(due[j].at) })
	for _, f := range due {
		s.fire(ctx, f)
	}
}

// TimerEvent is the event a timer sends, as SCF defines it.
type TimerEvent struct {
	Type        string
	TriggerName string
	Time        string // the scheduled fire time, UTC, RFC 3339
	Message     string
}

// fire queues a timer's event, unless its qualifier cannot run or
// another replica queued it, and records the fire and why it did not run.
// A timer deleted or changed by another replica since it was armed does
// not fire: the timers are read again.
func (s *Service) fire(ctx context.Context, f fire) {
	t := f.trigger
	var mod, last int64
	err := s.db.QueryRowContext(ctx, `SELECT mod_time, last_fire FROM triggers WHERE namespace = $1 AND function = $2 AND name = $3`,
		t.Namespace, t.Function, t.Name).Scan(&mod, &last)
	switch {
	case errors.Is(err, sql.ErrNoRows) || err == nil && mod != f.mod:
		if err := s.load(ctx); err != nil {
			s.log.Warn("trigger: reading the timers", "err", err)
		}
		return
	case err != nil:
		s.log.Warn("trigger: reading a timer", "trigger", t.Name, "err", err)
		return
	case last >= f.at.UnixNano():
		return // another replica fired this time
	}
	err = s.runnable(ctx, t)
	if err == nil {
		event, _ := json.Marshal(TimerEvent{Type: "Timer", TriggerName: t.Name, Time: f.at.UTC().Format(time.RFC3339), Message: t.CustomArgument})
		_, err = s.opts.Queue.Enqueue(ctx, invocation.Request{
			Namespace: t.Namespace, Function: t.Function, Qualifier: t.Qualifier,
			Event: event, TriggerSrc: "timer", Async: true, RequestID: FireID(t, f.at),
		})
		if errors.Is(err, errdefs.ErrAlreadyExists) {
			return // another replica fired this time, and records it
		}
	}
	lastErr := ""
	if err != nil {
		s.log.Warn("trigger: timer fire not queued", "namespace", t.Namespace, "function", t.Function, "trigger", t.Name, "err", err)
		lastErr = errdefs.Message(err, "the event could not be queued")
	}
	_, err = s.db.ExecContext(ctx, `UPDATE triggers SET last_fire = $1, last_run = $2, last_error = $3
		WHERE namespace = $4 AND function = $5 AND name = $6 AND mod_time = $7 AND last_fire < $8`,
		f.at.UnixNano(), f.at.UnixNano(), lastErr, t.Namespace, t.Function, t.Name, f.mod, f.at.UnixNano())
	if err != nil {
		s.log.Warn("trigger: recording a fire", "trigger", t.Name, "err", err)
	}
}

// fireIDs is the UUID namespace of FireID.
var fireIDs = uuid.MustParse("6f1d7c2e-3b0a-5c8e-9d4f-2a6b8e0c1f35")

// FireID is the request id of the fire of timer t scheduled at at: the
// same on every replica (a version 5 UUID of the trigger, its creation
// time and at), so that the event of one scheduled time is stored once.
func FireID(t *scf.Trigger, at time.Time) string {
	name := t.Namespace + "\x00" + t.Function + "\x00" + t.Name + "\x00" +
		strconv.FormatInt(t.AddTime.UnixNano(), 10) + "\x00" + strconv.FormatInt(at.UnixNano(), 10)
	return uuid.NewSHA1(fireIDs, []byte(name)).String()
}

// runnable tells whether t's qualifier can run now, as InvokeFunction
// runs it: a version that exists and is Active, or an alias whose
// version is ($DEFAULT without such an alias means $LATEST). A timer
// cannot run an HTTP function.
func (s *Service) runnable(ctx context.Context, t *scf.Trigger) error {
	version := invocation.ResolveQualifier(t.Qualifier)
	if !scf.IsVersion(version) {
		var a *scf.Alias
		err := errdefs.NotFound("Alias", "alias %q does not exist", version)
		if s.opts.Aliases != nil {
			a, err = s.opts.Aliases.GetAlias(ctx, t.Namespace, t.Function, version)
		}
		switch {
		case err == nil:
			version = a.FunctionVersion
		case version == scf.DefaultAlias && errors.Is(err, errdefs.ErrNotFound):
			version = scf.Latest
		case errors.Is(err, errdefs.ErrNotFound):
			return errdefs.NotFound("Alias", "alias %s does not exist", t.Qualifier)
		default:
			return err
		}
	}
	fn, err := s.opts.Functions.GetFunction(ctx, t.Namespace, t.Function, version)
	if errors.Is(err, errdefs.ErrNotFound) {
		return errdefs.NotFound("Version", "version %s does not exist", version)
	}
	if err != nil {
		return err
	}
	if fn.Status != scf.StatusActive {
		return errdefs.New(errdefs.ErrFailedPrecondition, "FunctionStatus", "version %s is %s, not Active", version, fn.Status)
	}
	if t.Type == scf.TriggerTimer && fn.Type == scf.TypeHTTP {
		return errdefs.Invalid("Type", "a timer cannot invoke an HTTP function")
	}
	return nil
}

// State tells whether t can run, when it last fired and will fire next.
func (s *Service) State(ctx context.Context, t *scf.Trigger) (scf.TriggerState, error) {
	var st scf.TriggerState
	var last int64
	err := s.db.QueryRowContext(ctx, `SELECT last_run, last_error FROM triggers WHERE namespace = ? AND function = ? AND name = ?`,
		t.Namespace, t.Function, t.Name).Scan(&last, &st.LastError)
	if errors.Is(err, sql.ErrNoRows) {
		return st, errdefs.NotFound("Trigger", "trigger %q of function %q not found", t.Name, t.Function)
	}
	if err != nil {
		return st, fmt.Errorf("trigger: reading the state of %q: %w", t.Name, err)
	}
	if last != 0 {
		st.LastRun = time.Unix(0, last)
	}
	s.mu.Lock()
	if tm := s.timers[key{t.Namespace, t.Function, t.Name}]; tm != nil {
		st.NextRun = tm.next
	}
	s.mu.Unlock()
	if err := s.runnable(ctx, t); err != nil {
		st.Reason = errdefs.Message(err, "its qualifier could not be checked")
	} else {
		st.Available = true
	}
	return st, nil
}

// Create stores a new trigger, fills its defaults (Qualifier $LATEST;
// for an API gateway trigger, Desc is its endpoint) and arms a timer.
func (s *Service) Create(ctx context.Context, t *scf.Trigger) error {
	if err := s.check(ctx, t); err != nil {
		return err
	}
	now := s.opts.Now()
	t.AddTime, t.ModTime = now.UTC(), now.UTC()
	doc, _ := json.Marshal(t)
	_, err := s.db.ExecContext(ctx, `INSERT INTO triggers (namespace, function, name, type, add_time, mod_time, last_fire, doc)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, t.Namespace, t.Function, t.Name, t.Type, now.UnixNano(), now.UnixNano(), now.UnixNano(), string(doc))
	if err != nil {
		if _, gerr := s.Get(ctx, t.Namespace, t.Function, t.Name); gerr == nil {
			return errdefs.New(errdefs.ErrAlreadyExists, "Trigger", "trigger %q of function %q already exists", t.Name, t.Function)
		}
		return fmt.Errorf("trigger: storing %q: %w", t.Name, err)
	}
	s.schedule(t, now, now.UnixNano())
	return nil
}

// check validates a trigger and fills its defaults.
func (s *Service) check(ctx context.Context, t *scf.Trigger) error {
	if err := scf.ValidateTriggerName(t.Name); err != nil {
		return err
	}
	if t.Qualifier == "" {
		t.Qualifier = scf.Latest
	}
	fn, err := s.opts.Functions.GetFunction(ctx, t.Namespace, t.Function, scf.Latest)
	if err != nil {
		return err
	}
	if !scf.IsVersion(t.Qualifier) && scf.ValidateAliasName(t.Qualifier) != nil {
		return errdefs.Invalid("Qualifier", "Qualifier %q is neither a version nor an alias", t.Qualifier)
	}
	q := invocation.Qualifiers{Functions: s.opts.Functions, Aliases: s.opts.Aliases}
	if _, err := q.Function(ctx, t.Namespace, t.Function, t.Qualifier, nil); err != nil {
		return err
	}
	switch t.Type {
	case scf.TriggerTimer:
		if _, err := ParseCron(t.Desc); err != nil {
			return err
		}
		if len(t.CustomArgument) > scf.MaxCustomArgument {
			return errdefs.Invalid("CustomArgument", "CustomArgument is longer than %d bytes", scf.MaxCustomArgument)
		}
	case scf.TriggerAPIGW:
		if fn.Type != scf.TypeEvent {
			return errdefs.Invalid("Type", "an apigw trigger is for event functions; HTTP functions are served by the gateway directly")
		}
		if t.CustomArgument != "" {
			return errdefs.Invalid("CustomArgument", "CustomArgument is for timer triggers only")
		}
		t.Desc = s.Endpoint(t)
	case scf.TriggerHTTP:
		if t.CustomArgument != "" {
			return errdefs.Invalid("CustomArgument", "CustomArgument is for timer triggers only")
		}
		d, err := ParseURLDesc(t.Desc)
		if err != nil {
			return err
		}
		if d.AuthType == AuthCAM && fn.Type == scf.TypeHTTP {
			return errdefs.Invalid("TriggerDesc", "AuthType CAM is for event functions: a web function is served openly on the gateway at /%s/%s/ anyway", t.Namespace, t.Function)
		}
		d.URL = s.URL(t)
		t.Desc = d.String()
	case "":
		return errdefs.New(errdefs.ErrMissingParameter, "Type", "the trigger Type is required")
	default:
		return errdefs.Invalid("Type", "trigger type %q is not supported: use timer, apigw or http", t.Type)
	}
	return nil
}

// APIGWPrefix is the path segment of API gateway triggers on the gateway:
// /{namespace}/{function}/apigw/{trigger}/...
const APIGWPrefix = "apigw"

// Endpoint is the gateway URL of an API gateway trigger.
func (s *Service) Endpoint(t *scf.Trigger) string {
	return fmt.Sprintf("%s/%s/%s/%s/%s/", s.opts.GatewayURL, t.Namespace, t.Function, APIGWPrefix, t.Name)
}

// Update changes a trigger's expression, qualifier, argument, description
// and state; update may change any of them. The timer is re-armed from
// now.
func (s *Service) Update(ctx context.Context, ns, function, name string, update func(*scf.Trigger) error) (*scf.Trigger, error) {
	t, err := s.Get(ctx, ns, function, name)
	if err != nil {
		return nil, err
	}
	orig := *t
	if err := update(t); err != nil {
		return nil, err
	}
	t.Namespace, t.Function, t.Name, t.Type, t.AddTime = orig.Namespace, orig.Function, orig.Name, orig.Type, orig.AddTime
	if err := s.check(ctx, t); err != nil {
		return nil, err
	}
	now := s.opts.Now()
	t.ModTime = now.UTC()
	doc, _ := json.Marshal(t)
	_, err = s.db.ExecContext(ctx, `UPDATE triggers SET mod_time = ?, last_fire = ?, doc = ? WHERE namespace = ? AND function = ? AND name = ?`,
		now.UnixNano(), now.UnixNano(), string(doc), ns, function, name)
	if err != nil {
		return nil, fmt.Errorf("trigger: updating %q: %w", name, err)
	}
	s.schedule(t, now, now.UnixNano())
	return t, nil
}

// Get returns one trigger.
func (s *Service) Get(ctx context.Context, ns, function, name string) (*scf.Trigger, error) {
	var doc string
	err := s.db.QueryRowContext(ctx, `SELECT doc FROM triggers WHERE namespace = ? AND function = ? AND name = ?`, ns, function, name).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errdefs.NotFound("Trigger", "trigger %q of function %q not found", name, function)
	}
	if err != nil {
		return nil, fmt.Errorf("trigger: reading %q: %w", name, err)
	}
	return decode(doc)
}

// List returns a function's triggers, oldest first.
func (s *Service) List(ctx context.Context, ns, function string) ([]*scf.Trigger, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT doc FROM triggers WHERE namespace = ? AND function = ? ORDER BY add_time, name`, ns, function)
	if err != nil {
		return nil, fmt.Errorf("trigger: listing: %w", err)
	}
	defer rows.Close()
	var out []*scf.Trigger
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return nil, fmt.Errorf("trigger: listing: %w", err)
		}
		t, err := decode(doc)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// Delete removes one trigger.
func (s *Service) Delete(ctx context.Context, ns, function, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM triggers WHERE namespace = ? AND function = ? AND name = ?`, ns, function, name)
	if err != nil {
		return fmt.Errorf("trigger: deleting %q: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errdefs.NotFound("Trigger", "trigger %q of function %q not found", name, function)
	}
	s.mu.Lock()
	delete(s.timers, key{ns, function, name})
	s.mu.Unlock()
	return nil
}

// Forget removes every trigger of a deleted function.
func (s *Service) Forget(ctx context.Context, ns, function string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM triggers WHERE namespace = ? AND function = ?`, ns, function); err != nil {
		return fmt.Errorf("trigger: deleting the triggers of %q: %w", function, err)
	}
	s.mu.Lock()
	for k := range s.timers {
		if k.namespace == ns && k.function == function {
			delete(s.timers, k)
		}
	}
	s.mu.Unlock()
	return nil
}

func decode(doc string) (*scf.Trigger, error) {
	t := new(scf.Trigger)
	if err := json.Unmarshal([]byte(doc), t); err != nil {
		return nil, fmt.Errorf("trigger: decoding: %w", err)
	}
	return t, nil
}
