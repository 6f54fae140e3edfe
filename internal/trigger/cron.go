package trigger

import (
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/cronexpr"

	"github.com/scfd/scfd/internal/errdefs"
)

// Schedule is a parsed timer expression.
type Schedule struct {
	expr *cronexpr.Expression
	// Fields is the expression in SCF's 7-field form.
	Fields string
}

// Next returns the first fire time strictly after t, in t's location, or
// the zero time when there is none (a year range that has passed).
func (s Schedule) Next(t time.Time) time.Time { return s.expr.Next(t) }

// Latest returns the last fire time at or before now, given first, a fire
// time at or before now: first itself when no other fire time falls
// between them. It takes steps back from now of growing length rather
// than every fire time since first, so that a per-second timer after a
// week of downtime costs a few dozen steps.
func (s Schedule) Latest(first, now time.Time) time.Time {
	at := first
	for d := time.Second; now.Add(-d).After(first); d *= 2 {
		if x := s.expr.Next(now.Add(-d)); !x.IsZero() && !x.After(now) {
			at = x
			break
		}
	}
	for {
		n := s.expr.Next(at)
		if n.IsZero() || n.After(now) {
			return at
		}
		at = n
	}
}

// ParseCron reads SCF's timer expression: the recommended 7 fields
// (second minute hour day-of-month month day-of-week year) or the legacy 5
// (minute hour day-of-month month day-of-week, meaning second 0 and every
// year). Fields take numbers, '*', '?', ranges (1-5), lists (1,3), steps
// (*/5, 10-40/10), month names (JAN-DEC) and day names (SUN-SAT, 0 is
// Sunday); years run from 1970 to 2099. When both day-of-month and
// day-of-week are restricted, a day matching either fires (SCF ORs them).
// The expression is parsed by github.com/hashicorp/cronexpr.
func ParseCron(desc string) (Schedule, error) {
	fields := strings.Fields(desc)
	switch len(fields) {
	case 7:
	case 5:
		fields = append(append([]string{"0"}, fields...), "*")
	default:
		return Schedule{}, errdefs.Invalid("TriggerDesc", "timer expression %q has %d fields: use 7 (second minute hour day month weekday year) or 5 (minute hour day month weekday)", desc, len(fields))
	}
	if err := checkYear(fields[6]); err != nil {
		return Schedule{}, errdefs.Invalid("TriggerDesc", "timer expression %q: %v", desc, err)
	}
	joined := strings.Join(fields, " ")
	expr, err := cronexpr.Parse(joined)
	if err != nil {
		return Schedule{}, errdefs.Invalid("TriggerDesc", "timer expression %q is invalid: %v", desc, err)
	}
	return Schedule{expr: expr, Fields: joined}, nil
}

// checkYear refuses years outside 1970 to 2099, which the library would
// otherwise accept silently.
func checkYear(f string) error {
	for _, part := range strings.Split(f, ",") {
		part, _, _ = strings.Cut(part, "/")
		for _, y := range strings.Split(part, "-") {
			if y == "*" || y == "?" {
				continue
			}
			n, err := strconv.Atoi(y)
			if err != nil || n < 1970 || n > 2099 {
				return errdefs.Invalid("TriggerDesc", "year %q is not between 1970 and 2099", y)
			}
		}
	}
	return nil
}
