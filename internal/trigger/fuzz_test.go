package trigger

import (
	"errors"
	"testing"
	"time"

	"github.com/scfd/scfd/internal/errdefs"
)

// FuzzParseCron checks that no timer expression makes ParseCron panic or
// fail without a class, and that an accepted one re-parses to itself and
// fires strictly later, within the years it allows.
func FuzzParseCron(f *testing.F) {
	for _, s := range []string{
		"0 */5 * * * * *", "*/10 * * * *", "0 0 12 ? * MON-FRI *", "0 30 9 1,15 * ? 2026-2030",
		"0 0 0 L * ? *", "59 59 23 31 12 ? 2099", "0 0 0 * * 7 *", "0 0 0 ? * 5#3 *", "a b c d e f g", "1-2/0 * * * * * *",
	} {
		f.Add(s)
	}
	from := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, desc string) {
		s, err := ParseCron(desc)
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("ParseCron(%q) = %v, want ErrInvalidArgument", desc, err)
			}
			return
		}
		again, err := ParseCron(s.Fields)
		if err != nil || again.Fields != s.Fields {
			t.Fatalf("%q parsed to %q, which re-parses to %q, %v", desc, s.Fields, again.Fields, err)
		}
		next := s.Next(from)
		if !next.IsZero() && (!next.After(from) || next.Year() > 2099) {
			t.Fatalf("%q: next fire after %v is %v", desc, from, next)
		}
	})
}
