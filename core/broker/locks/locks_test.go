package locks

import (
	"slices"
	"testing"
	"time"
)

func TestLocks(t *testing.T) {
	now := time.Unix(1000, 0)
	m := New(60*time.Second, func() time.Time { return now })
	q0, q1 := Queue{"T", "b", 0}, Queue{"T", "b", 1}
	if got := m.TryLock("g", "c1", []Queue{q0}); !slices.Equal(got, []Queue{q0}) {
		t.Fatalf("c1 lock q0: %v", got)
	}
	if got := m.TryLock("g", "c2", []Queue{q0, q1}); !slices.Equal(got, []Queue{q1}) {
		t.Fatalf("c2 got %v, want only q1", got)
	}
	if got := m.TryLock("other", "c2", []Queue{q0}); len(got) != 1 {
		t.Fatal("locks leak across groups")
	}
	now = now.Add(30 * time.Second)
	if got := m.TryLock("g", "c1", []Queue{q0}); len(got) != 1 {
		t.Fatal("renewal refused")
	}
	now = now.Add(59 * time.Second)
	if got := m.TryLock("g", "c2", []Queue{q0}); len(got) != 0 || m.Holder("g", q0) != "c1" {
		t.Fatal("a renewed lock lapsed early")
	}
	now = now.Add(2 * time.Second)
	if m.Holder("g", q0) != "" {
		t.Fatal("a lapsed lock still has a holder")
	}
	if got := m.TryLock("g", "c2", []Queue{q0}); len(got) != 1 {
		t.Fatal("a lapsed lock was not granted")
	}
	m.Unlock("g", "c1", []Queue{q0}) // not c1's any more: no effect
	if m.Holder("g", q0) != "c2" {
		t.Fatal("unlock by a non-holder released the lock")
	}
	m.Unlock("g", "c2", []Queue{q0})
	if m.Holder("g", q0) != "" {
		t.Fatal("unlock did not release")
	}
}
