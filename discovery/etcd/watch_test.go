package etcd

import (
	"reflect"
	"testing"

	"github.com/ternmq/tern/sdk/plugin/discovery"
)

func TestSubscriber(t *testing.T) {
	s := &subscriber{topicPrefix: "A", notify: make(chan struct{}, 1)}
	b := discovery.Event{Type: discovery.EventBrokerRegistered, Broker: discovery.BrokerKey{BrokerName: "x"}}
	s.push([]discovery.Event{b, topicEv("Apple"), topicEv("Banana")}, false)
	evs, reset := s.take()
	if reset || !reflect.DeepEqual(evs, []discovery.Event{b, topicEv("Apple")}) {
		t.Fatalf("take = %v, %v; want the broker event and Apple", evs, reset)
	}
	if evs, reset := s.take(); reset || len(evs) != 0 {
		t.Fatalf("second take = %v, %v; want nothing", evs, reset)
	}

	// Overflow: the queue is dropped for one reset, and what follows the reset is dropped
	// too until it is taken (the reader re-reads everything).
	many := make([]discovery.Event, watchBuffer+1)
	for i := range many {
		many[i] = topicEv("A")
	}
	s.push(many[:watchBuffer], false)
	s.push(many[watchBuffer:], false)
	s.push([]discovery.Event{topicEv("After")}, false)
	if evs, reset := s.take(); !reset || evs != nil {
		t.Fatalf("after overflow take = %d events, %v; want a reset alone", len(evs), reset)
	}
	select {
	case <-s.notify:
	default:
		t.Fatal("no notification pending")
	}

	s.push(nil, true)
	if _, reset := s.take(); !reset {
		t.Fatal("a pushed reset was not taken")
	}
}
