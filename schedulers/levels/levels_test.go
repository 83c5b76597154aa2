package levels

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/plugintest"
	"github.com/ternmq/tern/sdk/plugin/scheduler"
)

func TestSchedule(t *testing.T) {
	l := New()
	if _, err := l.Init(context.Background(), map[string]any{"messageDelayLevel": "1s 5s 10s"}); err != nil {
		t.Fatal(err)
	}
	got, err := l.Schedule(context.Background(), []scheduler.Message{
		{StoreTimestamp: 1000, DelayLevel: 1},
		{StoreTimestamp: 1000, DelayLevel: 3},
		{StoreTimestamp: 1000, DelayLevel: 99}, // past the last level: the last
		{StoreTimestamp: 1000, DeliverTime: 123456},
		{StoreTimestamp: 1000},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{2000, 11000, 11000, 123456, scheduler.DeliverNow}; !slices.Equal(got, want) {
		t.Fatalf("Schedule = %v, want %v", got, want)
	}
}

func TestBackoff(t *testing.T) {
	l := New() // RocketMQ's 18 levels: level 3 is 10s, 4 is 30s, 18 is 2h
	got, err := l.Backoff(context.Background(), []scheduler.Retry{
		{ReconsumeTimes: 0}, {ReconsumeTimes: 1}, {ReconsumeTimes: 40}, {DelayLevel: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []time.Duration{10 * time.Second, 30 * time.Second, 2 * time.Hour, time.Second}; !slices.Equal(got, want) {
		t.Fatalf("Backoff = %v, want %v", got, want)
	}
}

func TestInitRefusesBadConfig(t *testing.T) {
	for name, cfg := range map[string]map[string]any{
		"bad delay":   {"messageDelayLevel": "1x"},
		"not string":  {"messageDelayLevel": 5},
		"unknown key": {"levels": "1s"},
	} {
		if _, err := New().Init(context.Background(), cfg); !errors.Is(err, plugin.ErrInvalidArgument) {
			t.Errorf("%s: Init = %v, want plugin.ErrInvalidArgument", name, err)
		}
	}
}

func TestCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := New().Schedule(ctx, []scheduler.Message{{}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Schedule with a cancelled ctx = %v", err)
	}
}

// TestOutOfProcess: the built-in run as `tern plugin serve levels` answers as it does in
// process.
func TestOutOfProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the tern binary")
	}
	tern := plugintest.Build(t, "github.com/ternmq/tern/cmd/tern")
	s, err := plugintest.Start[scheduler.Scheduler](t, plugin.KindScheduler, &scheduler.Plugin{}, exec.Command(tern, "plugin", "serve", "levels"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := s.Init(context.Background(), map[string]any{"messageDelayLevel": "1s 5s"}); err != nil || info.Name != Name {
		t.Fatalf("Init = %+v, %v", info, err)
	}
	got, err := s.Schedule(context.Background(), []scheduler.Message{{StoreTimestamp: 1000, DelayLevel: 2}})
	if err != nil || !slices.Equal(got, []int64{6000}) {
		t.Fatalf("Schedule = %v, %v", got, err)
	}
	back, err := s.Backoff(context.Background(), []scheduler.Retry{{ReconsumeTimes: 0}})
	if err != nil || !slices.Equal(back, []time.Duration{5 * time.Second}) {
		t.Fatalf("Backoff = %v, %v", back, err)
	}
}
