package transaction

import (
	"testing"
	"time"
)

var t0 = time.UnixMilli(1_700_000_000_000)

func TestDecide(t *testing.T) {
	lim := Limits{Timeout: 6 * time.Second, CheckMax: 3}
	born := func(ago time.Duration) int64 { return t0.Add(-ago).UnixMilli() }
	for _, tc := range []struct {
		name string
		h    Half
		want Action
	}{
		{"old enough: check", Half{Offset: 10, Origin: 10, BornTimestamp: born(7 * time.Second)}, Check},
		{"exactly the timeout: check", Half{Offset: 10, Origin: 10, BornTimestamp: born(6 * time.Second)}, Check},
		{"young: wait", Half{Offset: 10, Origin: 10, BornTimestamp: born(time.Second)}, Wait},
		{"born in the future: check", Half{Offset: 10, Origin: 10, BornTimestamp: born(-time.Hour)}, Check},
		{"resolved: skip", Half{Offset: 10, Origin: 4, BornTimestamp: born(time.Hour)}, Skip},
		{"resolved, young: skip", Half{Offset: 10, Origin: 4, BornTimestamp: born(0)}, Skip},
		{"below the floor: skip", Half{Offset: 10, Origin: 1, BornTimestamp: born(time.Hour)}, Skip},
		{"being resolved: wait", Half{Offset: 10, Origin: 7, BornTimestamp: born(time.Hour)}, Wait},
		{"checked often enough: discard", Half{Offset: 10, Origin: 5, BornTimestamp: born(time.Hour), CheckTimes: 3}, Discard},
		{"checked often enough, young: discard", Half{Offset: 10, Origin: 5, BornTimestamp: born(0), CheckTimes: 4}, Discard},
		{"one check left", Half{Offset: 10, Origin: 5, BornTimestamp: born(time.Hour), CheckTimes: 2}, Check},
		{"own immunity not over: defer", Half{Offset: 10, Origin: 10, BornTimestamp: born(time.Minute), Immunity: time.Hour}, Defer},
		{"own immunity over: check", Half{Offset: 10, Origin: 10, BornTimestamp: born(2 * time.Hour), Immunity: time.Hour}, Check},
		{"own immunity shorter than the timeout", Half{Offset: 10, Origin: 10, BornTimestamp: born(2 * time.Second), Immunity: time.Second}, Check},
		{"own immunity shorter, not over: defer", Half{Offset: 10, Origin: 10, BornTimestamp: born(500 * time.Millisecond), Immunity: time.Second}, Defer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := NewLedger(3, 0) // floor 3: origins 0-2 resolved long ago
			l.Prune()
			l.Settle(4, Committed, 0)
			if o, wait := l.Claim(7, 1); o != Unresolved || wait != nil {
				t.Fatalf("claim 7: %v %v", o, wait)
			}
			if got := l.Decide(tc.h, t0, lim); got != tc.want {
				t.Fatalf("Decide(%+v) = %v, want %v", tc.h, got, tc.want)
			}
		})
	}
}

func TestClaim(t *testing.T) {
	l := NewLedger(0, 0)
	l.Prune()
	if o, wait := l.Claim(5, 0); o != Unresolved || wait != nil {
		t.Fatalf("first claim: %v %v", o, wait)
	}
	o, wait := l.Claim(5, 0)
	if o != Unresolved || wait == nil {
		t.Fatalf("second claim while the first holds: %v %v", o, wait)
	}
	l.Release(5)
	select {
	case <-wait:
	default:
		t.Fatal("Release did not wake the waiter")
	}
	if o, wait := l.Claim(5, 0); o != Unresolved || wait != nil {
		t.Fatalf("claim after release: %v %v", o, wait)
	}
	_, wait = l.Claim(5, 0)
	l.Settle(5, RolledBack, 0)
	<-wait
	if o, wait := l.Claim(5, 0); o != RolledBack || wait != nil {
		t.Fatalf("claim after settle: %v %v", o, wait)
	}
	// Load keeps the first op record of an origin.
	l.Load(6, Committed, 1)
	l.Load(6, RolledBack, 2)
	if o := l.Outcome(6); o != Committed {
		t.Fatalf("loaded twice: %v", o)
	}
}

// step is one thing that happens to a ledger in TestLedgerScenario.
type step struct {
	do   func(l *Ledger)
	name string
}

