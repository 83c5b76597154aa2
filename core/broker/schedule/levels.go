// Package schedule delays messages by RocketMQ's delay levels.
//
// A message put with DELAY=L (1 ≤ L ≤ number of levels; larger values mean the last level) is
// stored in SCHEDULE_TOPIC_XXXX, queue L-1, with its real topic and queue kept in the REAL_TOPIC
// and REAL_QID properties; the ConsumeQueue entry's tags code is its delivery time (store time +
// the level's delay). Because every message in one level's queue waits the same time, delivery
// times within a queue never decrease, so one cursor per level is enough: a delivery loop reads
// each level's queue from its cursor, and for every entry whose time has come puts the message
// into its real topic and queue (without DELAY) and advances the cursor. The cursors are
// persisted in <dir>/delayOffset.json (RocketMQ's name) every flush interval and at Close; after
// a crash the messages after the last persisted cursor are delivered again (at least once).
package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ternmq/tern/core/atomicfile"
	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/store"
	"github.com/ternmq/tern/core/store/commitlog"
	"github.com/ternmq/tern/core/store/consumequeue"
)

// Topic is the topic scheduled messages wait in (wire name, never change).
const Topic = "SCHEDULE_TOPIC_XXXX"

// DefaultLevels is RocketMQ's messageDelayLevel.
const DefaultLevels = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h"

