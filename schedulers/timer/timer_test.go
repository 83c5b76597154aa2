package timer

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/ternmq/tern/sdk/plugin/scheduler"
)

func TestTimer(t *testing.T) {
	tm := New()
	info, err := tm.Init(context.Background(), map[string]any{"messageDelayLevel": "1s 2s"})
	if err != nil || info.Name != Name {
		t.Fatalf("Init = %+v, %v", info, err)
	}
	got, err := tm.Schedule(context.Background(), []scheduler.Message{
		{StoreTimestamp: 1000, DeliverTime: 123456}, {StoreTimestamp: 1000, DelayLevel: 2}, {StoreTimestamp: 1000, DelayLevel: 9}, {StoreTimestamp: 1000},
	})
	if err != nil || !slices.Equal(got, []int64{123456, 3000, 3000, scheduler.DeliverNow}) {
		t.Fatalf("Schedule = %v, %v", got, err)
	}
	d, err := tm.Backoff(context.Background(), []scheduler.Retry{{ReconsumeTimes: 0}, {DelayLevel: 1}})
	if err != nil || !slices.Equal(d, []time.Duration{2 * time.Second, time.Second}) {
		t.Fatalf("Backoff = %v, %v", d, err)
	}
	if _, err := tm.Init(context.Background(), map[string]any{"bogus": 1}); err == nil {
		t.Fatal("Init accepted an unknown key")
	}
}
