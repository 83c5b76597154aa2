package filter

import (
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ternmq/tern/plugins/proto/pluginv1"
	"github.com/ternmq/tern/sdk/plugin/internal/shim"
)

// wire sends m through the protobuf wire format into a fresh message of the same type.
func wire[M proto.Message](t *testing.T, m M) M {
	t.Helper()
	raw, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	out := m.ProtoReflect().New().Interface().(M)
	if err := proto.Unmarshal(raw, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestConvertRoundTrip(t *testing.T) {
	infos := []Info{
		{},
		{Name: "cel", Version: "1.2.3", ExpressionTypes: []string{"CEL", "SQL92"}, NeedsBody: true},
	}
	for _, in := range infos {
		if got := infoFromProto(wire(t, infoToProto(in))); !reflect.DeepEqual(got, in) {
			t.Errorf("Info round trip: got %+v, want %+v", got, in)
		}
	}
	subs := []Subscription{{}, {Group: "g", Topic: "t", ExpressionType: "TAG", Expression: "a || b"}}
	for _, in := range subs {
		if got := subFromProto(wire(t, subToProto(in))); got != in {
			t.Errorf("Subscription round trip: got %+v, want %+v", got, in)
		}
	}
	msgs := []Message{
		{}, // every field zero: slices and maps stay nil
		{
			Topic: "t", QueueID: 3, QueueOffset: 1 << 40, Tags: []string{"a", "b"}, Keys: []string{"k"},
			Properties: map[string]string{"TAGS": "a||b", "é": "\x00"}, BornTimestamp: -1, StoreTimestamp: 1 << 50,
			ReconsumeTimes: 16, Body: []byte{0, 1, 2, 0xff},
		},
	}
	req := &pluginv1.MatchRequest{Subscription: subToProto(subs[1]), Messages: shim.ToProto(msgs, messageToProto)}
	back := wire(t, req)
	if got := shim.FromProto(back.GetMessages(), messageFromProto); !reflect.DeepEqual(got, msgs) {
		t.Errorf("Message round trip:\n got  %#v\n want %#v", got, msgs)
	}
	if got := subFromProto(back.GetSubscription()); got != subs[1] {
		t.Errorf("MatchRequest subscription: got %+v", got)
	}
	// Empty batches are nil on both sides.
	if shim.ToProto([]Message{}, messageToProto) != nil || shim.FromProto[pluginv1.Message, Message](nil, messageFromProto) != nil {
		t.Error("empty batch did not convert to nil")
	}
}
