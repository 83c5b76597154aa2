package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ternmq/tern/sdk/plugin"
)

// Calendar used below (2026): Europe/Berlin goes from +01:00 to +02:00 on Sunday 29 March at
// 02:00 and back on Sunday 25 October at 03:00; America/New_York from -05:00 to -04:00 on
// Sunday 8 March at 02:00 and back on Sunday 1 November at 02:00. Friday 3 April is Good
// Friday; 24 and 25 December are a Thursday and a Friday.

// office is a Berlin office: Monday to Friday, 09:00-17:00, with holidays.
var office = map[string]any{
	"timezone": "Europe/Berlin",
	"days":     []any{"mon", "tue", "wed", "thu", "fri"},
	"open":     "09:00",
	"close":    "17:00",
	"holidays": []any{"2026-04-03", "2026-12-24", "2026-12-25"},
}

func TestNext(t *testing.T) {
	for _, tc := range []struct {
		name   string
		config map[string]any
		in     string // RFC 3339: the offset shows which side of a DST change a time is on
		want   string
	}{
		{"inside", office, "2026-03-25T10:15:30.5+01:00", "2026-03-25T10:15:30.5+01:00"},
		{"before open", office, "2026-03-25T07:00:00+01:00", "2026-03-25T09:00:00+01:00"},
		{"exactly at open", office, "2026-03-25T09:00:00+01:00", "2026-03-25T09:00:00+01:00"},
		{"just before close", office, "2026-03-25T16:59:59.999+01:00", "2026-03-25T16:59:59.999+01:00"},
		{"exactly at close", office, "2026-03-25T17:00:00+01:00", "2026-03-26T09:00:00+01:00"},
		{"after close", office, "2026-03-25T18:00:00+01:00", "2026-03-26T09:00:00+01:00"},
		{"before midnight", office, "2026-03-25T23:59:59.999+01:00", "2026-03-26T09:00:00+01:00"},
		{"given in UTC", office, "2026-03-25T07:30:00Z", "2026-03-25T09:00:00+01:00"},
		{"saturday", office, "2026-03-28T12:00:00+01:00", "2026-03-30T09:00:00+02:00"},
		{"friday night over spring forward", office, "2026-03-27T17:00:00+01:00", "2026-03-30T09:00:00+02:00"},
		{"spring forward day", office, "2026-03-29T03:30:00+02:00", "2026-03-30T09:00:00+02:00"},
		{"friday night over fall back", office, "2026-10-23T20:00:00+02:00", "2026-10-26T09:00:00+01:00"},
		{"fall back day, first 02:30", office, "2026-10-25T02:30:00+02:00", "2026-10-26T09:00:00+01:00"},
		{"holiday friday", office, "2026-04-02T17:00:00+02:00", "2026-04-06T09:00:00+02:00"},
		{"on a holiday", office, "2026-04-03T10:00:00+02:00", "2026-04-06T09:00:00+02:00"},
		{"holidays before weekend", office, "2026-12-23T18:00:00+01:00", "2026-12-28T09:00:00+01:00"},

		// A night window on Sundays: as long as the clock says, 2 hours in spring, 4 in autumn.
		{"night: before open", sundays("01:00", "04:00"), "2026-03-29T00:30:00+01:00", "2026-03-29T01:00:00+01:00"},
		{"night: last ms, spring", sundays("01:00", "04:00"), "2026-03-29T03:59:59.999+02:00", "2026-03-29T03:59:59.999+02:00"},
		{"night: close, spring", sundays("01:00", "04:00"), "2026-03-29T04:00:00+02:00", "2026-04-05T01:00:00+02:00"},
		{"night: second 02:30, autumn", sundays("01:00", "04:00"), "2026-10-25T02:30:00+01:00", "2026-10-25T02:30:00+01:00"},
		{"night: close, autumn", sundays("01:00", "04:00"), "2026-10-25T04:00:00+01:00", "2026-11-01T01:00:00+01:00"},

		// Open and close at times the clock skips or shows twice.
		{"open skipped", sundays("02:30", "03:30"), "2026-03-29T00:00:00+01:00", "2026-03-29T03:00:00+02:00"},
		{"open skipped, inside", sundays("02:30", "03:30"), "2026-03-29T03:15:00+02:00", "2026-03-29T03:15:00+02:00"},
		{"open skipped, close", sundays("02:30", "03:30"), "2026-03-29T03:30:00+02:00", "2026-04-05T02:30:00+02:00"},
		{"open twice: the first", sundays("02:30", "03:30"), "2026-10-25T01:00:00+02:00", "2026-10-25T02:30:00+02:00"},
		{"open twice, inside", sundays("02:30", "03:30"), "2026-10-25T02:45:00+01:00", "2026-10-25T02:45:00+01:00"},
		{"open skipped, New York", nySundays("02:30", "03:30"), "2026-03-08T00:00:00-05:00", "2026-03-08T03:00:00-04:00"},
		{"open twice, New York", nySundays("01:30", "03:00"), "2026-11-01T00:00:00-04:00", "2026-11-01T01:30:00-04:00"},
		{"close twice, New York", nySundays("00:30", "01:30"), "2026-11-01T01:29:00-04:00", "2026-11-01T01:29:00-04:00"},
		{"close twice, after, New York", nySundays("00:30", "01:30"), "2026-11-01T01:30:00-04:00", "2026-11-08T00:30:00-05:00"},

		{"until midnight", map[string]any{"open": "00:00", "close": "24:00"}, "2026-03-27T23:59:59.999Z", "2026-03-27T23:59:59.999Z"},
		{"until midnight, weekend", map[string]any{"open": "00:00", "close": "24:00"}, "2026-03-28T00:00:00Z", "2026-03-30T00:00:00Z"},
		{"defaults", nil, "2026-03-27T17:00:00Z", "2026-03-30T09:00:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := parseConfig(tc.config)
			if err != nil {
				t.Fatal(err)
			}
			in, want := mustTime(t, tc.in), mustTime(t, tc.want)
			if got := h.next(in); !got.Equal(want) {
				t.Errorf("next(%s) = %s, want %s", tc.in, got.In(h.loc).Format(time.RFC3339Nano), tc.want)
			}
		})
	}
}

