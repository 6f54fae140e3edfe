package monitor

import (
	"context"
	"fmt"
	"time"

	"github.com/scfd/scfd/internal/errdefs"
)

// MaxPoints bounds the number of steps a query may ask for.
const MaxPoints = 2000

// StepFor is the step plotted for a range: a minute up to an hour (and a
// bit), 15 minutes up to a day, an hour beyond.
func StepFor(span time.Duration) time.Duration {
	switch {
	case span <= 2*time.Hour:
		return time.Minute
	case span <= 2*24*time.Hour:
		return 15 * time.Minute
	default:
		return time.Hour
	}
}

// Query asks for the series of one function.
type Query struct {
	Namespace, Function string // required
	Qualifier           string // one version; empty adds every version
	Start, End          time.Time
	// Step is a whole number of minutes; zero means StepFor(End - Start).
	Step time.Duration
}

// Series is the answer: Points[i] covers [Times[i], Times[i]+Step). Steps
// are aligned to multiples of Step since the Unix epoch, the first holding
// Start, the last holding the instant before End. Instances is the peak,
// within the step, of the instances of all the versions asked for.
type Series struct {
	Step   time.Duration
	Times  []time.Time
	Points []Point
}

// Query reads a series, merging the stored minutes with those still in
// memory.
func (m *Monitor) Query(ctx context.Context, q Query) (*Series, error) {
	if !q.End.After(q.Start) {
		return nil, errdefs.Invalid("EndTime", "the end of the range must be after its start")
	}
	step := q.Step
	if step == 0 {
		step = StepFor(q.End.Sub(q.Start))
	}
	if step < time.Minute || step%time.Minute != 0 {
		return nil, errdefs.Invalid("Period", "the step must be a whole number of minutes")
	}
	stepMin := int64(step / time.Minute)
	first := floorDiv(unixMinute(q.Start), stepMin) * stepMin
	last := floorDiv(ceilMinute(q.End)-1, stepMin) * stepMin // the start of the last step
	n := (last-first)/stepMin + 1
	if n > MaxPoints {
		return nil, errdefs.Invalid("Period", "the range holds %d steps; at most %d are served: choose a longer step", n, MaxPoints)
	}
	end := last + stepMin // exclusive, in minutes

	// Per minute, the versions are added up (their instances too).
	minutes := map[int64]*Point{}
	add := func(minute int64, p *Point) {
		acc := minutes[minute]
		if acc == nil {
			acc = &Point{}
			minutes[minute] = acc
		}
		inst := acc.Instances + p.Instances
		acc.merge(p)
		acc.Instances = inst
	}
	// Stored minutes and pending ones of one version are merged first, so
	// that a version's peak is not counted twice.
	perVersion := map[bucketKey]*Point{}
	rows, err := m.db.QueryContext(ctx, `SELECT qualifier, minute, invocations, errors, cold_starts, cold_ms, cold_max_ms, instances, gb_seconds, hist
		FROM monitor_minute WHERE namespace = ? AND function = ? AND minute >= ? AND minute < ? AND (? = '' OR qualifier = ?)`,
		q.Namespace, q.Function, first, end, q.Qualifier, q.Qualifier)
	if err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	for rows.Next() {
		var k bucketKey
		var p Point
		var hist []byte
		if err := rows.Scan(&k.Qualifier, &k.minute, &p.Invocations, &p.Errors, &p.ColdStarts, &p.ColdStartMs, &p.ColdStartMaxMs,
			&p.Instances, &p.GBSeconds, &hist); err != nil {
			rows.Close()
			return nil, fmt.Errorf("monitor: %w", err)
		}
		p.Durations.decode(hist)
		perVersion[k] = &p
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("monitor: %w", err)
	}
	m.mu.Lock()
	for k, p := range m.pending {
		if k.Namespace != q.Namespace || k.Function != q.Function || k.minute < first || k.minute >= end ||
			(q.Qualifier != "" && k.Qualifier != q.Qualifier) {
			continue
		}
		vk := bucketKey{Key: Key{Qualifier: k.Qualifier}, minute: k.minute}
		cp := *p
		if acc := perVersion[vk]; acc != nil {
			acc.merge(&cp)
		} else {
			perVersion[vk] = &cp
		}
	}
	m.mu.Unlock()
	for k, p := range perVersion {
		add(k.minute, p)
	}

	s := &Series{Step: step, Times: make([]time.Time, n), Points: make([]Point, n)}
	for i := range s.Times {
		s.Times[i] = time.Unix((first+int64(i)*stepMin)*60, 0).UTC()
	}
	for minute, p := range minutes {
		s.Points[(minute-first)/stepMin].merge(p)
	}
	return s, nil
}

// ceilMinute is the Unix minute at or after t.
func ceilMinute(t time.Time) int64 {
	m := unixMinute(t)
	if time.Unix(m*60, 0).Before(t) {
		m++
	}
	return m
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
