package trigger

import (
	"testing"
	"time"
)

func TestParseCronNextFire(t *testing.T) {
	// Friday 2026-11-27 10:00:00 UTC.
	from := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		expr string
		want []string // the next fire times after from, RFC 3339
	}{
		{"*/5 * * * * * *", []string{"2026-11-27T10:00:05Z", "2026-11-27T10:00:10Z", "2026-11-27T10:00:15Z"}},
		{"*/2 * * * * ? *", []string{"2026-11-27T10:00:02Z", "2026-11-27T10:00:04Z"}},
		{"0 15 10 * * MON-FRI *", []string{"2026-11-27T10:15:00Z", "2026-11-30T10:15:00Z", "2026-12-01T10:15:00Z"}},
		{"0 */30 9-17 * * * *", []string{"2026-11-27T10:30:00Z", "2026-11-27T11:00:00Z"}},
		{"0 0 12 1,15 * ? *", []string{"2026-12-01T12:00:00Z", "2026-12-15T12:00:00Z", "2027-01-01T12:00:00Z"}},
		{"0 0 0 1 JAN ? *", []string{"2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"}},
		{"0 0 8 ? * SUN *", []string{"2026-11-29T08:00:00Z", "2026-12-06T08:00:00Z"}},
		{"0 0 8 ? * 0 *", []string{"2026-11-29T08:00:00Z"}},
		{"0 0 0 * * * 2027", []string{"2027-01-01T00:00:00Z", "2027-01-02T00:00:00Z"}},
		{"0 0 0 1 1 ? 2028-2030/2", []string{"2028-01-01T00:00:00Z", "2030-01-01T00:00:00Z", ""}},
		// Day of month and day of week both restricted: either matches.
		{"0 0 6 1 * MON *", []string{"2026-11-30T06:00:00Z", "2026-12-01T06:00:00Z", "2026-12-07T06:00:00Z"}},
		// Legacy 5 fields: minute hour day month weekday.
		{"30 10 * * *", []string{"2026-11-27T10:30:00Z", "2026-11-28T10:30:00Z"}},
		{"*/15 * * * *", []string{"2026-11-27T10:15:00Z", "2026-11-27T10:30:00Z"}},
		{"10-40/10 10 * * *", []string{"2026-11-27T10:10:00Z", "2026-11-27T10:20:00Z", "2026-11-27T10:30:00Z", "2026-11-27T10:40:00Z", "2026-11-28T10:10:00Z"}},
	} {
		s, err := ParseCron(tc.expr)
		if err != nil {
			t.Errorf("ParseCron(%q): %v", tc.expr, err)
			continue
		}
		at := from
		for i, want := range tc.want {
			at = s.Next(at)
			got := ""
			if !at.IsZero() {
				got = at.Format(time.RFC3339)
			}
			if got != want {
				t.Errorf("%q: fire %d = %s, want %s", tc.expr, i+1, got, want)
				break
			}
			if at.IsZero() {
				break
			}
		}
	}
}

func TestParseCronRefusesBadExpressions(t *testing.T) {
	for _, expr := range []string{
		"",
		"* * * * * *",       // 6 fields
		"* * * * * * * *",   // 8 fields
		"61 * * * * * *",    // second out of range
		"0 0 25 * * * *",    // hour out of range
		"0 0 0 32 * * *",    // day out of range
		"0 0 0 * 13 * *",    // month out of range
		"0 0 0 * * 8 *",     // weekday out of range
		"0 0 0 * * * 1969",  // year out of range
		"0 0 0 * * * 2100",  // year out of range
		"0 0 0 * * * soon",  // not a year
		"every day at noon", // not an expression
	} {
		if _, err := ParseCron(expr); err == nil {
			t.Errorf("ParseCron(%q) accepted", expr)
		}
	}
}

func TestScheduleKeepsTheLocation(t *testing.T) {
	shanghai := time.FixedZone("CST", 8*3600)
	s, err := ParseCron("0 0 9 * * * *")
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 11, 27, 10, 0, 0, 0, shanghai)
	if got, want := s.Next(from), time.Date(2026, 11, 28, 9, 0, 0, 0, shanghai); !got.Equal(want) {
		t.Errorf("Next in UTC+8 = %v, want %v", got, want)
	}
}

// Latest is the fire time a timer makes up after downtime: the last one
// at or before now, found without walking every fire time since.
func TestScheduleLatest(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		expr, first, now, want string
	}{
		{"*/2 * * * * * *", "2026-11-27T10:00:02Z", "2026-11-27T10:00:02Z", "2026-11-27T10:00:02Z"},
		{"*/2 * * * * * *", "2026-11-27T10:00:02Z", "2026-11-27T10:00:03Z", "2026-11-27T10:00:02Z"},
		{"*/2 * * * * * *", "2026-11-27T10:00:02Z", "2026-11-27T10:01:01Z", "2026-11-27T10:01:00Z"},
		{"* * * * * * *", "2026-11-20T10:00:00Z", "2026-11-27T10:00:00Z", "2026-11-27T10:00:00Z"},
		{"0 15 10 * * MON-FRI *", "2026-11-27T10:15:00Z", "2026-11-30T10:14:59Z", "2026-11-27T10:15:00Z"},
		{"0 15 10 * * MON-FRI *", "2026-11-27T10:15:00Z", "2026-12-02T23:00:00Z", "2026-12-02T10:15:00Z"},
		// Every second of one minute a day: the step back lands in the
		// burst.
		{"* 0 0 * * * *", "2026-11-27T00:00:00Z", "2026-11-28T12:00:00Z", "2026-11-28T00:00:59Z"},
	} {
		s, err := ParseCron(tc.expr)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Latest(at(tc.first), at(tc.now)); !got.Equal(at(tc.want)) {
			t.Errorf("%q from %s at %s: %s, want %s", tc.expr, tc.first, tc.now, got.Format(time.RFC3339), tc.want)
		}
	}
}

func BenchmarkLatestAfterAWeek(b *testing.B) {
	s, _ := ParseCron("* * * * * * *")
	first := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	now := first.Add(7 * 24 * time.Hour)
	for b.Loop() {
		s.Latest(first, now)
	}
}