// TestLedgerScenario steps a ledger through check runs, commits and rollbacks, and checks the
// floor, the outcomes it keeps and the progress pair after each Prune.
func TestLedgerScenario(t *testing.T) {
	lim := Limits{Timeout: time.Second, CheckMax: 5}
	old := t0.Add(-time.Hour).UnixMilli()
	young := t0.UnixMilli()
	l := NewLedger(0, 0)
	l.Prune()
	mustDecide := func(h Half, want Action) {
		t.Helper()
		if got := l.Decide(h, t0, lim); got != want {
			t.Fatalf("Decide(%+v) = %v, want %v", h, got, want)
		}
	}
	// Half queue: 0, 1, 2 sent; 1 is rolled back by its producer (op 0); 2 is young.
	l.Claim(1, 0)
	l.Settle(1, RolledBack, 0)
	// Run 1: 0 is checked (copy 3), 1 skipped, 2 waits.
	mustDecide(Half{Offset: 0, Origin: 0, BornTimestamp: old}, Check)
	l.Passed(Half{Offset: 0, Origin: 0}, 3)
	mustDecide(Half{Offset: 1, Origin: 1, BornTimestamp: old}, Skip)
	l.Passed(Half{Offset: 1, Origin: 1}, -1)
	mustDecide(Half{Offset: 2, Origin: 2, BornTimestamp: young}, Wait)
	if p, op := l.Prune(); p != 2 || op != 0 {
		t.Fatalf("after run 1: progress %d, op progress %d; want 2, 0", p, op)
	}
	if st := l.Stats(); st.Floor != 0 || st.Carried != 1 || st.Resolved != 1 {
		t.Fatalf("after run 1: %+v", st)
	}
	// The producer answers the check on copy 3: commit (op 1). Then it repeats its original
	// commit on copy 0: same origin, already committed.
	if o, _ := l.Claim(0, 1); o != Unresolved {
		t.Fatalf("claim 0: %v", o)
	}
	l.Settle(0, Committed, 1)
	if o, _ := l.Claim(0, 2); o != Committed {
		t.Fatalf("repeated commit: %v", o)
	}
	// Run 2: 2 is old now: checked (copy 4); copy 3 of 0 is skipped.
	mustDecide(Half{Offset: 2, Origin: 2, BornTimestamp: old}, Check)
	l.Passed(Half{Offset: 2, Origin: 2}, 4)
	mustDecide(Half{Offset: 3, Origin: 0, BornTimestamp: old, CheckTimes: 1}, Skip)
	l.Passed(Half{Offset: 3, Origin: 0}, -1)
	// Floor: 2 (carried, copy 4). Origins 0 and 1 are below it, but their outcomes are kept
	// until the next run for late repeats.
	if p, op := l.Prune(); p != 4 || op != 0 {
		t.Fatalf("after run 2: progress %d, op progress %d; want 4, 0", p, op)
	}
	if st := l.Stats(); st.Floor != 2 || st.Resolved != 2 || st.Carried != 1 {
		t.Fatalf("after run 2: %+v", st)
	}
	for origin, want := range map[int64]Outcome{0: Committed, 1: RolledBack} {
		if o, wait := l.Claim(origin, 2); o != want || wait != nil {
			t.Fatalf("origin %d just below the floor: %v, want %v", origin, o, want)
		}
	}
	// A claim in flight holds the op progress at its bound even when nothing else does. Now
	// 0 and 1 are forgotten, their op records done.
	if o, _ := l.Claim(2, 2); o != Unresolved {
		t.Fatalf("claim 2: %v", o)
	}
	if _, op := l.Prune(); op != 2 {
		t.Fatalf("op progress with a claim in flight: %d", op)
	}
	for _, origin := range []int64{0, 1} {
		if o, wait := l.Claim(origin, 2); o != Resolved || wait != nil {
			t.Fatalf("origin %d below the floor: %v", origin, o)
		}
	}
	// Run 3 meets copy 4 while 2 is being resolved: wait.
	mustDecide(Half{Offset: 4, Origin: 2, BornTimestamp: old, CheckTimes: 1}, Wait)
	l.Settle(2, Discarded, 2)
	mustDecide(Half{Offset: 4, Origin: 2, BornTimestamp: old, CheckTimes: 1}, Skip)
	l.Passed(Half{Offset: 4, Origin: 2}, -1)
	if p, op := l.Prune(); p != 5 || op != 2 {
		t.Fatalf("after run 3: progress %d, op progress %d; want 5, 2", p, op)
	}
	if st := l.Stats(); st.Floor != 5 || st.Resolved != 1 || st.Carried != 0 || st.Claims != 0 {
		t.Fatalf("after run 3: %+v", st)
	}
	if p, op := l.Prune(); p != 5 || op != 3 || l.Outcome(2) != Resolved {
		t.Fatalf("after run 4: progress %d, op progress %d, outcome of 2 %v; want 5, 3, RESOLVED", p, op, l.Outcome(2))
	}
}

