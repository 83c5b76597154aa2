package main

import (
	"context"
	"errors"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"gopkg.in/yaml.v3"

	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/plugintest"
	"github.com/ternmq/tern/sdk/plugin/scheduler"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wednesday is a Berlin Wednesday at 16:59:30, 30 s before the office closes.
var wednesday = time.Date(2026, 3, 25, 16, 59, 30, 0, mustLoad("Europe/Berlin"))

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// batch is a batch of messages and the delivery times the office config gives them.
func batch(t *testing.T) (msgs []scheduler.Message, want []int64) {
	ms := func(s string) int64 { return mustTime(t, s).UnixMilli() }
	stored := ms("2026-03-27T16:59:40+01:00") // a Friday, 20 s before closing
	for _, c := range []struct {
		m    scheduler.Message
		want string
	}{
		{scheduler.Message{StoreTimestamp: stored}, "2026-03-27T16:59:40+01:00"},                // no delay, inside
		{scheduler.Message{StoreTimestamp: stored, DelayLevel: 2}, "2026-03-27T16:59:45+01:00"}, // 5 s, inside
		{scheduler.Message{StoreTimestamp: stored, DelayLevel: 4}, "2026-03-30T09:00:00+02:00"}, // 30 s: after closing
		{scheduler.Message{StoreTimestamp: stored, DelayLevel: 99}, "2026-03-30T09:00:00+02:00"},
		{scheduler.Message{StoreTimestamp: stored, DeliverTime: ms("2026-04-02T12:00:00.123+02:00")}, "2026-04-02T12:00:00.123+02:00"},
		{scheduler.Message{StoreTimestamp: stored, DeliverTime: ms("2026-04-03T12:00:00+02:00")}, "2026-04-06T09:00:00+02:00"}, // holiday
		{scheduler.Message{StoreTimestamp: stored, DelayLevel: 3, DeliverTime: ms("2026-03-28T09:00:00+01:00")}, "2026-03-30T09:00:00+02:00"},
	} {
		c.m.Topic = "Orders"
		c.m.Properties = map[string]string{"KEYS": "order-1"}
		msgs = append(msgs, c.m)
		want = append(want, ms(c.want))
	}
	return msgs, want
}

// retries is a batch of retries and the delays the office config gives them at wednesday.
func retries() ([]scheduler.Retry, []time.Duration) {
	toOpen := 16*time.Hour + 30*time.Second // to Thursday 09:00
	r := func(times, level int32) scheduler.Retry {
		return scheduler.Retry{Group: "billing", Topic: "%RETRY%billing", ReconsumeTimes: times, MaxReconsumeTimes: 16, DelayLevel: level}
	}
	return []scheduler.Retry{r(0, 0), r(1, 0), r(2, 0), r(0, 2), r(0, 4), r(15, 0)},
		[]time.Duration{10 * time.Second, toOpen, toOpen, 5 * time.Second, toOpen, toOpen}
}

// check runs Init, Schedule and Backoff against s, built with the clock at wednesday.
func check(t *testing.T, s scheduler.Scheduler) {
	ctx := t.Context()
	info, err := s.Init(ctx, office)
	if err != nil || info != (scheduler.Info{Name: Name, Version: Version}) {
		t.Fatalf("Init = %+v, %v", info, err)
	}
	msgs, want := batch(t)
	got, err := s.Schedule(ctx, msgs)
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("Schedule = %v, %v\nwant       %v", got, err, want)
	}
	if got, err := s.Schedule(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("empty Schedule = %v, %v", got, err)
	}
	rs, wantDelays := retries()
	delays, err := s.Backoff(ctx, rs)
	if err != nil || !slices.Equal(delays, wantDelays) {
		t.Errorf("Backoff = %v, %v\nwant      %v", delays, err, wantDelays)
	}
	_, err = s.Init(ctx, map[string]any{"open": "18:00"})
	if !errors.Is(err, plugin.ErrInvalidArgument) || !strings.Contains(err.Error(), "close 17:00 is not after open 18:00") {
		t.Errorf("Init with close before open: %v", err)
	}
}

func TestInProcess(t *testing.T) {
	check(t, newScheduler(func() time.Time { return wednesday }))
}

func TestGRPC(t *testing.T) {
	impl := newScheduler(func() time.Time { return wednesday })
	check(t, plugintest.InProcess[scheduler.Scheduler](t, plugin.KindScheduler, &scheduler.Plugin{Impl: impl}))
}

func TestCanceled(t *testing.T) {
	s := newScheduler(time.Now)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Schedule(ctx, []scheduler.Message{{}}); err == nil {
		t.Error("Schedule with a canceled context succeeded")
	}
	if _, err := s.Backoff(ctx, []scheduler.Retry{{}}); err == nil {
		t.Error("Backoff with a canceled context succeeded")
	}
}

// TestProcess builds the plugin binary and runs it as the broker does, with the real clock:
// every answer must be inside a window and not before what was asked.
func TestProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the plugin binary")
	}
	bin := plugintest.Build(t, ".")
	s := plugintest.Launch[scheduler.Scheduler](t, plugin.KindScheduler, &scheduler.Plugin{}, bin)
	ctx := t.Context()
	if _, err := s.Init(ctx, office); err != nil {
		t.Fatal(err)
	}
	msgs, want := batch(t)
	got, err := s.Schedule(ctx, msgs)
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("Schedule = %v, %v\nwant       %v", got, err, want)
	}

	// Backoff counts from the real clock here, so only its bounds are known: at least the
	// level's delay (less a ms: the plugin rounds now to whole ms), at most that plus the
	// longest closed spell of the office config (23 Dec 17:00 to 28 Dec 09:00).
	rs, _ := retries()
	delays, err := s.Backoff(ctx, rs)
	if err != nil || len(delays) != len(rs) {
		t.Fatalf("Backoff = %v, %v", delays, err)
	}
	for i, d := range delays {
		level := rs[i].DelayLevel
		if level <= 0 {
			level = retryBaseLevel + rs[i].ReconsumeTimes
		}
		if lo := levelDelay(level) - time.Millisecond; d < lo || d > lo+5*24*time.Hour {
			t.Errorf("Backoff[%d] = %v, want %v or up to 5 days more", i, d, levelDelay(level))
		}
	}

	_, err = s.Init(ctx, map[string]any{"colour": "blue"})
	if !errors.Is(err, plugin.ErrInvalidArgument) || !strings.Contains(err.Error(), "colour: unknown config key") {
		t.Errorf("Init with a bad config: %v, want ErrInvalidArgument naming the key", err)
	}
}

// TestReadme checks that the manifest entry in README.md is a config Init takes.
func TestReadme(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindSubmatch(readme)
	if block == nil {
		t.Fatal("README.md has no yaml block")
	}
	var m struct {
		Plugins []struct {
			Kind   string
			Config map[string]any
		}
	}
	if err := yaml.Unmarshal(block[1], &m); err != nil || len(m.Plugins) != 1 || m.Plugins[0].Kind != "scheduler" {
		t.Fatalf("README manifest: %+v, %v", m, err)
	}
	config, err := plugin.NormalizeConfig(m.Plugins[0].Config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newScheduler(time.Now).Init(t.Context(), config); err != nil {
		t.Errorf("README config: %v", err)
	}
}
