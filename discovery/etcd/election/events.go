package election

import "fmt"

// EventKind says what an Event tells.
type EventKind uint8

// The kinds of events.
const (
	// EventElected: this replica won; Event.Leader is its leadership, Event.Leader.Epoch its
	// fencing token.
	EventElected EventKind = iota + 1
	// EventLeader: another replica leads (Event.Leader), or the leader changed.
	EventLeader
	// EventDeposed: this replica held the leadership in Event.Leader and lost it (its lease
	// expired or was revoked, it could not keep it alive, its key was deleted or replaced, it
	// resigned, or Run ended). The broker must stop taking writes at once.
	EventDeposed
	// EventNoLeader: the leader key (Event.Leader's) vanished.
	EventNoLeader
)

func (k EventKind) String() string {
	switch k {
	case EventElected:
		return "elected"
	case EventLeader:
		return "leader"
	case EventDeposed:
		return "deposed"
	case EventNoLeader:
		return "no_leader"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is a change of the group's leadership, as this replica sees it.
type Event struct {
	Kind   EventKind
	Leader Leader
}

// state reports whether e only tells the group's state (EventLeader, EventNoLeader): such
// events may be merged into the next one.
func (e Event) state() bool { return e.Kind == EventLeader || e.Kind == EventNoLeader }

// changesCap is the capacity of the Changes channel.
const changesCap = 16

// campaignRoom is the free slots of the Changes channel (after merging) an Elector needs to
// campaign: its Elected, its Deposed and one state event after them.
const campaignRoom = 4

// coalesce merges every run of consecutive state events of q into the run's last, in place.
func coalesce(q []Event) []Event {
	out := q[:0]
	for _, ev := range q {
		if n := len(out); n > 0 && ev.state() && out[n-1].state() {
			out[n-1] = ev
			continue
		}
		out = append(out, ev)
	}
	return out
}

// events is the Changes channel and what sends on it. Its methods are called with Elector.mu
// held, so there is one sender at a time; the receiver only takes events out.
type events struct {
	ch     chan Event
	closed bool
}

func newEvents() events { return events{ch: make(chan Event, changesCap)} }

// emit sends ev without blocking; when the channel is full it merges the state events it
// holds first (see coalesce). By the campaign rule (free) there is then room.
func (q *events) emit(ev Event) bool {
	if q.closed {
		return false
	}
	select {
	case q.ch <- ev:
		return true
	default:
	}
	q.compact(ev)
	select {
	case q.ch <- ev:
		return true
	default:
		return false // cannot happen while the campaign rule holds
	}
}

// compact takes the unread events out, merges their state events (and ev's predecessor, if ev
// is a state event), and puts them back.
func (q *events) compact(next Event) {
	held := make([]Event, 0, changesCap+1)
	for len(held) < changesCap {
		select {
		case ev := <-q.ch:
			held = append(held, ev)
			continue
		default:
		}
		break
	}
	held = coalesce(held)
	if n := len(held); n > 0 && next.state() && held[n-1].state() {
		held = held[:n-1] // next replaces it
	}
	for _, ev := range held {
		q.ch <- ev // there is room: only this sender adds, and held came out of the channel
	}
}

// free returns the free slots of the channel, merging its state events first if that makes
// fewer than campaignRoom free.
func (q *events) free() int {
	if f := cap(q.ch) - len(q.ch); f >= campaignRoom {
		return f
	}
	q.compact(Event{})
	return cap(q.ch) - len(q.ch)
}

// close closes the channel; later events are dropped.
func (q *events) close() {
	if !q.closed {
		q.closed = true
		close(q.ch)
	}
}
