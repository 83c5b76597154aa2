package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ternmq/tern/core/config"
	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/store/checkpoint"
	"github.com/ternmq/tern/core/store/consumequeue"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		crashChild() // never returns
	}
	goleak.VerifyTestMain(m)
}

// testConfig returns a configuration with tiny files so that every boundary is crossed quickly.
func testConfig(dir string) Config {
	cfg := DefaultConfig(dir)
	cfg.MappedFileSizeCommitLog = 64 << 10
	cfg.MappedFileSizeConsumeQueue = 20 * 100
	cfg.MaxMessageSize = 16 << 10
	cfg.MaxHashSlotNum = 64
	cfg.MaxIndexNum = 512
	cfg.DiskUsage = func(string) (float64, error) { return 0.1, nil }
	return cfg
}

func openStore(t testing.TB, cfg Config) *Store {
	t.Helper()
	s, err := Open(cfg)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

var bornHost = netip.MustParseAddrPort("10.1.2.3:5555")

func newRecord(topic string, qid int32, body string, props map[string]string) *message.Record {
	p, err := message.AppendProperties(nil, props)
	if err != nil {
		panic(err)
	}
	return &message.Record{
		Topic: topic, QueueID: qid, Body: []byte(body), Properties: string(p),
		BornTimestamp: 1700000000000, BornHost: bornHost,
	}
}

func put(t testing.TB, s *Store, r *message.Record) PutResult {
	t.Helper()
	res, err := s.PutMessage(context.Background(), r)
	if err != nil {
		t.Fatalf("put %s: %v", r.Topic, err)
	}
	return res
}

// waitDispatched waits until every appended record is visible in its ConsumeQueue.
func waitDispatched(t testing.TB, s *Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitDispatched(ctx, s.CommitLogMaxOffset()); err != nil {
		t.Fatalf("dispatch stuck at %d of %d: %v", s.DispatchedOffset(), s.CommitLogMaxOffset(), err)
	}
}

func getAll(t testing.TB, s *Store, topic string, qid int32, from int64, f Filter) ([]message.Record, int64) {
	t.Helper()
	var out []message.Record
	off := from
	for {
		res, err := s.GetMessages(topic, qid, off, 32, 0, f)
		if err != nil {
			t.Fatalf("get %s-%d@%d: %v", topic, qid, off, err)
		}
		for _, b := range res.Messages {
			v, err := message.Parse(b)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			out = append(out, v.Record())
		}
		res.Release()
		if res.Status != Found && res.Status != NoMatchedMessage {
			return out, res.NextBeginOffset
		}
		off = res.NextBeginOffset
	}
}

func TestPutGetRoundTrip(t *testing.T) {
	s := openStore(t, testConfig(t.TempDir()))
	defer s.Close()
	for i := range 10 {
		r := newRecord("TopicA", int32(i%2), fmt.Sprintf("body-%d", i), map[string]string{"TAGS": "t", "UNIQ_KEY": fmt.Sprintf("U%d", i)})
		res := put(t, s, r)
		if res.QueueOffset != int64(i/2) {
			t.Fatalf("message %d: queue offset %d, want %d", i, res.QueueOffset, i/2)
		}
		if r.PhysicalOffset != res.PhysicalOffset || r.QueueOffset != res.QueueOffset {
			t.Fatalf("record fields not filled in: %+v vs %+v", r, res)
		}
	}
	waitDispatched(t, s)
	for qid := int32(0); qid < 2; qid++ {
		got, next := getAll(t, s, "TopicA", qid, 0, nil)
		if len(got) != 5 || next != 5 {
			t.Fatalf("queue %d: %d messages, next %d", qid, len(got), next)
		}
		for i, r := range got {
			want := fmt.Sprintf("body-%d", i*2+int(qid))
			if string(r.Body) != want || r.QueueOffset != int64(i) || r.QueueID != qid || r.StoreHost != s.cfg.StoreHost {
				t.Fatalf("queue %d message %d: %+v", qid, i, r)
			}
		}
	}
	if got := s.MaxOffset("TopicA", 0); got != 5 {
		t.Fatalf("max offset %d", got)
	}
}

func TestGetStatuses(t *testing.T) {
	s := openStore(t, testConfig(t.TempDir()))
	defer s.Close()
	for range 3 {
		put(t, s, newRecord("T", 0, "x", nil))
	}
	waitDispatched(t, s)
	for _, tc := range []struct {
		name   string
		topic  string
		offset int64
		status GetStatus
		next   int64
	}{
		{"unknown queue", "Nope", 0, NoMatchedLogicQueue, 0},
		{"found", "T", 1, Found, 3},
		{"overflow one", "T", 3, OffsetOverflowOne, 3},
		{"overflow badly", "T", 9, OffsetOverflowBadly, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := s.GetMessages(tc.topic, 0, tc.offset, 32, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Release()
			if res.Status != tc.status || res.NextBeginOffset != tc.next {
				t.Fatalf("status %v next %d, want %v next %d", res.Status, res.NextBeginOffset, tc.status, tc.next)
			}
		})
	}
}

func TestSegmentRollOver(t *testing.T) {
	cfg := testConfig(t.TempDir())
	s := openStore(t, cfg)
	body := make([]byte, 3000)
	const n = 100 // ~300 KiB over 64 KiB segments
	for i := range n {
		body[0] = byte(i)
		r := newRecord("Roll", 0, string(body), nil)
		put(t, s, r)
	}
	waitDispatched(t, s)
	if segs := s.cl.Segments().Len(); segs < 4 {
		t.Fatalf("only %d segments", segs)
	}
	check := func(s *Store) {
		got, _ := getAll(t, s, "Roll", 0, 0, nil)
		if len(got) != n {
			t.Fatalf("%d messages, want %d", len(got), n)
		}
		for i, r := range got {
			if r.Body[0] != byte(i) || r.QueueOffset != int64(i) {
				t.Fatalf("message %d: first byte %d offset %d", i, r.Body[0], r.QueueOffset)
			}
			// No record spans a segment boundary: its first and last bytes are in one segment.
			seg := cfg.MappedFileSizeCommitLog
			if first, last := r.PhysicalOffset, r.PhysicalOffset+int64(r.Size())-1; first/seg != last/seg {
				t.Fatalf("message %d at [%d,%d] spans a segment boundary", i, first, last)
			}
		}
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, cfg)
	defer s.Close()
	if s.Recovery().Abnormal {
		t.Fatal("clean close reported as abnormal")
	}
	check(s)
	// Appends go on after a reopen with the right offsets.
	res := put(t, s, newRecord("Roll", 0, "after", nil))
	if res.QueueOffset != n {
		t.Fatalf("queue offset after reopen %d, want %d", res.QueueOffset, n)
	}
}

func TestBatchPut(t *testing.T) {
	s := openStore(t, testConfig(t.TempDir()))
	defer s.Close()
	var recs []*message.Record
	for i := range 5 {
		recs = append(recs, newRecord("Batch", 1, fmt.Sprint(i), nil))
	}
	res, err := s.PutMessages(context.Background(), recs)
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 5 || res.QueueOffset != 0 {
		t.Fatalf("%+v", res)
	}
	phy := res.PhysicalOffset
	for i, r := range recs {
		if r.QueueOffset != int64(i) || r.PhysicalOffset != phy {
			t.Fatalf("record %d: queue offset %d phy %d, want %d %d", i, r.QueueOffset, r.PhysicalOffset, i, phy)
		}
		phy += int64(r.Size())
	}
	waitDispatched(t, s)
	got, _ := getAll(t, s, "Batch", 1, 0, nil)
	if len(got) != 5 {
		t.Fatalf("%d messages", len(got))
	}
}

func TestPutRejects(t *testing.T) {
	s := openStore(t, testConfig(t.TempDir()))
	defer s.Close()
	for _, tc := range []struct {
		name string
		rec  *message.Record
		want error
	}{
		{"empty topic", newRecord("", 0, "x", nil), ErrBadTopic},
		{"slash in topic", newRecord("a/b", 0, "x", nil), ErrBadTopic},
		{"dot dot", newRecord("..", 0, "x", nil), ErrBadTopic},
		{"topic too long", newRecord(string(make([]byte, 128)), 0, "x", nil), ErrBadTopic},
		{"negative queue", newRecord("T", -1, "x", nil), ErrMessageIllegal},
		{"body too large", newRecord("T", 0, string(make([]byte, 17<<10)), nil), ErrMessageTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.PutMessage(context.Background(), tc.rec)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
	if s.CommitLogMaxOffset() != 0 {
		t.Fatalf("rejected messages were written: max offset %d", s.CommitLogMaxOffset())
	}
}

// tagFilter keeps messages whose tags code is in the set and whose TAGS is one of the tags.
type tagFilter map[string]bool

func (f tagFilter) MatchTagsCode(code int64) bool {
	for tag := range f {
		if message.TagsCode(tag) == code {
			return true
		}
	}
	return false
}

func (f tagFilter) MatchRecord(v message.View) bool {
	tag, _ := message.Property(v.Properties(), message.PropertyTags)
	return f[string(tag)]
}

func TestTagFilter(t *testing.T) {
	s := openStore(t, testConfig(t.TempDir()))
	defer s.Close()
	tags := []string{"TagA", "TagB", "TagC", ""}
	for i := range 40 {
		props := map[string]string{}
		if tag := tags[i%4]; tag != "" {
			props["TAGS"] = tag
		}
		put(t, s, newRecord("Tagged", 0, fmt.Sprint(i), props))
	}
	waitDispatched(t, s)
	got, next := getAll(t, s, "Tagged", 0, 0, tagFilter{"TagA": true, "TagC": true})
	if len(got) != 20 || next != 40 {
		t.Fatalf("%d messages next %d", len(got), next)
	}
	for _, r := range got {
		tag := message.ParseProperties([]byte(r.Properties))["TAGS"]
		if tag != "TagA" && tag != "TagC" {
			t.Fatalf("unexpected tag %q", tag)
		}
	}
	// A filter matching nothing scans and moves on.
	res, err := s.GetMessages("Tagged", 0, 0, 32, 0, tagFilter{"TagZ": true})
	if err != nil {
		t.Fatal(err)
	}
	res.Release()
	if res.Status != NoMatchedMessage || res.NextBeginOffset != 40 {
		t.Fatalf("status %v next %d", res.Status, res.NextBeginOffset)
	}
}

func TestTransferLimits(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.MaxTransferBytesOnMessageInMemory = 4000
	s := openStore(t, cfg)
	defer s.Close()
	for range 10 {
		put(t, s, newRecord("Big", 0, string(make([]byte, 1500)), nil))
	}
	waitDispatched(t, s)
	res, err := s.GetMessages("Big", 0, 0, 32, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Release()
	if len(res.Messages) != 2 || res.NextBeginOffset != 2 {
		t.Fatalf("%d messages, next %d; want 2, 2", len(res.Messages), res.NextBeginOffset)
	}
	res2, _ := s.GetMessages("Big", 0, 0, 1, 0, nil)
	defer res2.Release()
	if len(res2.Messages) != 1 {
		t.Fatalf("maxMsgs 1 gave %d", len(res2.Messages))
	}
}

func TestLookups(t *testing.T) {
	now := time.UnixMilli(1_800_000_000_000)
	cfg := testConfig(t.TempDir())
	cfg.Now = func() time.Time { return now }
	s := openStore(t, cfg)
	defer s.Close()
	var phys []int64
	for i := range 30 {
		now = now.Add(time.Second)
		r := newRecord("Look", 0, fmt.Sprint(i), map[string]string{
			"KEYS": fmt.Sprintf("order-%d common", i), "UNIQ_KEY": fmt.Sprintf("UNIQ%04d", i),
		})
		phys = append(phys, put(t, s, r).PhysicalOffset)
	}
	waitDispatched(t, s)

	m, err := s.GetMessage(phys[7])
	if err != nil {
		t.Fatal(err)
	}
	if string(m.View.Body()) != "7" {
		t.Fatalf("by offset: body %q", m.View.Body())
	}
	m.Release()
	if _, err := s.GetMessage(phys[7] + 1); err == nil {
		t.Fatal("reading at a non-record offset succeeded")
	}

	q, err := s.QueryMessage("Look", "order-12", 10, 0, now.UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	if len(q.Messages) != 1 || string(q.Messages[0].Body()) != "12" {
		t.Fatalf("by key: %d results", len(q.Messages))
	}
	q.Release()

	base := int64(1_800_000_000_000)
	q, _ = s.QueryMessage("Look", "common", 5, base+10_000, base+20_000)
	if len(q.Messages) != 5 {
		t.Fatalf("common with limit 5 in range: %d", len(q.Messages))
	}
	for _, v := range q.Messages {
		if ts := v.StoreTimestamp(); ts < base+10_000 || ts > base+20_000 {
			t.Fatalf("result outside the time range: %d", ts)
		}
	}
	q.Release()

	q, _ = s.QueryMessage("Other", "common", 5, 0, now.UnixMilli())
	if len(q.Messages) != 0 {
		t.Fatal("key matched in another topic")
	}
	q.Release()

	q, _ = s.MessageByUniqKey("Look", "UNIQ0021")
	if len(q.Messages) != 1 || string(q.Messages[0].Body()) != "21" {
		t.Fatalf("by unique id: %d results", len(q.Messages))
	}
	q.Release()

	// Offsets by store time: message i was stored at base + (i+1) s.
	for _, tc := range []struct {
		name string
		ts   int64
		want int64
	}{
		{"exact", base + 5_000, 4},
		{"nearer below", base + 5_300, 4},
		{"nearer above", base + 5_700, 5},
		{"before all", base - 100_000, 0},
		{"after all", base + 900_000, 29},
	} {
		got, err := s.OffsetByTime("Look", 0, tc.ts)
		if err != nil || got != tc.want {
			t.Errorf("%s: offset %d err %v, want %d", tc.name, got, err, tc.want)
		}
	}
	if ts, err := s.EarliestMessageTime("Look", 0); err != nil || ts != base+1000 {
		t.Fatalf("earliest %d %v", ts, err)
	}
}

func TestSecondOpenIsRefused(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, testConfig(dir))
	defer s.Close()
	if _, err := Open(testConfig(dir)); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
	}{
		{"flush type", func(c *Config) { c.FlushDiskType = "SOMETIMES" }},
		{"segment size", func(c *Config) { c.MappedFileSizeCommitLog = 100 }},
		{"cq size", func(c *Config) { c.MappedFileSizeConsumeQueue = 30 }},
		{"delete when", func(c *Config) { c.DeleteWhen = "25" }},
		{"ratio", func(c *Config) { c.DiskSpaceCleanForciblyRatio = 85 }},
		{"message size", func(c *Config) { c.MaxMessageSize = 2 << 30 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig(t.TempDir())
			tc.mutate(&cfg)
			if err := cfg.Validate(); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	cfg := DefaultConfig("x")
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults rejected: %v", err)
	}
}

func TestPutAfterClose(t *testing.T) {
	s := openStore(t, testConfig(t.TempDir()))
	s.Close()
	if _, err := s.PutMessage(context.Background(), newRecord("T", 0, "x", nil)); !errors.Is(err, ErrClosed) {
		t.Fatalf("put after close: %v", err)
	}
	if _, err := s.GetMessages("T", 0, 0, 1, 0, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("get after close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

func TestConcurrentPutGet(t *testing.T) {
	arrived := make(chan []Arrival, 1024)
	cfg := testConfig(t.TempDir())
	cfg.FlushDiskType = SyncFlush
	cfg.OnArrival = func(a []Arrival) {
		select {
		case arrived <- append([]Arrival(nil), a...):
		default:
		}
	}
	s := openStore(t, cfg)
	defer s.Close()
	const producers, perProducer, queues = 8, 200, 4
	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perProducer {
				r := newRecord("Conc", int32((p+i)%queues), fmt.Sprintf("%d/%d", p, i), nil)
				if _, err := s.PutMessage(context.Background(), r); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	// Readers follow the queues while producers write.
	seen := make([]map[string]bool, queues)
	for q := range queues {
		seen[q] = map[string]bool{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			off := int64(0)
			deadline := time.Now().Add(20 * time.Second)
			for len(seen[q]) < producers*perProducer/queues && time.Now().Before(deadline) {
				mark := s.DispatchedOffset() // before the read, so no progress after it is missed
				res, err := s.GetMessages("Conc", int32(q), off, 32, 0, nil)
				if err != nil {
					t.Error(err)
					return
				}
				for i, b := range res.Messages {
					v, err := message.Parse(b)
					if err != nil || v.QueueOffset() != res.QueueOffsets[i] || v.QueueID() != int32(q) {
						t.Errorf("queue %d offset %d: bad record (%v)", q, res.QueueOffsets[i], err)
					}
					if seen[q][string(v.Body())] {
						t.Errorf("queue %d: %s read twice", q, v.Body())
					}
					seen[q][string(v.Body())] = true
				}
				res.Release()
				if res.Status == Found {
					off = res.NextBeginOffset
					continue
				}
				// Nothing new in this queue yet: wait for the dispatcher to make progress.
				ctx, cancel := context.WithDeadline(context.Background(), deadline)
				s.WaitDispatched(ctx, mark+1)
				cancel()
			}
		}()
	}
	wg.Wait()
	for q := range queues {
		if n := len(seen[q]); n != producers*perProducer/queues {
			t.Fatalf("queue %d: read %d distinct messages, want %d", q, n, producers*perProducer/queues)
		}
	}
	// Arrivals were reported, with maxima that only grow per queue.
	last := map[int32]int64{}
	for len(arrived) > 0 {
		for _, a := range <-arrived {
			if a.Topic != "Conc" || a.MaxOffset <= last[a.QueueID] && last[a.QueueID] != 0 {
				t.Fatalf("arrival %+v after %d", a, last[a.QueueID])
			}
			last[a.QueueID] = a.MaxOffset
		}
	}
	if len(last) == 0 {
		t.Fatal("no arrivals reported")
	}
}

// TestLightCheckpoint: a light checkpoint flushes only the queues with
// flushConsumeQueueLeastPages written and keeps the dispatch marks of the last thorough one,
// while the CommitLog's mark moves on; a thorough one flushes every queue and moves them all.
func TestLightCheckpoint(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.MappedFileSizeConsumeQueue = 20 * 3000 // room for three pages of entries
	cfg.FlushIntervalConsumeQueue = config.Millis(time.Hour)
	s := openStore(t, cfg)
	defer s.Close()
	load := func() checkpoint.Checkpoint {
		t.Helper()
		cp, _, err := checkpoint.Load(filepath.Join(cfg.StorePathRootDir, fileCheckpoint))
		if err != nil {
			t.Fatal(err)
		}
		return cp
	}
	if err := s.checkpoint(); err != nil {
		t.Fatal(err)
	}
	before := load()
	put(t, s, newRecord("Few", 0, "x", nil)) // one entry: below two pages
	for range 2*4096/20 + 1 {                // into the third page
		put(t, s, newRecord("Many", 0, "y", nil))
	}
	waitDispatched(t, s)
	if _, err := s.cl.Flush(); err != nil {
		t.Fatal(err)
	}
	s.ckMu.Lock()
	err := s.writeCheckpoint(math.MaxInt64, false) // a light checkpoint
	s.ckMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	cp := load()
	if cp.ConsumeQueueDispatched != before.ConsumeQueueDispatched || cp.IndexDispatched != before.IndexDispatched {
		t.Errorf("light checkpoint moved the dispatch marks: %+v, before %+v", cp, before)
	}
	if cp.CommitLogFlushed != s.cl.MaxOffset() {
		t.Errorf("light checkpoint: CommitLog mark %d, want %d", cp.CommitLogFlushed, s.cl.MaxOffset())
	}
	few, many := s.queue([]byte("Few"), 0), s.queue([]byte("Many"), 0)
	if few.FlushedOffset() != 0 || many.FlushedOffset() != many.MaxOffset() {
		t.Errorf("light checkpoint flushed Few to %d (want 0) and Many to %d (want %d)",
			few.FlushedOffset(), many.FlushedOffset(), many.MaxOffset())
	}
	if err := s.checkpoint(); err != nil {
		t.Fatal(err)
	}
	if cp := load(); cp.ConsumeQueueDispatched != s.cl.MaxOffset() || few.FlushedOffset() != 1 {
		t.Errorf("thorough checkpoint: dispatch mark %d (want %d), Few flushed to %d (want 1)",
			cp.ConsumeQueueDispatched, s.cl.MaxOffset(), few.FlushedOffset())
	}
}

// TestGetMessagesSkipsUnreadableRecord: a record whose header does not match its ConsumeQueue
// entry is skipped, not served, with and without a filter (the store reads only the header of
// records no filter looks into).
func TestGetMessagesSkipsUnreadableRecord(t *testing.T) {
	s := openStore(t, testConfig(t.TempDir()))
	defer s.Close()
	var res []PutResult
	for i := range 3 {
		res = append(res, put(t, s, newRecord("T", 0, fmt.Sprint("m", i), map[string]string{message.PropertyTags: "a"})))
	}
	waitDispatched(t, s)
	b, seg, err := s.cl.Read(res[1].PhysicalOffset, res[1].Bytes)
	if err != nil {
		t.Fatal(err)
	}
	binary.BigEndian.PutUint32(b[4:], 0) // the magic code
	seg.Release()
	for _, f := range []Filter{nil, tagFilter{"a": true}} {
		got, next := getAll(t, s, "T", 0, 0, f)
		if len(got) != 2 || string(got[0].Body) != "m0" || string(got[1].Body) != "m2" || next != 3 {
			t.Errorf("filter %v: got %d messages, next offset %d; want m0 and m2, 3", f, len(got), next)
		}
	}
}

// TestFirstPutPreparesQueue checks that a queue's first message creates the queue and its first
// file before PutMessage returns, with the dispatcher held back: the dispatcher must not be the
// one to create it (on its path, creating 10,000 queues delayed every other record by seconds).
// A prepared transaction record, which has no queue entry, creates no queue.
func TestFirstPutPreparesQueue(t *testing.T) {
	cfg := testConfig(t.TempDir())
	s := openStore(t, cfg)
	defer s.Close()
	s.dmu.Lock() // the dispatcher waits for it
	held := true
	defer func() {
		if held { // a failed check: let the dispatcher go before Close
			s.dmu.Unlock()
		}
	}()
	put(t, s, newRecord("Fresh", 2, "first", nil))
	half := newRecord("Half", 0, "prepared", nil)
	half.SysFlag = message.TxPrepared
	put(t, s, half)
	cq := s.queueByName("Fresh", 2)
	if cq == nil {
		t.Fatal("no ConsumeQueue for Fresh-2 after its first message, before dispatch")
	}
	if _, err := os.Stat(filepath.Join(s.queueDir("Fresh", 2), "00000000000000000000")); err != nil {
		t.Fatalf("the queue's first file: %v", err)
	}
	if s.queueByName("Half", 0) != nil {
		t.Fatal("a prepared transaction record created a ConsumeQueue")
	}
	if s.DispatchedOffset() != 0 {
		t.Fatalf("dispatched to %d while held back", s.DispatchedOffset())
	}
	held = false
	s.dmu.Unlock()
	waitDispatched(t, s)
	got, _ := getAll(t, s, "Fresh", 2, 0, nil)
	if len(got) != 1 || string(got[0].Body) != "first" {
		t.Fatalf("Fresh-2 holds %d messages, want the one sent", len(got))
	}
	if cq.MaxOffset() != 1 {
		t.Fatalf("MaxOffset %d, want 1", cq.MaxOffset())
	}
}

// TestOpenQueueConcurrently opens the same new queues from many goroutines at once (run with
// -race): each queue is opened once, and every caller gets it.
func TestOpenQueueConcurrently(t *testing.T) {
	s := openStore(t, testConfig(t.TempDir()))
	defer s.Close()
	const callers, queues = 8, 16
	got := make([][queues]*consumequeue.Queue, callers)
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			for q := range queues {
				cq, err := s.openQueue("Many", int32(q))
				if err != nil {
					t.Errorf("openQueue(Many, %d): %v", q, err)
					return
				}
				got[c][q] = cq
			}
		})
	}
	wg.Wait()
	for q := range queues {
		for c := range callers {
			if got[c][q] == nil || got[c][q] != got[0][q] {
				t.Fatalf("queue %d: caller %d got %p, caller 0 %p", q, c, got[c][q], got[0][q])
			}
		}
	}
	if n := s.queueCount(); n != queues {
		t.Fatalf("%d queues registered, want %d", n, queues)
	}
}
