package discovery

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ternmq/tern/plugins/proto/pluginv1"
	"github.com/ternmq/tern/sdk/plugin"
)

// wire sends m through the protobuf wire format.
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

var master = BrokerKey{Cluster: "c", BrokerName: "b", BrokerID: 0, Address: "10.0.0.1:10911"}

func TestConvertRoundTrip(t *testing.T) {
	for _, reg := range []Registration{
		{},
		{
			Broker: master, HAAddress: "10.0.0.1:10912",
			Topics: []TopicConfig{
				{Name: "a", ReadQueueNums: 8, WriteQueueNums: 4, Perm: 6, TopicSysFlag: 1, Order: true},
				{Name: "b"},
			},
			DataVersion: DataVersion{Counter: 7, Timestamp: 1_700_000_000_000},
			TTL:         2 * time.Minute,
		},
	} {
		if got := registrationFromProto(wire(t, registrationToProto(reg))); !reflect.DeepEqual(got, reg) {
			t.Errorf("Registration:\n got  %#v\n want %#v", got, reg)
		}
	}
	for _, r := range []Route{
		{},
		{
			OrderTopicConf: "b:4",
			Queues:         []QueueData{{BrokerName: "b", ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6, TopicSysFlag: 2}},
			Brokers:        []BrokerData{{Cluster: "c", BrokerName: "b", Addresses: map[int64]string{0: "m:1", 1: "s:1"}}, {BrokerName: "x"}},
		},
	} {
		if got := routeFromProto(wire(t, routeToProto(r))); !reflect.DeepEqual(got, r) {
			t.Errorf("Route:\n got  %#v\n want %#v", got, r)
		}
	}
	for _, ci := range []ClusterInfo{
		{},
		{
			Brokers:  map[string]BrokerData{"b": {Cluster: "c", BrokerName: "b", Addresses: map[int64]string{0: "m:1"}}},
			Clusters: map[string][]string{"c": {"b", "b2"}, "empty": nil},
		},
	} {
		if got := clusterInfoFromProto(wire(t, clusterInfoToProto(ci))); !reflect.DeepEqual(got, ci) {
			t.Errorf("ClusterInfo:\n got  %#v\n want %#v", got, ci)
		}
	}
	for _, e := range []Event{
		{Type: EventReset},
		{Type: EventTopic, Topic: "t"},
		{Type: EventBrokerRegistered, Broker: master},
		{Type: EventBrokerUnregistered, Broker: master},
	} {
		p, err := eventToProto(e)
		if err != nil {
			t.Fatal(err)
		}
		if p.GetType().String() != "EVENT_TYPE_"+e.Type.String() {
			t.Errorf("%v went on the wire as %v", e.Type, p.GetType())
		}
		if got, err := eventFromProto(wire(t, p)); err != nil || got != e {
			t.Errorf("Event: got %+v, %v; want %+v", got, err, e)
		}
	}
}

func TestEventTypes(t *testing.T) {
	if _, err := eventToProto(Event{}); !errors.Is(err, plugin.ErrInternal) {
		t.Errorf("zero event type: %v", err)
	}
	if _, err := eventFromProto(&pluginv1.Event{}); !errors.Is(err, plugin.ErrInternal) {
		t.Errorf("UNSPECIFIED: %v", err)
	}
	// An event type from a newer plugin is a reset, which is always safe.
	if got, err := eventFromProto(&pluginv1.Event{Type: 99, Topic: "t"}); err != nil || got != (Event{Type: EventReset}) {
		t.Errorf("future event = %+v, %v", got, err)
	}
	if got := registrationFromProto(&pluginv1.Registration{TtlMs: -1}); got.TTL != 0 {
		t.Errorf("negative TTL = %v", got.TTL)
	}
}
