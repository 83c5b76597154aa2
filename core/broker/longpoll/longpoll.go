// Package longpoll holds pull requests that found nothing (RocketMQ's PullRequestHoldService)
// until a message arrives on their queue or their suspend time is up.
//
// A held request is retried as soon as its queue's maximum offset passes the offset it asked
// for (Arrived, called by the store's dispatcher after each batch), and answered when its
// deadline passes. Retries run on their own goroutine, never on the caller's. A retry that still
// finds nothing it can return (say the new messages do not match the subscription) goes back on
// hold until its deadline. Hold re-checks the queue right after holding, so a message that
// arrived between the pull's read and the hold is not missed.
package longpoll

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/ternmq/tern/core/internal/periodic"
)

// Request is one held pull.
type Request struct {
	Topic    string
	QueueID  int32
	Offset   int64     // the offset the pull asked for
	Deadline time.Time // answer by then
	// Retry runs the pull again. With final set (the deadline passed, or the service is
	// closing) it must answer; otherwise it answers only if it has something to return, and
	// reports whether it answered.
	Retry func(final bool) (answered bool)
	// Gone, if set, is closed when nobody waits for the answer any more (the client's
	// connection closed): the request is then dropped without running Retry again.
	Gone <-chan struct{}
}

// gone reports whether r's asker went away.
func (r *Request) gone() bool {
	if r.Gone == nil {
		return false
	}
	select {
	case <-r.Gone:
		return true
	default:
		return false
	}
}

type key struct {
	topic string
	queue int32
}

// Options configure a Service.
type Options struct {
	// MaxOffset returns a queue's current maximum offset.
	MaxOffset func(topic string, queueID int32) int64
	// Check is how often deadlines are checked (default 50 ms).
	Check time.Duration
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Service holds requests. It is safe for concurrent use.
type Service struct {
	opts Options

	mu       sync.Mutex
	held     map[key][]*Request
	n        int
	draining bool // Close is waiting for the retries: later ones run inline

	wg      sync.WaitGroup // retries in flight
	started atomic.Bool
	stop    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

// New returns a Service; Start launches its deadline loop.
func New(opts Options) *Service {
	if opts.Check <= 0 {
		opts.Check = 50 * time.Millisecond
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Service{opts: opts, held: map[key][]*Request{}, stop: make(chan struct{}), stopped: make(chan struct{})}
}

// Hold keeps r until its queue grows past r.Offset or its deadline passes.
func (s *Service) Hold(r *Request) {
	k := key{r.Topic, r.QueueID}
	s.mu.Lock()
	select {
	case <-s.stop:
		s.mu.Unlock()
		s.retry(r, true)
		return
	default:
	}
	s.held[k] = append(s.held[k], r)
	s.n++
	s.mu.Unlock()
	if s.opts.MaxOffset != nil {
		if max := s.opts.MaxOffset(r.Topic, r.QueueID); max > r.Offset {
			s.Arrived(r.Topic, r.QueueID, max)
		}
	}
}

// Held returns the number of requests on hold.
func (s *Service) Held() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// Arrived retries the requests on (topic, queueID) that asked for an offset below maxOffset.
func (s *Service) Arrived(topic string, queueID int32, maxOffset int64) {
	s.mu.Lock()
	wake := s.takeLocked(key{topic, queueID}, func(r *Request) bool { return r.Offset < maxOffset })
	s.mu.Unlock()
	for _, r := range wake {
		s.retry(r, false)
	}
}

// takeLocked removes and returns the requests held on k that match; s.mu is held.
func (s *Service) takeLocked(k key, match func(*Request) bool) []*Request {
	var taken []*Request
	keep := s.held[k][:0]
	for _, r := range s.held[k] {
		if match(r) {
			taken = append(taken, r)
		} else {
			keep = append(keep, r)
		}
	}
	if len(keep) == 0 {
		delete(s.held, k)
	} else {
		s.held[k] = keep
	}
	s.n -= len(taken)
	return taken
}

// retry runs r.Retry on its own goroutine; an unanswered non-final retry goes back on hold.
func (s *Service) retry(r *Request, final bool) {
	if r.gone() {
		return // nobody to answer: no read of the queue for a closed connection
	}
	s.mu.Lock()
	if s.draining {
		// Close is waiting for the retries: answer this late one (a pull held or woken while
		// the broker closes) here rather than start a goroutine Close would not wait for.
		s.mu.Unlock()
		r.Retry(true)
		return
	}
	s.wg.Add(1) // under s.mu: every Add happens before Close's Wait
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		if r.Retry(final) || final {
			return
		}
		if !s.opts.Now().Before(r.Deadline) {
			r.Retry(true)
			return
		}
		s.mu.Lock()
		closing := false
		select {
		case <-s.stop:
			closing = true
		default:
			k := key{r.Topic, r.QueueID}
			s.held[k] = append(s.held[k], r)
			s.n++
		}
		s.mu.Unlock()
		if closing {
			r.Retry(true)
		}
	}()
}

// Start launches the deadline loop. Close stops it.
func (s *Service) Start() {
	if s.started.CompareAndSwap(false, true) {
		go s.loop()
	}
}

func (s *Service) loop() {
	defer close(s.stopped)
	periodic.Run(s.stop, s.opts.Check, func() { s.expire(s.opts.Now()) })
}

// expire answers the requests whose deadline passed, and drops those whose asker went away
// (so that Held counts only pulls someone waits for).
func (s *Service) expire(now time.Time) {
	var due []*Request
	s.mu.Lock()
	for k := range s.held {
		due = append(due, s.takeLocked(k, func(r *Request) bool { return !now.Before(r.Deadline) || r.gone() })...)
	}
	s.mu.Unlock()
	for _, r := range due {
		s.retry(r, true)
	}
}

// Close stops the loop, answers every held request and waits for the retries.
func (s *Service) Close() {
	s.once.Do(func() {
		s.mu.Lock()
		close(s.stop)
		var all []*Request
		for _, rs := range s.held {
			all = append(all, rs...)
		}
		s.held = map[key][]*Request{}
		s.n = 0
		s.mu.Unlock()
		for _, r := range all {
			s.retry(r, true)
		}
		s.mu.Lock()
		s.draining = true
		s.mu.Unlock()
	})
	if s.started.Load() {
		<-s.stopped
	}
	s.wg.Wait()
}
