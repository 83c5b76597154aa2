package election

import (
	"slices"
	"testing"
)

func TestCoalesce(t *testing.T) {
	L := func(id int64) Event { return Event{Kind: EventLeader, Leader: Leader{BrokerID: id}} }
	N := Event{Kind: EventNoLeader}
	E := Event{Kind: EventElected, Leader: Leader{Epoch: 1}}
	D := Event{Kind: EventDeposed, Leader: Leader{Epoch: 1}}
	for _, tc := range []struct {
		name    string
		in, out []Event
	}{
		{"empty", nil, nil},
		{"one state", []Event{L(1)}, []Event{L(1)}},
		{"state run", []Event{L(1), N, L(2)}, []Event{L(2)}},
		{"elected and deposed kept", []Event{L(1), N, E, D, N, L(2), L(3)}, []Event{N, E, D, L(3)}},
		{"deposed kept between states", []Event{D, D, N, L(1)}, []Event{D, D, L(1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := coalesce(slices.Clone(tc.in)); !slices.Equal(got, tc.out) {
				t.Fatalf("coalesce(%v) = %v, want %v", tc.in, got, tc.out)
			}
		})
	}
}

// TestEventsOverflow: an unread channel never blocks the sender; state events merge, Elected
// and Deposed stay in order, and free reports the room the campaign rule needs.
func TestEventsOverflow(t *testing.T) {
	q := newEvents()
	for i := range 3 * changesCap {
		if !q.emit(Event{Kind: EventLeader, Leader: Leader{BrokerID: int64(i)}}) {
			t.Fatalf("state event %d lost", i)
		}
	}
	if f := q.free(); f < campaignRoom {
		t.Fatalf("free = %d after merging state events", f)
	}
	var want []Event
	for epoch := int64(1); q.free() >= campaignRoom; epoch++ {
		for _, ev := range []Event{
			{Kind: EventElected, Leader: Leader{Epoch: epoch}},
			{Kind: EventDeposed, Leader: Leader{Epoch: epoch}},
			{Kind: EventNoLeader, Leader: Leader{Epoch: epoch}},
			{Kind: EventLeader, Leader: Leader{BrokerID: 9, Epoch: epoch + 100}},
		} {
			if !q.emit(ev) {
				t.Fatalf("%v lost", ev)
			}
		}
		want = append(want, Event{Kind: EventElected, Leader: Leader{Epoch: epoch}}, Event{Kind: EventDeposed, Leader: Leader{Epoch: epoch}})
	}
	q.close()
	var got []Event
	for ev := range q.ch {
		if !ev.state() {
			got = append(got, ev)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("elected/deposed events %v, want %v", got, want)
	}
	if q.emit(Event{Kind: EventNoLeader}) {
		t.Fatal("emit after close succeeded")
	}
}
