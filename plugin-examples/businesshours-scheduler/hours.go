package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/ternmq/tern/sdk/plugin"
)

// hours is a parsed config: the business-hours windows. It is immutable once built.
//
// A window is one open local date: it starts at the first instant the local clock shows open
// (inclusive) and ends at the first instant it shows close (exclusive). On a day when daylight
// saving time starts or ends the window is as long as the clock says, so 09:00-17:00 is 8
// hours of wall time whatever the offset. A time the clock skips (02:30 when it jumps from
// 02:00 to 03:00) means the instant of the jump; a time it shows twice means the first.
type hours struct {
	loc         *time.Location
	days        [7]bool // indexed by time.Weekday
	open, close int     // minutes after local midnight; close may be 24*60
	holidays    map[date]bool
}

// date is a local calendar date.
type date struct {
	year  int
	month time.Month
	day   int
}

// knownKeys lists the config keys, for the error about an unknown one.
const knownKeys = "close, days, holidays, open, timezone"

// defaultHours is the config an empty config block means: Monday to Friday, 09:00-17:00 UTC.
func defaultHours() *hours {
	return &hours{
		loc:   time.UTC,
		days:  [7]bool{time.Monday: true, time.Tuesday: true, time.Wednesday: true, time.Thursday: true, time.Friday: true},
		open:  9 * 60,
		close: 17 * 60,
	}
}

// parseConfig reads the manifest's config block (see README.md). Errors wrap
// plugin.ErrInvalidArgument and name the key.
func parseConfig(config map[string]any) (*hours, error) {
	h := defaultHours()
	for _, k := range slices.Sorted(maps.Keys(config)) {
		if err := h.set(k, config[k]); err != nil {
			return nil, fmt.Errorf("%w: businesshours: %s: %v", plugin.ErrInvalidArgument, k, err)
		}
	}
	if h.close <= h.open {
		return nil, fmt.Errorf("%w: businesshours: close %s is not after open %s",
			plugin.ErrInvalidArgument, clock(h.close), clock(h.open))
	}
	return h, nil
}

func (h *hours) set(key string, v any) error {
	var err error
	switch key {
	case "timezone":
		s, ok := v.(string)
		if !ok || s == "" || s == "Local" {
			return fmt.Errorf("want an IANA time zone name like \"Europe/Berlin\", not %v", v)
		}
		h.loc, err = time.LoadLocation(s)
	case "days":
		h.days, err = parseDays(v)
	case "open":
		h.open, err = parseClock(v, false)
	case "close":
		h.close, err = parseClock(v, true)
	case "holidays":
		h.holidays, err = parseHolidays(v)
	default:
		return fmt.Errorf("unknown config key (known: %s)", knownKeys)
	}
	return err
}

func parseDays(v any) ([7]bool, error) {
	var days [7]bool
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		return days, fmt.Errorf("want a list of days like [mon, tue, wed, thu, fri], not %v", v)
	}
	for _, e := range list {
		s, _ := e.(string)
		s = strings.ToLower(s)
		found := false
		for wd := range time.Weekday(7) {
			name := strings.ToLower(wd.String())
			if s != "" && (s == name || s == name[:3]) {
				days[wd], found = true, true
			}
		}
		if !found {
			return days, fmt.Errorf("%v is not a day (mon, tue, wed, thu, fri, sat, sun)", e)
		}
	}
	return days, nil
}

// parseClock reads "HH:MM" (24-hour) as minutes after midnight; "24:00" only if endOfDay.
func parseClock(v any, endOfDay bool) (int, error) {
	s, _ := v.(string)
	if endOfDay && s == "24:00" {
		return 24 * 60, nil
	}
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("want a 24-hour time like \"09:00\" (quoted in YAML), not %v", v)
	}
	return t.Hour()*60 + t.Minute(), nil
}

func parseHolidays(v any) (map[date]bool, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("want a list of dates like [\"2026-12-25\"], not %v", v)
	}
	out := make(map[date]bool, len(list))
	for _, e := range list {
		s, _ := e.(string)
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return nil, fmt.Errorf("%v is not a date like \"2026-12-25\"", e)
		}
		out[dateOf(t)] = true
	}
	return out, nil
}

func clock(minutes int) string { return fmt.Sprintf("%02d:%02d", minutes/60, minutes%60) }

func dateOf(t time.Time) date {
	y, m, d := t.Date()
	return date{y, m, d}
}

// next returns the earliest instant at or after t that is inside a window: t itself if it is
// inside one. It is a pure function of h and t.
func (h *hours) next(t time.Time) time.Time {
	y, m, d := t.In(h.loc).Date()
	// Some weekday is open (parseConfig sees to it), so every week has an open day unless
	// holidays close it; a DST change can empty at most one day's window a year.
	for i := range 7 * (len(h.holidays) + 2) {
		day := time.Date(y, m, d+i, 0, 0, 0, 0, time.UTC) // calendar arithmetic only
		if !h.days[day.Weekday()] || h.holidays[dateOf(day)] {
			continue
		}
		open, close := h.at(day, h.open), h.at(day, h.close)
		if !open.Before(close) || !t.Before(close) {
			continue
		}
		if t.Before(open) {
			return open
		}
		return t
	}
	return t // not reached
}

// at returns the first instant at which the clock in h.loc shows minutes after midnight of
// day (a date in UTC) or later.
func (h *hours) at(day time.Time, minutes int) time.Time {
	want := day.Add(time.Duration(minutes) * time.Minute) // the wall time, written in UTC
	t := time.Date(want.Year(), want.Month(), want.Day(), want.Hour(), want.Minute(), 0, 0, h.loc)
	// time.Date resolves a wall time that a DST change skips or repeats to either offset,
	// without saying which; pin the answer down.
	start, end := t.ZoneBounds()
	switch wall := wallClock(t); {
	case wall.After(want): // skipped, and t is after the jump: the jump is when the zone began
		return start
	case wall.Before(want): // skipped, and t is before the jump
		return end
	}
	if start.IsZero() {
		return t
	}
	// Shown twice: if the previous offset shows it too, that was earlier.
	_, off := t.Zone()
	_, prevOff := start.Add(-time.Nanosecond).Zone()
	if earlier := t.Add(time.Duration(off-prevOff) * time.Second); earlier.Before(start) && earlier.Before(t) {
		return earlier
	}
	return t
}

// wallClock returns t's local date and clock as the same reading in UTC.
func wallClock(t time.Time) time.Time {
	y, mo, d := t.Date()
	hh, mi, s := t.Clock()
	return time.Date(y, mo, d, hh, mi, s, t.Nanosecond(), time.UTC)
}
