package transaction

import (
	"fmt"
	"sync"
	"time"
)

// Outcome is how a transaction ended.
type Outcome uint8

// Outcomes.
const (
	// Unresolved: neither committed, rolled back nor discarded yet.
	Unresolved Outcome = iota
	// Committed: the message was delivered to its real topic.
	Committed
	// RolledBack: the producer rolled it back.
	RolledBack
	// Discarded: checked transactionCheckMax times without an answer, moved to
	// TRANS_CHECK_MAX_TIME_TOPIC.
	Discarded
	// Resolved: resolved, but the outcome is no longer known (below the floor, or an op record
	// that does not say).
	Resolved
)

var outcomeNames = [...]string{"UNRESOLVED", "COMMIT", "ROLLBACK", "DISCARD", "RESOLVED"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// parseOutcome reads an op record's TRAN_OUTCOME value; anything else is Resolved.
func parseOutcome(s string) Outcome {
	for o := Committed; o <= Discarded; o++ {
		if outcomeNames[o] == s {
			return o
		}
	}
	return Resolved
}

// Half is what the check loop knows about one copy of a half message.
type Half struct {
	Offset        int64 // queue offset of this copy in the half topic
	Origin        int64 // queue offset of the transaction's first copy (≤ Offset)
	BornTimestamp int64 // ms, the producer's clock
	CheckTimes    int   // TRANSACTION_CHECK_TIMES: checks so far
	// Immunity is CHECK_IMMUNITY_TIME_IN_SECONDS: no check before the message is this old. Zero
	// means the property is absent (or not a positive number): transactionTimeOut applies.
	Immunity time.Duration
}

// Action is what the check loop does with a copy.
type Action uint8

// Actions (see the package doc).
const (
	Skip Action = iota
	Wait
	Defer
	Check
	Discard
)

var actionNames = [...]string{"skip", "wait", "defer", "check", "discard"}

func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("Action(%d)", uint8(a))
}

// Limits are the check loop's settings that Decide needs.
type Limits struct {
	Timeout  time.Duration // transactionTimeOut: no check before a half message is this old
	CheckMax int           // transactionCheckMax: checks before a message is discarded
}

type settled struct {
	outcome Outcome
	op      int64 // queue offset of the op record
}

type claim struct {
	done  chan struct{} // closed by Settle or Release
	opLow int64         // no op record written for this claim lies below this op offset
}

// Ledger is the transaction state of the package doc: which transactions are resolved and
// how, which are being resolved, and how far the check loop got. It does no I/O; the Service
// feeds it, and tests step it directly. It is safe for concurrent use.
type Ledger struct {
	mu         sync.Mutex
	resolved   map[int64]settled // by origin, origins ≥ floor (and below it until the next Prune)
	claims     map[int64]*claim  // by origin
	carried    map[int64]int64   // origin → offset of its newest re-appended copy (≥ progress)
	progress   int64
	floor      int64
	prevFloor  int64 // the floor before the last Prune: outcomes below it are forgotten
	opProgress int64
	opHigh     int64 // one past the highest op offset recorded
}

// NewLedger returns a ledger whose check loop resumes at progress and whose op records from
// opProgress on are still to be loaded (Load). Call LoadCopy for the copies from progress on,
// then Prune, before using it.
func NewLedger(progress, opProgress int64) *Ledger {
	return &Ledger{
		resolved: map[int64]settled{}, claims: map[int64]*claim{}, carried: map[int64]int64{},
		progress: progress, opProgress: opProgress, opHigh: opProgress,
	}
}

// Load records an op record read at op offset op: origin was resolved with outcome o. The
// first record of an origin wins.
func (l *Ledger) Load(origin int64, o Outcome, op int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.opHigh = max(l.opHigh, op+1)
	if _, ok := l.resolved[origin]; !ok {
		l.resolved[origin] = settled{o, op}
	}
}

// LoadCopy records a copy found at or past progress when the state is rebuilt.
func (l *Ledger) LoadCopy(offset, origin int64) {
	if origin >= offset {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if c, ok := l.carried[origin]; !ok || offset > c {
		l.carried[origin] = offset
	}
}

// Claim asks for the right to resolve origin. If it is resolved, Claim returns its outcome. If
// another caller is resolving it, Claim returns Unresolved and a channel closed when that
// caller is done: ask again then. Otherwise the caller holds the claim (Unresolved, nil) and
// must end it with Settle or Release. opLow is a lower bound of the op offset the caller may
// write (the op queue's maximum offset now).
func (l *Ledger) Claim(origin, opLow int64) (Outcome, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s, ok := l.resolved[origin]; ok {
		return s.outcome, nil
	}
	if origin < l.floor {
		return Resolved, nil
	}
	if c := l.claims[origin]; c != nil {
		return Unresolved, c.done
	}
	l.claims[origin] = &claim{done: make(chan struct{}), opLow: opLow}
	return Unresolved, nil
}

// Settle ends a claim: origin was resolved with outcome o by the op record at op offset op.
func (l *Ledger) Settle(origin int64, o Outcome, op int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.resolved[origin] = settled{o, op}
	l.opHigh = max(l.opHigh, op+1)
	l.endClaim(origin)
}

// Release ends a claim without resolving origin (the write failed).
func (l *Ledger) Release(origin int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.endClaim(origin)
}

func (l *Ledger) endClaim(origin int64) {
	if c := l.claims[origin]; c != nil {
		close(c.done)
		delete(l.claims, origin)
	}
}

// Resolved reports whether origin's outcome is kept. Only first copies are origins, so the
// check loop can pass a copy at offset o without reading it when Resolved(o).
func (l *Ledger) Resolved(origin int64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.resolved[origin]
	return ok
}

// Outcome returns what the ledger knows about origin now.
func (l *Ledger) Outcome(origin int64) Outcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s, ok := l.resolved[origin]; ok {
		return s.outcome
	}
	if origin < l.floor {
		return Resolved
	}
	return Unresolved
}

