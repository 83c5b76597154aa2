package scheduler

import (
	"math"
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ternmq/tern/plugins/proto/pluginv1"
	"github.com/ternmq/tern/sdk/plugin/internal/shim"
)

func TestConvertRoundTrip(t *testing.T) {
	msgs := []Message{
		{},
		{Topic: "t", Properties: map[string]string{"DELAY": "3"}, BornTimestamp: 1, StoreTimestamp: 2, DelayLevel: 3, DeliverTime: 1 << 45},
	}
	raw, err := proto.Marshal(&pluginv1.ScheduleRequest{Messages: shim.ToProto(msgs, messageToProto)})
	if err != nil {
		t.Fatal(err)
	}
	var req pluginv1.ScheduleRequest
	if err := proto.Unmarshal(raw, &req); err != nil {
		t.Fatal(err)
	}
	if got := shim.FromProto(req.GetMessages(), messageFromProto); !reflect.DeepEqual(got, msgs) {
		t.Errorf("messages: got %#v, want %#v", got, msgs)
	}

	retries := []Retry{{}, {Group: "g", Topic: "%RETRY%g", ReconsumeTimes: 2, MaxReconsumeTimes: 16, DelayLevel: -1}}
	raw, err = proto.Marshal(&pluginv1.BackoffRequest{Retries: shim.ToProto(retries, retryToProto)})
	if err != nil {
		t.Fatal(err)
	}
	var breq pluginv1.BackoffRequest
	if err := proto.Unmarshal(raw, &breq); err != nil {
		t.Fatal(err)
	}
	if got := shim.FromProto(breq.GetRetries(), retryFromProto); !reflect.DeepEqual(got, retries) {
		t.Errorf("retries: got %#v, want %#v", got, retries)
	}
}

func TestDurations(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		ms   int64
		back time.Duration
	}{
		{0, 0, 0},
		{1500 * time.Microsecond, 1, time.Millisecond}, // truncated to whole ms
		{-time.Second, 0, 0},                           // negative: at once
		{time.Hour, 3_600_000, time.Hour},
		{math.MaxInt64, maxMillis, time.Duration(maxMillis) * time.Millisecond},
	} {
		ms := durationsToMillis([]time.Duration{tc.in})
		if ms[0] != tc.ms {
			t.Errorf("%v → %d ms, want %d", tc.in, ms[0], tc.ms)
		}
		if back := millisToDurations(ms); back[0] != tc.back {
			t.Errorf("%d ms → %v, want %v", ms[0], back[0], tc.back)
		}
	}
	if got := millisToDurations([]int64{-5, math.MaxInt64}); got[0] != 0 || got[1] != time.Duration(maxMillis)*time.Millisecond {
		t.Errorf("clamping: %v", got)
	}
}