// ParseLevels parses a messageDelayLevel string: delays separated by spaces, each a number
// followed by s, m, h or d (RocketMQ's units), or ms.
func ParseLevels(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, f := range strings.Fields(s) {
		num, unit := f, time.Duration(0)
		for _, u := range []struct {
			suffix string
			d      time.Duration
		}{{"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}, {"d", 24 * time.Hour}} {
			if n, ok := strings.CutSuffix(f, u.suffix); ok {
				num, unit = n, u.d
				break
			}
		}
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n <= 0 || unit == 0 {
			return nil, fmt.Errorf("schedule: delay level %q: want a positive number and a unit (ms, s, m, h, d)", f)
		}
		out = append(out, time.Duration(n)*unit)
	}
	if len(out) == 0 {
		return nil, errors.New("schedule: messageDelayLevel names no level")
	}
	return out, nil
}

// Store is what the scheduler needs from the message store.
type Store interface {
	QueueEntry(topic string, queueID int32, off int64) (consumequeue.Entry, error)
	MaxOffset(topic string, queueID int32) int64
	MinOffset(topic string, queueID int32) int64
	GetMessage(phy int64) (store.Message, error)
	PutMessage(ctx context.Context, r *message.Record) (store.PutResult, error)
	CommitLogMinOffset() int64
}

// Options configure Levels.
type Options struct {
	Levels        []time.Duration
	Dir           string        // holds delayOffset.json
	Tick          time.Duration // how often the delivery loop looks (default 100 ms, as RocketMQ)
	FlushInterval time.Duration // how often cursors are persisted (default 10 s)
	// Fired, if set, is called with each delivered copy once it is stored, and the time the
	// scheduled record was stored (ms since the epoch). It must not block.
	Fired  func(r *message.Record, scheduledAt int64)
	Logger *slog.Logger
	Now    func() time.Time
}

// Levels is the delay-level scheduler.
type Levels struct {
	opts Options
	st   Store
	log  *slog.Logger
	path string

	mu      sync.Mutex // guards cursors, dirty and started
	cursors []int64    // next queue offset to deliver, by level-1
	dirty   bool
	started bool

	stop    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

type cursorFile struct {
	OffsetTable map[string]int64 `json:"offsetTable"` // level → next queue offset
}

// New loads the persisted cursors. Start launches the delivery loop.
func New(st Store, opts Options) (*Levels, error) {
	if len(opts.Levels) == 0 {
		return nil, errors.New("schedule: no delay levels")
	}
	if opts.Tick <= 0 {
		opts.Tick = 100 * time.Millisecond
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = 10 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	l := &Levels{
		opts: opts, st: st, log: opts.Logger, path: filepath.Join(opts.Dir, "delayOffset.json"),
		cursors: make([]int64, len(opts.Levels)), stop: make(chan struct{}), stopped: make(chan struct{}),
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	b, err := os.ReadFile(l.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("schedule: %w", err)
	default:
		var f cursorFile
		if err := json.Unmarshal(b, &f); err != nil {
			return nil, fmt.Errorf("schedule: %s: %w", l.path, err)
		}
		for lv, off := range f.OffsetTable {
			n, err := strconv.Atoi(lv)
			if err == nil && n >= 1 && n <= len(l.cursors) && off >= 0 {
				l.cursors[n-1] = off
			}
		}
	}
	return l, nil
}

// NumLevels returns the number of levels (and queues of the schedule topic).
func (l *Levels) NumLevels() int { return len(l.opts.Levels) }

// Level clamps a requested delay level: ≤ 0 means no delay, above the last level means the last.
func (l *Levels) Level(requested int) int {
	if requested <= 0 {
		return 0
	}
	return min(requested, len(l.opts.Levels))
}

// Rewrite turns a record that asks for a delay (DELAY property ≥ 1, transaction type NOT or
// COMMIT) into a scheduled one: REAL_TOPIC and REAL_QID keep its destination, the topic becomes
// SCHEDULE_TOPIC_XXXX and the queue its level's. It reports whether it did.
func (l *Levels) Rewrite(r *message.Record) (bool, error) {
	tx := message.TxType(r.SysFlag)
	if tx != message.TxNotType && tx != message.TxCommit {
		return false, nil
	}
	v, ok := message.Property([]byte(r.Properties), message.PropertyDelayLevel)
	if !ok {
		return false, nil
	}
	n, err := strconv.Atoi(string(v))
	if err != nil {
		return false, fmt.Errorf("schedule: DELAY property %q is not a level number", v)
	}
	level := l.Level(n)
	if level == 0 {
		return false, nil
	}
	var drop, set []string
	if level != n { // store the clamped level, so that the delivery time agrees with the queue
		drop, set = []string{message.PropertyDelayLevel}, []string{message.PropertyDelayLevel, strconv.Itoa(level)}
	}
	if err := message.Park(r, Topic, int32(level-1), drop, set...); err != nil {
		return false, fmt.Errorf("schedule: %w", err)
	}
	return true, nil
}

// TagsCodeFunc returns the store's tags-code hook for a level table: a scheduled record's
// ConsumeQueue entry carries its delivery time; other records are left to the store (ok=false).
// It needs no Levels, so the store can have it while it recovers, before the scheduler exists.
func TagsCodeFunc(levels []time.Duration) func(topic, props []byte, storeTimestamp int64) (int64, bool) {
	return func(topic, props []byte, storeTimestamp int64) (int64, bool) {
		if string(topic) != Topic {
			return 0, false
		}
		v, _ := message.Property(props, message.PropertyDelayLevel)
		n, _ := strconv.Atoi(string(v))
		if n <= 0 {
			return storeTimestamp, true
		}
		return storeTimestamp + levels[min(n, len(levels))-1].Milliseconds(), true
	}
}

// Cursor returns the next queue offset to deliver at level (1-based).
func (l *Levels) Cursor(level int) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cursors[level-1]
}

// Start launches the delivery loop; Close stops it.
func (l *Levels) Start() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.started {
		l.started = true
		go l.loop()
	}
}

func (l *Levels) loop() {
	defer close(l.stopped)
	tick := time.NewTicker(l.opts.Tick)
	defer tick.Stop()
	flush := time.NewTicker(l.opts.FlushInterval)
	defer flush.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-tick.C:
			if _, err := l.DeliverDue(context.Background()); err != nil {
				l.log.Warn("scheduled delivery failed; retrying", "err", err)
			}
		case <-flush.C:
			if err := l.Flush(); err != nil {
				l.log.Error("persist delay cursors failed", "err", err)
			}
		}
	}
}

