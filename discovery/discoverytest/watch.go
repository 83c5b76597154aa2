package discoverytest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/ternmq/tern/sdk/plugin/discovery"
)

// watcher runs a Watch in a goroutine and hands its events to the test.
type watcher struct {
	events chan discovery.Event
	done   chan struct{} // closed when Watch has returned err
	err    error
	cancel context.CancelFunc
	once   sync.Once
}

func startWatch(t *testing.T, d discovery.Discovery, topicPrefix string) *watcher {
	ctx, cancel := context.WithCancel(ctxOf(t))
	w := &watcher{events: make(chan discovery.Event, 64), done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(w.done)
		w.err = d.Watch(ctx, topicPrefix, func(ev discovery.Event) error {
			select {
			case w.events <- ev:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	t.Cleanup(func() { w.stop(t) })
	return w
}

// stop cancels the watch, waits for it and checks it returned ctx's error. It may be called
// twice.
func (w *watcher) stop(t *testing.T) {
	w.cancel()
	<-w.done
	w.once.Do(func() {
		if !errors.Is(w.err, context.Canceled) {
			t.Errorf("Watch returned %v after its ctx was canceled, want context.Canceled", w.err)
		}
	})
}

// next returns the next event.
func (w *watcher) next(t *testing.T) discovery.Event {
	t.Helper()
	select {
	case ev := <-w.events:
		return ev
	case <-w.done:
		t.Fatalf("Watch returned early: %v", w.err)
	case <-t.Context().Done():
	}
	t.Fatal("test ended waiting for an event")
	return discovery.Event{}
}

// expect reads events until every wanted one was seen, failing on an event bad reports. A
// RESET stands for every event still wanted: a backend may send it instead of events.
func (w *watcher) expect(t *testing.T, bad func(discovery.Event) error, want ...discovery.Event) {
	t.Helper()
	pending := make(map[discovery.Event]bool, len(want))
	for _, ev := range want {
		pending[ev] = true
	}
	for len(pending) > 0 {
		ev := w.next(t)
		if ev.Type == discovery.EventReset {
			t.Logf("RESET while waiting for %v", pending)
			return
		}
		if err := bad(ev); err != nil {
			t.Fatal(err)
		}
		delete(pending, ev)
	}
}

func testWatchEvents(t *testing.T, h Harness) {
	if !h.SupportsWatch {
		t.Skip("the backend does not watch")
	}
	ctx := ctxOf(t)
	w := startWatch(t, h.D, "Watch")
	if ev := w.next(t); ev.Type != discovery.EventReset {
		t.Fatalf("first event %+v, want RESET", ev)
	}
	noOther := func(ev discovery.Event) error {
		if !ev.Type.Valid() {
			return fmt.Errorf("event of invalid type %v", ev.Type)
		}
		if ev.Type == discovery.EventTopic && ev.Topic == "Other" {
			return errors.New(`topic event for "Other", outside the watch's topic prefix "Watch"`)
		}
		return nil
	}

	// Registered in this order, so the second's events come after the first's.
	a, b := master("broker-a", addrA), master("broker-b", addrB)
	register(t, h.D, reg(a, 1, topic("Other", 4)))
	register(t, h.D, reg(b, 1, topic("WatchOrders", 4)))
	w.expect(t, noOther,
		discovery.Event{Type: discovery.EventBrokerRegistered, Broker: a},
		discovery.Event{Type: discovery.EventBrokerRegistered, Broker: b},
		discovery.Event{Type: discovery.EventTopic, Topic: "WatchOrders"})

	// A route change.
	register(t, h.D, reg(b, 2, topic("WatchOrders", 8)))
	w.expect(t, noOther, discovery.Event{Type: discovery.EventTopic, Topic: "WatchOrders"})

	if err := h.D.Unregister(ctx, b); err != nil {
		t.Fatalf("Unregister: %v", err)
	}
	w.expect(t, noOther,
		discovery.Event{Type: discovery.EventBrokerUnregistered, Broker: b},
		discovery.Event{Type: discovery.EventTopic, Topic: "WatchOrders"})
}

func testWatchEnds(t *testing.T, h Harness) {
	if !h.SupportsWatch {
		t.Skip("the backend does not watch")
	}
	errStop := errors.New("discoverytest: stop")
	var first discovery.Event
	err := h.D.Watch(ctxOf(t), "", func(ev discovery.Event) error {
		first = ev
		return errStop
	})
	if !errors.Is(err, errStop) {
		t.Errorf("Watch whose send fails returned %v, want send's error", err)
	}
	if first.Type != discovery.EventReset {
		t.Errorf("first event %+v, want RESET", first)
	}

	w := startWatch(t, h.D, "")
	if ev := w.next(t); ev.Type != discovery.EventReset {
		t.Fatalf("first event %+v, want RESET", ev)
	}
	w.stop(t)
}