// Decide says what the check loop does with copy h at time now.
func (l *Ledger) Decide(h Half, now time.Time, lim Limits) Action {
	l.mu.Lock()
	_, done := l.resolved[h.Origin]
	done = done || h.Origin < l.floor
	busy := l.claims[h.Origin] != nil
	l.mu.Unlock()
	switch {
	case done:
		return Skip
	case busy:
		// Being resolved right now, and that may fail: come back next run.
		return Wait
	case h.CheckTimes >= lim.CheckMax:
		return Discard
	}
	age := time.Duration(now.UnixMilli()-h.BornTimestamp) * time.Millisecond
	immunity := lim.Timeout
	if h.Immunity > 0 {
		immunity = h.Immunity
	}
	if age >= 0 && age < immunity {
		if h.Immunity > 0 {
			return Defer // its own, possibly long, immunity must not hold back the others
		}
		return Wait // the copies after it are younger still
	}
	return Check // including a born time in the future: a skewed clock
}

// Passed records that the check loop is done with copy h: progress moves past it. copy is the
// queue offset of the copy re-appended for it (Check, Defer), or -1.
func (l *Ledger) Passed(h Half, copy int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.progress = max(l.progress, h.Offset+1)
	if c, ok := l.carried[h.Origin]; ok && c <= h.Offset {
		delete(l.carried, h.Origin)
	}
	if copy >= 0 && h.Origin < copy {
		if c, ok := l.carried[h.Origin]; !ok || copy > c {
			l.carried[h.Origin] = copy
		}
	}
}

// SkipTo moves progress to offset when the copies before it are gone (retention deleted them).
// Their transactions count as resolved from the next Prune on.
func (l *Ledger) SkipTo(offset int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if offset <= l.progress {
		return
	}
	l.progress = offset
	for o, c := range l.carried {
		if c < offset {
			delete(l.carried, o)
		}
	}
}

// Prune recomputes the floor, forgets the outcomes below the floor of the Prune before (so
// that an outcome stays known for at least one check interval after the floor passed it, for
// late repeats) and returns the progress pair to persist: the half-topic and op-topic offsets
// the state is rebuilt from at the next start.
func (l *Ledger) Prune() (progress, opProgress int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	floor := l.progress
	for o := range l.carried {
		floor = min(floor, o)
	}
	l.prevFloor = l.floor
	l.floor = floor // never decreases: a carried origin was at or above the floor when carried
	op := l.opHigh
	for o, s := range l.resolved {
		if o < l.prevFloor {
			delete(l.resolved, o)
		} else {
			op = min(op, s.op)
		}
	}
	for _, c := range l.claims {
		op = min(op, c.opLow)
	}
	l.opProgress = max(l.opProgress, op)
	return l.progress, l.opProgress
}

// Progress returns the next half-topic queue offset the check loop examines.
func (l *Ledger) Progress() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.progress
}

// Stats describes the ledger's size.
type Stats struct {
	Progress, Floor, OpProgress int64
	Resolved, Carried, Claims   int
}

// Stats returns the ledger's size and marks.
func (l *Ledger) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Stats{
		Progress: l.progress, Floor: l.floor, OpProgress: l.opProgress,
		Resolved: len(l.resolved), Carried: len(l.carried), Claims: len(l.claims),
	}
}

// Pending estimates how many transactions are unresolved when the half topic's queue ends at
// end (its maximum offset): the copies from progress on, less the later copies of carried
// transactions and the transactions resolved past progress, plus the carried transactions from
// before progress that are still unresolved. It counts a transaction once as long as it has at
// most one copy at or past progress, which the check loop keeps true; right after a restart
// that found several copies of one transaction past progress, it may count that one more than
// once until the next check run. It reads only the ledger's maps, so it is cheap enough for a
// gauge read at every metrics collection.
func (l *Ledger) Pending(end int64) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := max(end-l.progress, 0)
	for origin, c := range l.carried {
		if c >= l.progress {
			n-- // a later copy: counted with its origin
		}
		if _, done := l.resolved[origin]; !done && origin < l.progress {
			n++
		}
	}
	for origin := range l.resolved {
		if origin >= l.progress {
			n--
		}
	}
	return max(n, 0)
}