// TestLedgerRebuild checks that a ledger rebuilt from the persisted pair, the op records from
// opProgress on and the copies from progress on knows what the original knew.
func TestLedgerRebuild(t *testing.T) {
	lim := Limits{Timeout: time.Second, CheckMax: 5}
	old := t0.Add(-time.Hour).UnixMilli()
	type op struct {
		origin int64
		o      Outcome
	}
	var ops []op                  // the op topic
	copies := []int64{0, 1, 2, 3} // the half topic: origin of each copy
	l := NewLedger(0, 0)
	l.Prune()
	settle := func(origin int64, o Outcome) {
		if got, _ := l.Claim(origin, int64(len(ops))); got != Unresolved {
			t.Fatalf("claim %d: %v", origin, got)
		}
		ops = append(ops, op{origin, o})
		l.Settle(origin, o, int64(len(ops)-1))
	}
	run := func() {
		end := int64(len(copies))
		for off := l.Progress(); off < end; off++ {
			h := Half{Offset: off, Origin: copies[off], BornTimestamp: old}
			switch l.Decide(h, t0, lim) {
			case Check:
				copies = append(copies, h.Origin)
				l.Passed(h, int64(len(copies)-1))
			case Skip:
				l.Passed(h, -1)
			default:
				t.Fatalf("unexpected action for %+v", h)
			}
		}
	}
	settle(1, Committed)
	run() // 0, 2, 3 re-appended as 4, 5, 6
	settle(2, RolledBack)
	settle(3, Committed)
	run() // 4 → 7; 5, 6 skipped
	settle(0, Committed)
	progress, opProgress := l.Prune()

	r := NewLedger(progress, opProgress)
	for i := opProgress; i < int64(len(ops)); i++ {
		r.Load(ops[i].origin, ops[i].o, i)
	}
	for off := progress; off < int64(len(copies)); off++ {
		r.LoadCopy(off, copies[off])
	}
	r.Prune()
	for origin := range int64(4) {
		want, got := l.Outcome(origin), r.Outcome(origin)
		if got == Unresolved && want != Unresolved || want == Unresolved && got != Unresolved ||
			got != Resolved && want != Resolved && got != want {
			t.Errorf("origin %d: rebuilt %v, original %v", origin, got, want)
		}
	}
	if a, b := l.Stats(), r.Stats(); a.Floor != b.Floor || a.Progress != b.Progress {
		t.Errorf("original %+v, rebuilt %+v", a, b)
	}
}

// TestPending follows the pending count through sends, check runs, commits and rollbacks.
func TestPending(t *testing.T) {
	l := NewLedger(0, 0)
	steps := []struct {
		name string
		do   func()
		end  int64 // the half queue's maximum offset after the step
		want int64
	}{
		{"empty", func() {}, 0, 0},
		{"three sent", func() {}, 3, 3},
		{"1 rolled back", func() { l.Claim(1, 0); l.Settle(1, RolledBack, 0) }, 3, 2},
		{"0 checked, copy 3", func() { l.Passed(Half{Offset: 0, Origin: 0}, 3) }, 4, 2},
		{"1 passed", func() { l.Passed(Half{Offset: 1, Origin: 1}, -1) }, 4, 2},
		{"pruned", func() { l.Prune() }, 4, 2},
		{"0 committed", func() { l.Claim(0, 1); l.Settle(0, Committed, 1) }, 4, 1},
		{"2 checked, copy 4", func() { l.Passed(Half{Offset: 2, Origin: 2}, 4) }, 5, 1},
		{"copy 3 of 0 passed", func() { l.Passed(Half{Offset: 3, Origin: 0}, -1) }, 5, 1},
		{"2 discarded", func() { l.Claim(2, 2); l.Settle(2, Discarded, 2) }, 5, 0},
		{"copy 4 of 2 passed", func() { l.Passed(Half{Offset: 4, Origin: 2}, -1); l.Prune() }, 5, 0},
		{"5 sent", func() {}, 6, 1},
	}
	for _, s := range steps {
		s.do()
		if got := l.Pending(s.end); got != s.want {
			t.Fatalf("%s: Pending(%d) = %d, want %d (%+v)", s.name, s.end, got, s.want, l.Stats())
		}
	}
}
