package etcd

import (
	"context"
	"strings"
	"sync"

	"github.com/ternmq/tern/sdk/plugin/discovery"
)

// watchBuffer is how many events a Watch holds for a slow send. When more come, it drops them
// all and sends one EventReset instead.
const watchBuffer = 1024

// subscriber is one Watch's bounded queue of events from the cache's change feed.
type subscriber struct {
	topicPrefix string
	notify      chan struct{} // capacity 1: something is queued

	mu    sync.Mutex
	queue []discovery.Event
	reset bool // events were dropped, or the cache was read again
}

// push queues the events that pass the topic prefix, or with reset (or on overflow) drops the
// queue for a reset. It never blocks.
func (s *subscriber) push(evs []discovery.Event, reset bool) {
	s.mu.Lock()
	for _, ev := range evs {
		if reset || s.reset {
			break
		}
		if ev.Type == discovery.EventTopic && !strings.HasPrefix(ev.Topic, s.topicPrefix) {
			continue
		}
		if len(s.queue) == watchBuffer {
			reset = true
			break
		}
		s.queue = append(s.queue, ev)
	}
	if reset {
		s.reset, s.queue = true, nil
	}
	pending := s.reset || len(s.queue) > 0
	s.mu.Unlock()
	if pending {
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
}

// take returns what is queued: a reset replaces any events.
func (s *subscriber) take() (evs []discovery.Event, reset bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	evs, reset = s.queue, s.reset
	s.queue, s.reset = nil, false
	if reset {
		evs = nil
	}
	return evs, reset
}

// publishLocked hands a table change to every watcher. b.tmu is held, so watchers see the
// changes in revision order.
func (b *Backend) publishLocked(evs []discovery.Event, reset bool) {
	if len(evs) == 0 && !reset {
		return
	}
	b.subsMu.Lock()
	defer b.subsMu.Unlock()
	for s := range b.subs {
		s.push(evs, reset)
	}
}

// Watch calls send with EventReset, then with each change the cache applies: broker events,
// then the topics whose route changed (topic events only for topics starting with
// topicPrefix). It holds up to 1024 events for a slow send, then drops them and sends one
// EventReset. It returns ctx.Err() when ctx ends, send's error, or ErrClosed when the backend
// closes. While etcd is unreachable nothing changes, so nothing is sent; when the cache is
// read again after a failed watch, EventReset is sent.
func (b *Backend) Watch(ctx context.Context, topicPrefix string, send func(discovery.Event) error) error {
	if _, err := b.client(); err != nil {
		return err
	}
	s := &subscriber{topicPrefix: topicPrefix, notify: make(chan struct{}, 1)}
	b.tmu.RLock() // subscribe between two table changes
	b.subsMu.Lock()
	b.subs[s] = struct{}{}
	b.subsMu.Unlock()
	b.tmu.RUnlock()
	defer func() {
		b.subsMu.Lock()
		delete(b.subs, s)
		b.subsMu.Unlock()
	}()
	if err := send(discovery.Event{Type: discovery.EventReset}); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-b.closed:
			return ErrClosed
		case <-s.notify:
		}
		evs, reset := s.take()
		if reset {
			evs = []discovery.Event{{Type: discovery.EventReset}}
		}
		for _, ev := range evs {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := send(ev); err != nil {
				return err
			}
		}
	}
}