// DeliverDue delivers every scheduled message whose time has come, level by level, and returns
// how many it delivered. The loop calls it every tick; tests call it directly.
func (l *Levels) DeliverDue(ctx context.Context) (int, error) {
	now := l.opts.Now().UnixMilli()
	n := 0
	for level := 1; level <= len(l.opts.Levels); level++ {
		qid := int32(level - 1)
		off := max(l.Cursor(level), l.st.MinOffset(Topic, qid))
		maxOff := l.st.MaxOffset(Topic, qid)
		for ; off < maxOff; off++ {
			e, err := l.st.QueueEntry(Topic, qid, off)
			if err != nil {
				return n, err
			}
			if e.Hole() {
				continue
			}
			if e.TagsCode > now {
				break
			}
			if err := l.deliver(ctx, e.PhysicalOffset); err != nil {
				l.setCursor(level, off)
				return n, err
			}
			n++
		}
		l.setCursor(level, off)
	}
	return n, nil
}

func (l *Levels) setCursor(level int, off int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cursors[level-1] != off {
		l.cursors[level-1] = off
		l.dirty = true
	}
}

// deliver puts the scheduled record at phy into its real topic and queue.
func (l *Levels) deliver(ctx context.Context, phy int64) error {
	m, err := l.st.GetMessage(phy)
	if errors.Is(err, store.ErrClosed) {
		return err
	}
	if err != nil {
		if errors.Is(err, commitlog.ErrOutOfRange) && phy >= l.st.CommitLogMinOffset() {
			// Not deleted, so not lost: try again at the next tick rather than skip it.
			return fmt.Errorf("scheduled record at %d not readable: %w", phy, err)
		}
		// A deleted or corrupt record cannot be delivered; skipping it keeps the queue moving.
		l.log.Error("scheduled record unreadable; skipped", "phy_offset", phy, "err", err)
		return nil
	}
	defer m.Release()
	v := m.View
	r, err := message.Unpark(v, []string{message.PropertyDelayLevel})
	if err != nil {
		l.log.Error("scheduled record cannot be delivered; skipped", "phy_offset", phy, "err", err)
		return nil
	}
	if _, err := l.st.PutMessage(ctx, r); err != nil && !errors.Is(err, store.ErrFlushTimeout) {
		return fmt.Errorf("schedule: deliver to %s-%d: %w", r.Topic, r.QueueID, err)
	}
	if l.opts.Fired != nil {
		l.opts.Fired(r, v.StoreTimestamp())
	}
	return nil
}

// Flush persists the cursors if they moved.
func (l *Levels) Flush() error {
	l.mu.Lock()
	if !l.dirty {
		l.mu.Unlock()
		return nil
	}
	f := cursorFile{OffsetTable: map[string]int64{}}
	for i, off := range l.cursors {
		f.OffsetTable[strconv.Itoa(i+1)] = off
	}
	l.dirty = false
	l.mu.Unlock()
	b, err := json.Marshal(f)
	if err == nil {
		err = atomicfile.Write(l.path, b)
	}
	if err != nil {
		l.mu.Lock()
		l.dirty = true
		l.mu.Unlock()
		return fmt.Errorf("schedule: %w", err)
	}
	return nil
}

// Close stops the delivery loop (if started) and persists the cursors.
func (l *Levels) Close() error {
	l.once.Do(func() { close(l.stop) })
	l.mu.Lock()
	started := l.started
	l.mu.Unlock()
	if started {
		<-l.stopped
	}
	return l.Flush()
}

// Cursors returns every level's next queue offset, by level (1-based).
func (l *Levels) Cursors() map[int]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[int]int64, len(l.cursors))
	for i, off := range l.cursors {
		out[i+1] = off
	}
	return out
}

// SetCursors sets levels' cursors (a slave copies its master's) and persists them. Levels
// outside the configured ones are ignored.
func (l *Levels) SetCursors(cursors map[int]int64) error {
	for level, off := range cursors {
		if level >= 1 && level <= len(l.opts.Levels) && off >= 0 {
			l.setCursor(level, off)
		}
	}
	return l.Flush()
}
