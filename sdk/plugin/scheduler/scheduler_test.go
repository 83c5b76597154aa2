package scheduler_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/plugintest"
	"github.com/ternmq/tern/sdk/plugin/scheduler"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// levels delays level L by L seconds after the store time, honours a requested time, and
// backs off retries by (reconsume times + 1) seconds. Group "bad" is refused, group "short"
// gets one result too few.
type levels struct{}

func (levels) Init(_ context.Context, config map[string]any) (scheduler.Info, error) {
	return scheduler.Info{Name: "levels", Version: fmt.Sprint(config["version"])}, nil
}

func (levels) Schedule(ctx context.Context, msgs []scheduler.Message) ([]int64, error) {
	out := make([]int64, len(msgs))
	for i, m := range msgs {
		switch {
		case m.DeliverTime > 0:
			out[i] = m.DeliverTime
		case m.DelayLevel > 0:
			out[i] = m.StoreTimestamp + int64(m.DelayLevel)*1000
		default:
			out[i] = scheduler.DeliverNow
		}
	}
	return out, ctx.Err()
}

func (levels) Backoff(ctx context.Context, retries []scheduler.Retry) ([]time.Duration, error) {
	out := make([]time.Duration, len(retries))
	for i, r := range retries {
		switch r.Group {
		case "bad":
			return nil, fmt.Errorf("%w: group %q has no retry policy", plugin.ErrInvalidArgument, r.Group)
		case "short":
			return out[:0], nil
		}
		out[i] = time.Duration(r.ReconsumeTimes+1) * time.Second
	}
	return out, ctx.Err()
}

func TestGRPC(t *testing.T) {
	for _, form := range []struct {
		name string
		s    func(t *testing.T) scheduler.Scheduler
	}{
		{"InProcess", func(*testing.T) scheduler.Scheduler { return levels{} }},
		{"GRPC", func(t *testing.T) scheduler.Scheduler {
			return plugintest.InProcess[scheduler.Scheduler](t, plugin.KindScheduler, &scheduler.Plugin{Impl: levels{}})
		}},
	} {
		t.Run(form.name, func(t *testing.T) {
			s := form.s(t)
			ctx := t.Context()
			info, err := s.Init(ctx, map[string]any{"version": "2"})
			if err != nil || info != (scheduler.Info{Name: "levels", Version: "2"}) {
				t.Errorf("Init = %+v, %v", info, err)
			}
			times, err := s.Schedule(ctx, []scheduler.Message{
				{Topic: "t", StoreTimestamp: 10_000, DelayLevel: 3},
				{Topic: "t", DeliverTime: 99_000},
				{Topic: "t"},
			})
			if want := []int64{13_000, 99_000, scheduler.DeliverNow}; err != nil || !slices.Equal(times, want) {
				t.Errorf("Schedule = %v, %v; want %v", times, err, want)
			}
			delays, err := s.Backoff(ctx, []scheduler.Retry{{Group: "g", ReconsumeTimes: 0}, {Group: "g", ReconsumeTimes: 4}})
			if want := []time.Duration{time.Second, 5 * time.Second}; err != nil || !slices.Equal(delays, want) {
				t.Errorf("Backoff = %v, %v; want %v", delays, err, want)
			}
			if got, err := s.Schedule(ctx, nil); err != nil || len(got) != 0 {
				t.Errorf("empty Schedule = %v, %v", got, err)
			}
			_, err = s.Backoff(ctx, []scheduler.Retry{{Group: "bad"}})
			if !errors.Is(err, plugin.ErrInvalidArgument) || !strings.Contains(err.Error(), `group "bad" has no retry policy`) {
				t.Errorf("Backoff of a bad group: %v", err)
			}
		})
	}
}

func TestGRPCShortAnswer(t *testing.T) {
	s := plugintest.InProcess[scheduler.Scheduler](t, plugin.KindScheduler, &scheduler.Plugin{Impl: levels{}})
	_, err := s.Backoff(t.Context(), []scheduler.Retry{{Group: "short"}})
	if !errors.Is(err, plugin.ErrInternal) {
		t.Errorf("short answer: %v, want ErrInternal", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Schedule(ctx, []scheduler.Message{{}}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Schedule: %v", err)
	}
}