func sundays(open, close string) map[string]any {
	return map[string]any{"timezone": "Europe/Berlin", "days": []any{"Sunday"}, "open": open, "close": close}
}

func nySundays(open, close string) map[string]any {
	return map[string]any{"timezone": "America/New_York", "days": []any{"SUN"}, "open": open, "close": close}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestParseConfig(t *testing.T) {
	h, err := parseConfig(office)
	if err != nil {
		t.Fatal(err)
	}
	if h.loc.String() != "Europe/Berlin" || h.open != 9*60 || h.close != 17*60 || len(h.holidays) != 3 ||
		h.days != [7]bool{false, true, true, true, true, true, false} {
		t.Errorf("parsed %+v", h)
	}

	for _, tc := range []struct {
		name   string
		config map[string]any
		want   string // in the error
	}{
		{"unknown key", map[string]any{"colour": "blue"}, "colour: unknown config key (known: close, days, holidays, open, timezone)"},
		{"unknown zone", map[string]any{"timezone": "Mars/Olympus"}, "timezone: unknown time zone Mars/Olympus"},
		{"zone not a string", map[string]any{"timezone": 1}, "timezone: want an IANA time zone name"},
		{"local zone", map[string]any{"timezone": "Local"}, "timezone: want an IANA time zone name"},
		{"days not a list", map[string]any{"days": "mon-fri"}, "days: want a list of days like [mon, tue, wed, thu, fri], not mon-fri"},
		{"no days", map[string]any{"days": []any{}}, "days: want a list of days"},
		{"bad day", map[string]any{"days": []any{"mon", "fry"}}, "days: fry is not a day"},
		{"day not a string", map[string]any{"days": []any{1}}, "days: 1 is not a day"},
		{"open not a time", map[string]any{"open": "9am"}, `open: want a 24-hour time like "09:00" (quoted in YAML), not 9am`},
		{"open a number", map[string]any{"open": 540}, "open: want a 24-hour time"},
		{"open 24:00", map[string]any{"open": "24:00"}, "open: want a 24-hour time"},
		{"close 25:00", map[string]any{"close": "25:00"}, "close: want a 24-hour time"},
		{"close before open", map[string]any{"open": "18:00"}, "close 17:00 is not after open 18:00"},
		{"close at open", map[string]any{"open": "10:00", "close": "10:00"}, "close 10:00 is not after open 10:00"},
		{"holidays not a list", map[string]any{"holidays": "2026-12-25"}, "holidays: want a list of dates"},
		{"bad holiday", map[string]any{"holidays": []any{"2026-12-25", "25.12.2026"}}, `holidays: 25.12.2026 is not a date like "2026-12-25"`},
		{"holiday out of range", map[string]any{"holidays": []any{"2026-02-30"}}, "holidays: 2026-02-30 is not a date"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig(tc.config)
			if !errors.Is(err, plugin.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want ErrInvalidArgument containing %q", err, tc.want)
			}
		})
	}
}

func TestLevelDelay(t *testing.T) {
	for level, want := range map[int32]time.Duration{
		-1: time.Second, 0: time.Second, 1: time.Second, 3: 10 * time.Second, 5: time.Minute,
		16: 30 * time.Minute, 18: 2 * time.Hour, 19: 2 * time.Hour, 1000: 2 * time.Hour,
	} {
		if got := levelDelay(level); got != want {
			t.Errorf("levelDelay(%d) = %v, want %v", level, got, want)
		}
	}
}
