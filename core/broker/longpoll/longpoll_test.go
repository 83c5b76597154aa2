package longpoll

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type result struct {
	final bool
}

func TestArrivalWakesOnlyItsQueue(t *testing.T) {
	var maxOff atomic.Int64
	s := New(Options{MaxOffset: func(string, int32) int64 { return maxOff.Load() }})
	s.Start()
	defer s.Close()
	answered := make(chan result, 4)
	mk := func(topic string, off int64, matches func() bool) *Request {
		return &Request{Topic: topic, QueueID: 0, Offset: off, Deadline: time.Now().Add(time.Hour),
			Retry: func(final bool) bool {
				if final || matches() {
					answered <- result{final}
					return true
				}
				return false
			}}
	}
	always := func() bool { return true }
	s.Hold(mk("A", 0, always))
	s.Hold(mk("B", 0, always))
	if s.Held() != 2 {
		t.Fatalf("held %d", s.Held())
	}
	s.Arrived("A", 0, 1)
	if r := <-answered; r.final {
		t.Fatal("woken request answered as final")
	}
	if s.Held() != 1 {
		t.Fatalf("held %d after A's arrival", s.Held())
	}
	// A retry that finds nothing to return goes back on hold.
	var tries atomic.Int32
	s.Hold(mk("A", 1, func() bool { return tries.Add(1) > 1 }))
	s.Arrived("A", 0, 2)
	waitHeld(t, s, 2)
	s.Arrived("A", 0, 3)
	if r := <-answered; r.final {
		t.Fatal("answered as final")
	}
}

func TestHoldRechecksTheQueue(t *testing.T) {
	// The message arrived between the pull's read and the hold: Hold sees it.
	s := New(Options{MaxOffset: func(string, int32) int64 { return 5 }})
	answered := make(chan bool, 1)
	s.Hold(&Request{Topic: "A", Offset: 4, Deadline: time.Now().Add(time.Hour), Retry: func(final bool) bool { answered <- final; return true }})
	if final := <-answered; final {
		t.Fatal("answered as final")
	}
	s.Close()
}

func TestDeadline(t *testing.T) {
	now := time.Unix(1000, 0)
	var mu sync.Mutex
	s := New(Options{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	answered := make(chan bool, 1)
	s.Hold(&Request{Topic: "A", Offset: 0, Deadline: now.Add(20 * time.Second), Retry: func(final bool) bool {
		if final {
			answered <- true
		}
		return final
	}})
	s.expire(now.Add(19 * time.Second))
	if s.Held() != 1 {
		t.Fatal("answered before the deadline")
	}
	s.expire(now.Add(20 * time.Second))
	<-answered
	s.Close()
}

func TestCloseAnswersEverything(t *testing.T) {
	s := New(Options{})
	s.Start()
	var finals atomic.Int32
	for range 10 {
		s.Hold(&Request{Topic: "A", Deadline: time.Now().Add(time.Hour), Retry: func(final bool) bool {
			if final {
				finals.Add(1)
			}
			return final
		}})
	}
	s.Close()
	if finals.Load() != 10 {
		t.Fatalf("%d of 10 answered at close", finals.Load())
	}
	// Held after close: answered at once.
	s.Hold(&Request{Topic: "A", Retry: func(final bool) bool { finals.Add(1); return true }})
	s.Close()
	if finals.Load() != 11 {
		t.Fatal("a request held after close was not answered")
	}
}

func waitHeld(t *testing.T, s *Service, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.Held() != n {
		if time.Now().After(deadline) {
			t.Fatalf("held %d, want %d", s.Held(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestHoldRacesClose: pulls held and woken while Close runs (a broker closing under load) are
// all answered, and -race sees no WaitGroup reuse.
func TestHoldRacesClose(t *testing.T) {
	for range 20 {
		s := New(Options{MaxOffset: func(string, int32) int64 { return 1 }})
		s.Start()
		var answered atomic.Int32
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 25 {
					s.Hold(&Request{Topic: "A", QueueID: int32(g), Offset: 5, Deadline: time.Now().Add(time.Hour), Retry: func(final bool) bool {
						if final {
							answered.Add(1)
						}
						return final
					}})
					s.Arrived("A", int32(g), 10)
				}
			}()
		}
		s.Close()
		wg.Wait()
		s.Close()
		if answered.Load() != 100 {
			t.Fatalf("%d of 100 held pulls answered", answered.Load())
		}
	}
}

// TestGoneRequestsAreDropped: a held pull whose connection closed is dropped at the next
// arrival or deadline without running the pull again.
func TestGoneRequestsAreDropped(t *testing.T) {
	s := New(Options{})
	s.Start()
	defer s.Close()
	gone := make(chan struct{})
	var runs atomic.Int32
	s.Hold(&Request{Topic: "A", Offset: 0, Deadline: time.Now().Add(time.Hour), Gone: gone, Retry: func(bool) bool {
		runs.Add(1)
		return true
	}})
	close(gone)
	s.Arrived("A", 0, 5)
	waitHeld(t, s, 0)
	s.Close()
	if n := runs.Load(); n != 0 {
		t.Fatalf("the pull of a closed connection ran %d times", n)
	}
}

// TestGoneRequestsLeaveHeld: the deadline check drops a held pull whose connection closed,
// long before its deadline and without running it, so Held counts only pulls someone awaits.
func TestGoneRequestsLeaveHeld(t *testing.T) {
	s := New(Options{})
	defer s.Close()
	gone := make(chan struct{})
	var runs atomic.Int32
	retry := func(bool) bool { runs.Add(1); return true }
	s.Hold(&Request{Topic: "A", Deadline: time.Now().Add(time.Hour), Gone: gone, Retry: retry})
	s.Hold(&Request{Topic: "A", Deadline: time.Now().Add(time.Hour), Retry: retry})
	s.expire(time.Now())
	if n := s.Held(); n != 2 {
		t.Fatalf("held %d, want 2", n)
	}
	close(gone)
	s.expire(time.Now())
	if n := s.Held(); n != 1 {
		t.Fatalf("held %d after one connection closed, want 1", n)
	}
	if n := runs.Load(); n != 0 {
		t.Fatalf("pulls ran %d times", n)
	}
}
