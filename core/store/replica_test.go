package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/store/segment"
)

var replicaModes = []FlushDiskType{AsyncFlush, SyncFlush}

func replicaConfig(dir string, mode FlushDiskType) Config {
	cfg := testConfig(dir)
	cfg.FlushDiskType = mode
	return cfg
}

var replicaTopics = []string{"RepA", "RepB", "Rep_C"}

// fillMaster puts n messages of random sizes into s: three topics of four queues, single puts
// and batches, a few prepared transaction records (no queue entry). Every message has a unique
// KEYS entry "<tag>-<i>" and a UNIQ_KEY. It returns the keys.
func fillMaster(t testing.TB, s *Store, rng *rand.Rand, n int, tag string) []string {
	t.Helper()
	var keys []string
	for i := 0; i < n; {
		batch := 1
		if rng.IntN(5) == 0 {
			batch = 1 + rng.IntN(4)
		}
		topic := replicaTopics[rng.IntN(len(replicaTopics))]
		var recs []*message.Record
		for j := 0; j < batch && i < n; j++ {
			key := fmt.Sprintf("%s-%d", tag, i)
			body := bytes.Repeat([]byte{byte('a' + i%26)}, 20+rng.IntN(2500))
			r := newRecord(topic, int32(rng.IntN(4)), string(body), map[string]string{
				"KEYS": key + " shared", "UNIQ_KEY": "U" + key, "TAGS": fmt.Sprintf("t%d", i%3)})
			if batch == 1 && rng.IntN(25) == 0 {
				r.SysFlag = message.TxPrepared
			}
			recs = append(recs, r)
			keys = append(keys, key)
			i++
		}
		if _, err := s.PutMessages(context.Background(), recs); err != nil {
			t.Fatalf("put: %v", err)
		}
	}
	return keys
}

// replicateTo copies a's CommitLog into b from b's end up to to (a record boundary of a, at most
// a's end), in reads of random sizes.
func replicateTo(t testing.TB, a, b *Store, rng *rand.Rand, to int64) {
	t.Helper()
	for {
		off := b.CommitLogMaxOffset()
		if off >= to {
			if off > to {
				t.Fatalf("replicated past %d: %d", to, off)
			}
			return
		}
		n := 1 + rng.IntN(20<<10)
		if rng.IntN(4) == 0 {
			n = 1 // one record at a time
		}
		data, release, err := a.ReadCommitLog(off, int(min(int64(n), to-off)))
		if err != nil {
			t.Fatalf("read master at %d: %v", off, err)
		}
		if len(data) == 0 {
			t.Fatalf("read master at %d (end %d): no data", off, a.CommitLogMaxOffset())
		}
		if err := b.AppendReplicated(off, data); err != nil {
			t.Fatalf("append %d bytes at %d: %v", len(data), off, err)
		}
		release()
		if got := b.CommitLogMaxOffset(); got <= off {
			t.Fatalf("slave end %d after appending at %d", got, off)
		}
	}
}

func replicateAll(t testing.TB, a, b *Store, rng *rand.Rand) {
	t.Helper()
	replicateTo(t, a, b, rng, a.CommitLogMaxOffset())
}

// sameCommitLog checks that the CommitLog files of a and b hold the same bytes in [from, to).
func sameCommitLog(t *testing.T, a, b *Store, from, to int64) {
	t.Helper()
	size := a.CommitLogSegmentSize()
	if b.CommitLogSegmentSize() != size {
		t.Fatalf("segment sizes %d and %d", size, b.CommitLogSegmentSize())
	}
	for start := from - from%size; start < to; start += size {
		lo, hi := max(from, start)-start, min(to, start+size)-start
		fa, err := os.ReadFile(filepath.Join(a.dir, dirCommitLog, segment.Name(start)))
		if err != nil {
			t.Fatal(err)
		}
		fb, err := os.ReadFile(filepath.Join(b.dir, dirCommitLog, segment.Name(start)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fa[lo:hi], fb[lo:hi]) {
			i := lo
			for fa[i] == fb[i] {
				i++
			}
			t.Fatalf("segment %d differs at %d", start, start+i)
		}
	}
}

// queueContents returns every message of every queue of s whose record lies at or above minPhy,
// by queue and queue offset, read with GetMessages.
func queueContents(t *testing.T, s *Store, minPhy int64) map[string]map[int64][]byte {
	t.Helper()
	out := map[string]map[int64][]byte{}
	for _, q := range s.Queues() {
		m := map[int64][]byte{}
		off := q.MinOffset
		for {
			res, err := s.GetMessages(q.Topic, q.QueueID, off, 32, 0, nil)
			if err != nil {
				t.Fatalf("get %s-%d@%d: %v", q.Topic, q.QueueID, off, err)
			}
			for i, b := range res.Messages {
				v, err := message.Parse(b)
				if err != nil {
					t.Fatal(err)
				}
				if v.QueueOffset() != res.QueueOffsets[i] {
					t.Fatalf("%s-%d@%d holds a record of queue offset %d", q.Topic, q.QueueID, res.QueueOffsets[i], v.QueueOffset())
				}
				if v.PhysicalOffset() >= minPhy {
					m[res.QueueOffsets[i]] = bytes.Clone(b)
				}
			}
			res.Release()
			if res.Status != Found && res.Status != NoMatchedMessage {
				break
			}
			off = res.NextBeginOffset
		}
		if len(m) > 0 {
			out[fmt.Sprintf("%s-%d", q.Topic, q.QueueID)] = m
		}
	}
	return out
}

func sameQueues(t *testing.T, a, b *Store, minPhy int64) {
	t.Helper()
	qa, qb := queueContents(t, a, minPhy), queueContents(t, b, minPhy)
	if len(qa) == 0 {
		t.Fatal("no messages to compare")
	}
	for q, ma := range qa {
		mb := qb[q]
		if len(ma) != len(mb) {
			t.Fatalf("queue %s: master has %d messages, slave %d", q, len(ma), len(mb))
		}
		for off, m := range ma {
			if !bytes.Equal(m, mb[off]) {
				t.Fatalf("queue %s offset %d differs", q, off)
			}
		}
	}
	if len(qa) != len(qb) {
		t.Fatalf("master has %d queues with messages, slave %d", len(qa), len(qb))
	}
	for _, q := range a.Queues() {
		if got := b.MaxOffset(q.Topic, q.QueueID); got != q.MaxOffset {
			t.Fatalf("queue %s-%d: slave max offset %d, master %d", q.Topic, q.QueueID, got, q.MaxOffset)
		}
	}
}

// keysFound checks that each key of keys is found by QueryMessage in s exactly when want says so,
// at the same physical offset as in ref.
func keysFound(t *testing.T, s, ref *Store, keys []string, want bool) {
	t.Helper()
	for _, key := range keys {
		found := false
		var refPhy int64 = -1
		for _, topic := range replicaTopics {
			if ref != nil {
				r, err := ref.QueryMessage(topic, key, 1, 0, math.MaxInt64)
				if err != nil {
					t.Fatal(err)
				}
				if len(r.Messages) == 1 {
					refPhy = r.Messages[0].PhysicalOffset()
				}
				r.Release()
			}
			r, err := s.QueryMessage(topic, key, 1, 0, math.MaxInt64)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Messages) == 1 {
				found = true
				if ref != nil && r.Messages[0].PhysicalOffset() != refPhy {
					t.Fatalf("key %s at %d, the master has it at %d", key, r.Messages[0].PhysicalOffset(), refPhy)
				}
			}
			r.Release()
		}
		if found != want {
			t.Fatalf("key %s found=%v, want %v", key, found, want)
		}
	}
}

// recordsFrom returns the physical offset of every record of s from from on, and the offsets
// where a segment ends with a blank marker.
func recordsFrom(t *testing.T, s *Store, from int64) (recs, blanks []int64) {
	t.Helper()
	pos := from
	for pos < s.CommitLogMaxOffset() {
		seg := s.cl.Segments().Acquire(pos)
		if seg == nil {
			t.Fatalf("no segment at %d", pos)
		}
		v, err := message.Parse(seg.Bytes()[pos-seg.Start:])
		if errors.Is(err, message.ErrBlank) {
			blanks = append(blanks, pos)
			pos = seg.End()
		} else if err != nil {
			t.Fatalf("record at %d: %v", pos, err)
		} else {
			recs = append(recs, pos)
			pos += int64(v.Size())
		}
		seg.Release()
	}
	return recs, blanks
}

func reopen(t *testing.T, s *Store) *Store {
	t.Helper()
	cfg := s.Config()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, cfg)
	t.Cleanup(func() { s.Close() })
	return s
}

// TestReplicate replicates a master that is being written to into a slave that follows it with
// WaitCommitLog, ReadCommitLog and AppendReplicated, then checks the slave is a copy.
func TestReplicate(t *testing.T) {
	for _, mode := range replicaModes {
		t.Run(flushName(mode), func(t *testing.T) {
			a := openStore(t, replicaConfig(t.TempDir(), mode))
			defer a.Close()
			b := openStore(t, replicaConfig(t.TempDir(), mode))
			defer func() { b.Close() }()

			var final atomic.Int64
			final.Store(-1)
			ctx, producerDone := context.WithCancel(context.Background())
			var keys []string
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { // the producer
				defer wg.Done()
				defer func() {
					final.Store(a.CommitLogMaxOffset()) // before the cancel, even if the puts failed
					producerDone()
				}()
				keys = fillMaster(t, a, rand.New(rand.NewPCG(2, 2)), 500, "k")
			}()
			repErr := make(chan error, 1)
			go func() { // the slave's transfer loop
				rrng := rand.New(rand.NewPCG(3, 3))
				off := b.CommitLogMaxOffset()
				for {
					if f := final.Load(); f >= 0 && off == f {
						repErr <- nil
						return
					}
					if err := a.WaitCommitLog(ctx, off); err != nil {
						if errors.Is(err, context.Canceled) {
							continue // the producer is done: final is set
						}
						repErr <- err
						return
					}
					data, release, err := a.ReadCommitLog(off, 1+rrng.IntN(16<<10))
					if err != nil {
						repErr <- err
						return
					}
					err = b.AppendReplicated(off, data)
					release()
					if err != nil {
						repErr <- fmt.Errorf("append at %d: %w", off, err)
						return
					}
					off += int64(len(data))
				}
			}()
			wg.Wait()
			if err := <-repErr; err != nil {
				t.Fatal(err)
			}
			end := a.CommitLogMaxOffset()
			if end < 4*a.CommitLogSegmentSize() {
				t.Fatalf("the master holds %d bytes: too few to cross several segment ends", end)
			}
			if got := b.CommitLogMaxOffset(); got != end {
				t.Fatalf("slave ends at %d, master at %d", got, end)
			}
			waitDispatched(t, a)
			waitDispatched(t, b)
			sameCommitLog(t, a, b, 0, end)
			sameQueues(t, a, b, 0)
			checkQueuesAgree(t, b)
			keysFound(t, b, a, keys, true)

			b = reopen(t, b)
			if b.CommitLogMaxOffset() != end || b.Recovery().Abnormal {
				t.Fatalf("reopened slave ends at %d (abnormal %v), want %d", b.CommitLogMaxOffset(), b.Recovery().Abnormal, end)
			}
			sameCommitLog(t, a, b, 0, end)
			sameQueues(t, a, b, 0)
			checkQueuesAgree(t, b)
			keysFound(t, b, a, keys[:50], true)

			// The slave can become a master: its queue offsets go on from the master's.
			for _, q := range a.Queues() {
				res := put(t, b, newRecord(q.Topic, q.QueueID, "after", nil))
				if res.QueueOffset != q.MaxOffset {
					t.Fatalf("put on the promoted slave: %s-%d queue offset %d, want %d", q.Topic, q.QueueID, res.QueueOffset, q.MaxOffset)
				}
			}
			waitDispatched(t, b)
			checkQueuesAgree(t, b)
		})
	}
}

// TestReadCommitLog checks the shape of what a master reads out.
func TestReadCommitLog(t *testing.T) {
	s := openStore(t, testConfig(t.TempDir()))
	defer s.Close()
	fillMaster(t, s, rand.New(rand.NewPCG(4, 4)), 200, "r")
	size, end := s.CommitLogSegmentSize(), s.CommitLogMaxOffset()
	recs, blanks := recordsFrom(t, s, 0)
	if len(blanks) < 2 {
		t.Fatalf("%d blank markers: want at least 2", len(blanks))
	}

	data, release, err := s.ReadCommitLog(end, 1<<20)
	if err != nil || data != nil || release == nil {
		t.Fatalf("read at the end: %d bytes, %v", len(data), err)
	}
	release()
	if _, _, err := s.ReadCommitLog(end+1, 1<<20); err == nil {
		t.Fatal("read past the end succeeded")
	}
	// max below a record's size: one whole record.
	for _, phy := range recs[:20] {
		data, release, err := s.ReadCommitLog(phy, 1)
		if err != nil {
			t.Fatal(err)
		}
		v, err := message.Parse(data)
		if err != nil || v.Size() != len(data) || v.PhysicalOffset() != phy {
			t.Fatalf("read at %d with max 1: %d bytes, %v", phy, len(data), err)
		}
		release()
	}
	// A blank marker: the rest of its segment.
	for _, bl := range blanks {
		data, release, err := s.ReadCommitLog(bl, 1)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(data)) != size-bl%size || message.BlankSize(data) != len(data) {
			t.Fatalf("read at the blank at %d: %d bytes", bl, len(data))
		}
		release()
	}
	// Large reads stop at the segment end, on record boundaries, and do not exceed max but for
	// a single record.
	rng := rand.New(rand.NewPCG(5, 5))
	for pos := int64(0); pos < end; {
		maxBytes := 1 + rng.IntN(8<<10)
		data, release, err := s.ReadCommitLog(pos, maxBytes)
		if err != nil {
			t.Fatal(err)
		}
		next := pos + int64(len(data))
		if next/size != pos/size && next%size != 0 {
			t.Fatalf("read [%d,%d) crosses a segment end", pos, next)
		}
		n := 0
		for p := 0; p < len(data); n++ {
			v, err := message.Parse(data[p:])
			if errors.Is(err, message.ErrBlank) {
				if next%size != 0 || message.BlankSize(data[p:]) != len(data)-p {
					t.Fatalf("read at %d: blank marker that does not end the read at a segment end", pos)
				}
				break
			}
			if err != nil {
				t.Fatalf("read at %d: %v", pos, err)
			}
			p += v.Size()
		}
		if n > 1 && len(data) > maxBytes {
			t.Fatalf("read at %d: %d bytes, max %d", pos, len(data), maxBytes)
		}
		release()
		pos = next
	}
}

// TestReplicateFromLaterSegment starts an empty slave at the master's second segment, and then
// one at the master's minimum after retention deleted the first segments.
func TestReplicateFromLaterSegment(t *testing.T) {
	for _, mode := range replicaModes {
		t.Run(flushName(mode), func(t *testing.T) {
			var used atomic.Value
			used.Store(0.1)
			cfg := replicaConfig(t.TempDir(), mode)
			cfg.DiskUsage = func(string) (float64, error) { return used.Load().(float64), nil }
			a := openStore(t, cfg)
			defer a.Close()
			rng := rand.New(rand.NewPCG(6, 6))
			keys := fillMaster(t, a, rng, 500, "l")
			waitDispatched(t, a)
			size, end := a.CommitLogSegmentSize(), a.CommitLogMaxOffset()

			b := openStore(t, replicaConfig(t.TempDir(), mode))
			defer func() { b.Close() }()
			data, release, err := a.ReadCommitLog(size, 4096)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.AppendReplicated(size+1, data); !errors.Is(err, ErrOffsetMismatch) {
				t.Fatalf("empty slave at a non-segment start: %v", err)
			}
			if err := b.AppendReplicated(size, data); err != nil {
				t.Fatal(err)
			}
			release()
			if b.CommitLogMinOffset() != size {
				t.Fatalf("slave starts at %d, want %d", b.CommitLogMinOffset(), size)
			}
			replicateAll(t, a, b, rng)
			waitDispatched(t, b)
			sameCommitLog(t, a, b, size, end)
			sameQueues(t, a, b, size)
			checkQueuesAgree(t, b)
			// Keys of records in the second segment on are found, not those before.
			var kept, gone []string
			for _, key := range keys {
				r, err := a.QueryMessage(replicaTopicOf(t, a, key), key, 1, 0, math.MaxInt64)
				if err != nil || len(r.Messages) != 1 {
					t.Fatalf("master lost key %s: %v", key, err)
				}
				if r.Messages[0].PhysicalOffset() >= size {
					kept = append(kept, key)
				} else {
					gone = append(gone, key)
				}
				r.Release()
			}
			keysFound(t, b, a, kept, true)
			keysFound(t, b, nil, gone, false)

			b = reopen(t, b)
			if b.CommitLogMinOffset() != size || b.CommitLogMaxOffset() != end {
				t.Fatalf("reopened slave holds [%d,%d), want [%d,%d)", b.CommitLogMinOffset(), b.CommitLogMaxOffset(), size, end)
			}
			sameCommitLog(t, a, b, size, end)
			sameQueues(t, a, b, size)
			keysFound(t, b, a, kept[:20], true)
			for _, q := range a.Queues() {
				if res := put(t, b, newRecord(q.Topic, q.QueueID, "after", nil)); res.QueueOffset != q.MaxOffset {
					t.Fatalf("%s-%d: queue offset %d after promotion, want %d", q.Topic, q.QueueID, res.QueueOffset, q.MaxOffset)
				}
			}

			// Retention deletes the master's first segments: a read there is ErrOffsetGone, and
			// a new slave starts at the master's minimum.
			used.Store(0.87) // above diskSpaceCleanForciblyRatio, below the write refusal level
			if res, err := a.Clean(); err != nil || res.SegmentsDeleted == 0 {
				t.Fatalf("clean: %+v %v", res, err)
			}
			used.Store(0.1)
			if _, _, err := a.ReadCommitLog(0, 4096); !errors.Is(err, ErrOffsetGone) {
				t.Fatalf("read below the minimum: %v", err)
			}
			minOff := a.CommitLogMinOffset()
			c := openStore(t, replicaConfig(t.TempDir(), mode))
			defer c.Close()
			data, release, err = a.ReadCommitLog(minOff, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.AppendReplicated(minOff, data); err != nil {
				t.Fatal(err)
			}
			release()
			replicateAll(t, a, c, rng)
			waitDispatched(t, c)
			sameCommitLog(t, a, c, minOff, end)
			sameQueues(t, a, c, minOff)
		})
	}
}

// replicaTopicOf finds the topic of the message with key in s.
func replicaTopicOf(t *testing.T, s *Store, key string) string {
	t.Helper()
	for _, topic := range replicaTopics {
		r, err := s.QueryMessage(topic, key, 1, 0, math.MaxInt64)
		if err != nil {
			t.Fatal(err)
		}
		n := len(r.Messages)
		r.Release()
		if n > 0 {
			return topic
		}
	}
	t.Fatalf("key %s not found", key)
	return ""
}

// dirFiles returns the contents of every file under dir but the lock and abort files.
func dirFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == fileLock || rel == fileAbort || rel == fileCheckpoint {
			return nil
		}
		b, err := os.ReadFile(p)
		out[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func nextOffsSnapshot(s *Store) map[string][]int64 {
	s.omu.Lock()
	defer s.omu.Unlock()
	out := map[string][]int64{}
	for k, v := range s.nextOffs {
		out[k] = slices.Clone(v)
	}
	return out
}

func sameNextOffs(a, b map[string][]int64) bool {
	return maps.EqualFunc(a, b, func(x, y []int64) bool { return slices.Equal(x, y) })
}

// crafted encodes records at phy as a master would, with the given queue offsets.
func crafted(phy int64, topic string, qid int32, qoffs ...int64) []byte {
	var out []byte
	for _, q := range qoffs {
		r := newRecord(topic, qid, "crafted", map[string]string{"KEYS": "crafted"})
		r.StoreHost = bornHost
		r.QueueOffset, r.PhysicalOffset = q, phy+int64(len(out))
		r.BodyCRC = message.BodyCRC(r.Body)
		out = message.AppendRecord(out, r)
	}
	return out
}

// TestAppendReplicatedRefuses: bad input is refused as a whole and changes nothing.
func TestAppendReplicatedRefuses(t *testing.T) {
	for _, mode := range replicaModes {
		t.Run(flushName(mode), func(t *testing.T) {
			a := openStore(t, replicaConfig(t.TempDir(), mode))
			defer a.Close()
			b := openStore(t, replicaConfig(t.TempDir(), mode))
			defer b.Close()
			rng := rand.New(rand.NewPCG(7, 7))
			fillMaster(t, a, rng, 300, "x")
			size := a.CommitLogSegmentSize()
			recs, _ := recordsFrom(t, a, 0)
			// Bring the slave to a record in the middle of the second segment.
			var p int64
			for _, r := range recs {
				if r > size+size/2 {
					p = r
					break
				}
			}
			replicateTo(t, a, b, rng, p)
			waitDispatched(t, b)
			good, release, err := a.ReadCommitLog(p, 8<<10)
			if err != nil {
				t.Fatal(err)
			}
			defer release()
			v, err := message.Parse(good)
			if err != nil || len(good) == v.Size() {
				t.Fatalf("want several records at %d: %d bytes, %v", p, len(good), err)
			}
			second := v.Size() // the second record starts there
			files, offs := dirFiles(t, b.dir), nextOffsSnapshot(b)

			flip := func(at int) []byte { d := bytes.Clone(good); d[at] ^= 0x40; return d }
			v2, _ := message.Parse(good[second:])
			bodyAt := second + bytes.Index(v2, v2.Body())
			topicAt := second + bytes.Index(v2, v2.Topic())
			var q QueueInfo // a queue of the slave with messages
			for _, bq := range b.Queues() {
				if bq.MaxOffset > bq.MinOffset {
					q = bq
				}
			}
			segEnd := p - p%size + size
			blank := message.AppendBlank(nil, int(segEnd-p)-8)
			cases := []struct {
				name   string
				offset int64
				data   []byte
				want   error
			}{
				{"offset past the end", p + int64(len(good)), good, ErrOffsetMismatch},
				{"offset before the end", p - 1, good, ErrOffsetMismatch},
				{"offset at a segment start", segEnd, good, ErrOffsetMismatch},
				{"body crc", p, flip(bodyAt), ErrMessageIllegal},
				{"truncated", p, good[:len(good)-1], ErrMessageIllegal},
				{"header only", p, good[:6], ErrMessageIllegal},
				{"topic", p, flip(topicAt), ErrMessageIllegal},
				{"magic", p, flip(second + 5), ErrMessageIllegal},
				{"offset of a later record", p + int64(second), good[second:], ErrOffsetMismatch},
				{"data of another offset", p, good[second:], ErrMessageIllegal},
				{"crosses the segment end", p, append(bytes.Clone(good), make([]byte, segEnd-p)...), ErrMessageIllegal},
				{"blank marker of the wrong size", p, blank, ErrMessageIllegal},
				{"queue offset taken", p, crafted(p, q.Topic, q.QueueID, q.MaxOffset-1), ErrMessageIllegal},
				{"queue offset gap", p, crafted(p, q.Topic, q.QueueID, q.MaxOffset+5), ErrMessageIllegal},
				{"queue offset goes back in a batch", p, crafted(p, "Fresh", 0, 7, 8, 7), ErrMessageIllegal},
				{"valid then bad queue offset", p, append(bytes.Clone(good), crafted(p+int64(len(good)), q.Topic, q.QueueID, 0)...), ErrMessageIllegal},
				{"negative queue id", p, craftedQueue(p, -1), ErrMessageIllegal},
				{"huge queue id", p, craftedQueue(p, 1<<30), ErrMessageIllegal},
			}
			for _, c := range cases {
				err := b.AppendReplicated(c.offset, c.data)
				if !errors.Is(err, c.want) {
					t.Fatalf("%s: %v, want %v", c.name, err, c.want)
				}
				if b.CommitLogMaxOffset() != p {
					t.Fatalf("%s: the slave's end moved to %d", c.name, b.CommitLogMaxOffset())
				}
				if !sameNextOffs(offs, nextOffsSnapshot(b)) {
					t.Fatalf("%s: queue offsets changed", c.name)
				}
			}
			if _, err := b.cl.Flush(); err != nil {
				t.Fatal(err)
			}
			if got := dirFiles(t, b.dir); !maps.EqualFunc(files, got, bytes.Equal) {
				t.Fatal("refused appends changed the slave's files")
			}
			// A fresh queue may start at any offset.
			if err := b.AppendReplicated(p, crafted(p, "Fresh", 3, 1000, 1001)); err != nil {
				t.Fatal(err)
			}
			waitDispatched(t, b)
			if got := b.MaxOffset("Fresh", 3); got != 1002 {
				t.Fatalf("fresh queue max %d, want 1002", got)
			}
			if err := b.Truncate(p); err != nil {
				t.Fatal(err)
			}
			replicateAll(t, a, b, rng)
			waitDispatched(t, a)
			waitDispatched(t, b)
			sameCommitLog(t, a, b, 0, a.CommitLogMaxOffset())
			sameQueues(t, a, b, 0)
			checkQueuesAgree(t, b)
		})
	}
}

func craftedQueue(phy int64, qid int32) []byte {
	r := newRecord("Q", 0, "x", nil)
	r.StoreHost, r.PhysicalOffset = bornHost, phy
	r.BodyCRC = message.BodyCRC(r.Body)
	b := message.AppendRecord(nil, r)
	b[12], b[13], b[14], b[15] = byte(qid>>24), byte(qid>>16), byte(qid>>8), byte(qid)
	return b
}

// copyDir copies the files of an open store, as a crash would leave them (the page cache is the
// files' contents).
func copyDir(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(dst)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	return to
}

// TestTruncate cuts a slave in the middle of a segment and at a segment start, checks that the
// cut records are gone everywhere (also after a crash and a reopen), then replicates a new master
// whose log diverged at the cut.
func TestTruncate(t *testing.T) {
	for _, mode := range replicaModes {
		for _, where := range []string{"mid-segment", "segment-start", "blank-marker"} {
			t.Run(flushName(mode)+"/"+where, func(t *testing.T) { testTruncate(t, mode, where) })
		}
	}
}

func testTruncate(t *testing.T, mode FlushDiskType, where string) {
	a := openStore(t, replicaConfig(t.TempDir(), mode))
	defer a.Close()
	b := openStore(t, replicaConfig(t.TempDir(), mode))
	defer func() { b.Close() }()
	rng := rand.New(rand.NewPCG(8, uint64(len(where))))
	keys := fillMaster(t, a, rng, 500, "old")
	waitDispatched(t, a)
	size := a.CommitLogSegmentSize()
	recs, blanks := recordsFrom(t, a, 0)
	var cut int64
	switch where {
	case "mid-segment":
		for _, r := range recs {
			if r > 2*size+size/3 {
				cut = r
				break
			}
		}
	case "segment-start":
		cut = 2 * size
	case "blank-marker":
		cut = blanks[1]
	}
	replicateAll(t, a, b, rng)
	waitDispatched(t, b)

	// Readers pull from the slave while it is cut.
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, q := range b.Queues() {
					res, err := b.GetMessages(q.Topic, q.QueueID, 0, 32, 0, nil)
					if err == nil {
						for _, m := range res.Messages {
							message.Parse(m)
						}
						res.Release()
					}
				}
				if data, release, err := b.ReadCommitLog(cut-cut%size, 64<<10); err == nil {
					message.Parse(data)
					release()
				}
				runtime.Gosched()
			}
		}()
	}
	if err := b.Truncate(cut + 1); err == nil {
		t.Fatal("truncate inside a record succeeded")
	}
	if err := b.Truncate(cut); err != nil {
		t.Fatal(err)
	}
	close(stop)
	readers.Wait()
	if err := b.Truncate(cut + 100); err != nil { // above the end: nothing to do
		t.Fatal(err)
	}

	// What survives is what the master held below the cut.
	var survivors, victims []string
	for _, key := range keys {
		r, err := a.QueryMessage(replicaTopicOf(t, a, key), key, 1, 0, math.MaxInt64)
		if err != nil || len(r.Messages) != 1 {
			t.Fatalf("master lost %s", key)
		}
		if r.Messages[0].PhysicalOffset() < cut {
			survivors = append(survivors, key)
		} else {
			victims = append(victims, key)
		}
		r.Release()
	}
	if len(victims) == 0 || len(survivors) == 0 {
		t.Fatalf("cut at %d: %d survivors, %d victims", cut, len(survivors), len(victims))
	}
	checkCut := func(s *Store) {
		t.Helper()
		if s.CommitLogMaxOffset() != cut {
			t.Fatalf("the log ends at %d, want %d", s.CommitLogMaxOffset(), cut)
		}
		if s.DispatchedOffset() != cut {
			t.Fatalf("dispatched to %d, want %d", s.DispatchedOffset(), cut)
		}
		want := queueContents(t, a, 0)
		got := queueContents(t, s, 0)
		for q, m := range want {
			for off, msg := range m {
				v, _ := message.Parse(msg)
				g, ok := got[q][off]
				if v.PhysicalOffset() < cut && !bytes.Equal(g, msg) {
					t.Fatalf("%s@%d lost or changed by the cut", q, off)
				}
				if v.PhysicalOffset() >= cut && ok {
					t.Fatalf("%s@%d (at %d) survived the cut at %d", q, off, v.PhysicalOffset(), cut)
				}
			}
		}
		for _, q := range a.Queues() {
			n := s.MaxOffset(q.Topic, q.QueueID)
			res, err := s.GetMessages(q.Topic, q.QueueID, n, 32, 0, nil)
			if err != nil || (res.Status != OffsetOverflowOne && res.Status != NoMessageInQueue) {
				t.Fatalf("%s-%d: get at the new max %d: %v %v", q.Topic, q.QueueID, n, res.Status, err)
			}
			res.Release()
		}
		for _, phy := range recs {
			if phy >= cut {
				if m, err := s.GetMessage(phy); err == nil {
					m.Release()
					t.Fatalf("record at %d readable after the cut at %d", phy, cut)
				}
				break
			}
		}
		checkQueuesAgree(t, s)
		keysFound(t, s, a, survivors[len(survivors)-20:], true)
		keysFound(t, s, nil, victims, false)
	}
	checkCut(b)

	// A crash right after Truncate: the files as they are now.
	crashed := openStore(t, replicaConfig(copyDir(t, b.dir), mode))
	if !crashed.Recovery().Abnormal {
		t.Fatal("the copy was not seen as an unclean stop")
	}
	waitDispatched(t, crashed)
	checkCut(crashed)
	if err := crashed.Close(); err != nil {
		t.Fatal(err)
	}

	// A new master whose log is the old one's up to the cut, then different.
	c := openStore(t, replicaConfig(t.TempDir(), mode))
	defer c.Close()
	replicateTo(t, a, c, rng, cut)
	newKeys := fillMaster(t, c, rng, 300, "new")
	replicateAll(t, c, b, rng)
	waitDispatched(t, b)
	waitDispatched(t, c)
	check := func(s *Store) {
		t.Helper()
		sameCommitLog(t, c, s, 0, c.CommitLogMaxOffset())
		sameQueues(t, c, s, 0)
		checkQueuesAgree(t, s)
		keysFound(t, s, c, newKeys[:30], true)
		keysFound(t, s, c, survivors[len(survivors)-20:], true)
		keysFound(t, s, nil, victims, false)
	}
	check(b)
	b = reopen(t, b)
	check(b)
}

// TestTruncateEverything cuts a log at its first segment and starts it again elsewhere.
func TestTruncateEverything(t *testing.T) {
	for _, mode := range replicaModes {
		t.Run(flushName(mode), func(t *testing.T) {
			a := openStore(t, replicaConfig(t.TempDir(), mode))
			defer a.Close()
			b := openStore(t, replicaConfig(t.TempDir(), mode))
			defer func() { b.Close() }()
			rng := rand.New(rand.NewPCG(9, 9))
			fillMaster(t, a, rng, 300, "e")
			recs, _ := recordsFrom(t, a, 0)
			to := recs[len(recs)/2]
			if to < a.CommitLogSegmentSize() {
				t.Fatalf("half the records fit in the first segment")
			}
			replicateTo(t, a, b, rng, to)
			if err := b.Truncate(0); err != nil {
				t.Fatal(err)
			}
			if b.CommitLogMaxOffset() != 0 || b.cl.Segments().Len() != 0 {
				t.Fatalf("after cutting everything: end %d, %d segments", b.CommitLogMaxOffset(), b.cl.Segments().Len())
			}
			for _, q := range b.Queues() {
				if q.MaxOffset != q.MinOffset {
					t.Fatalf("queue %s-%d keeps [%d,%d)", q.Topic, q.QueueID, q.MinOffset, q.MaxOffset)
				}
			}
			b = reopen(t, b)
			// Start again at the master's second segment.
			size := a.CommitLogSegmentSize()
			data, release, err := a.ReadCommitLog(size, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.AppendReplicated(size, data); err != nil {
				t.Fatal(err)
			}
			release()
			replicateAll(t, a, b, rng)
			waitDispatched(t, a)
			waitDispatched(t, b)
			sameCommitLog(t, a, b, size, a.CommitLogMaxOffset())
			sameQueues(t, a, b, size)
			b = reopen(t, b)
			sameQueues(t, a, b, size)
		})
	}
}

// TestWaitCommitLog: a waiter wakes on a put and on a replicated append, and returns when its
// context ends or the store closes.
func TestWaitCommitLog(t *testing.T) {
	for _, mode := range replicaModes {
		t.Run(flushName(mode), func(t *testing.T) {
			a := openStore(t, replicaConfig(t.TempDir(), mode))
			defer a.Close()
			b := openStore(t, replicaConfig(t.TempDir(), mode))
			defer b.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()

			wait := func(s *Store, c context.Context, off int64) chan error {
				done := make(chan error, 1)
				n := s.growWaiters.Load()
				go func() { done <- s.WaitCommitLog(c, off) }()
				for s.growWaiters.Load() == n { // until it waits
					select {
					case err := <-done:
						t.Fatalf("returned before anything happened: %v", err)
					default:
					}
					runtime.Gosched()
				}
				select {
				case err := <-done:
					t.Fatalf("returned before anything happened: %v", err)
				default:
				}
				return done
			}
			// A put wakes it.
			done := wait(a, ctx, a.CommitLogMaxOffset())
			put(t, a, newRecord("W", 0, "one", nil))
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			// Nothing to wait for.
			if err := a.WaitCommitLog(ctx, a.CommitLogMaxOffset()-1); err != nil {
				t.Fatal(err)
			}
			// A replicated append wakes it.
			done = wait(b, ctx, 0)
			data, release, err := a.ReadCommitLog(0, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.AppendReplicated(0, data); err != nil {
				t.Fatal(err)
			}
			release()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			// Several waiters, one put.
			var dones []chan error
			for range 3 {
				dones = append(dones, wait(a, ctx, a.CommitLogMaxOffset()))
			}
			put(t, a, newRecord("W", 0, "two", nil))
			for _, d := range dones {
				if err := <-d; err != nil {
					t.Fatal(err)
				}
			}
			// The context ends.
			cctx, ccancel := context.WithCancel(ctx)
			done = wait(a, cctx, a.CommitLogMaxOffset())
			ccancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Fatalf("after cancel: %v", err)
			}
			// The store closes.
			done = wait(b, ctx, b.CommitLogMaxOffset())
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			if err := <-done; !errors.Is(err, ErrClosed) {
				t.Fatalf("after close: %v", err)
			}
			if err := b.WaitCommitLog(ctx, b.CommitLogMaxOffset()); !errors.Is(err, ErrClosed) {
				t.Fatalf("on a closed store: %v", err)
			}
			if a.growWaiters.Load() != 0 || b.growWaiters.Load() != 0 {
				t.Fatal("waiters still counted")
			}
		})
	}
}

// fuzzConfig is the configuration of FuzzAppendReplicated's slave; its seed corpus is encoded
// for it (records at offset 0, 64 KiB segments).
func fuzzConfig(dir string) Config { return testConfig(dir) }

// fuzzDir returns a directory for the fuzz target's store: on tmpfs (/dev/shm) where there is
// one, since each input costs a dozen fsyncs (segment creation, Truncate, checkpoints), which
// on a disk hold the target to tens of inputs a second.
func fuzzDir(f *testing.F) string {
	if dir, err := os.MkdirTemp("/dev/shm", "tern-fuzz-"); err == nil {
		f.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	}
	return f.TempDir()
}

// validBatch returns records at offset phy of s that s accepts: their queue offsets are the
// store's next ones.
func validBatch(s *Store, phy int64, n int) []byte {
	var out []byte
	next := nextOffsSnapshot(s)
	for i := range n {
		qid := int32(i % 2)
		var qoff int64
		if offs := next["Valid"]; int(qid) < len(offs) {
			qoff = offs[qid]
		}
		r := newRecord("Valid", qid, fmt.Sprintf("valid-%d", i), map[string]string{"KEYS": fmt.Sprintf("v%d", i)})
		r.StoreHost = bornHost
		r.QueueOffset, r.PhysicalOffset = qoff+int64(i/2), phy+int64(len(out))
		r.BodyCRC = message.BodyCRC(r.Body)
		out = message.AppendRecord(out, r)
	}
	return out
}

// FuzzAppendReplicated feeds arbitrary bytes to an empty slave. A refused call must change
// nothing; an accepted one must leave a consistent store; either way the store must then still
// take valid data.
func FuzzAppendReplicated(f *testing.F) {
	s := openStore(f, fuzzConfig(fuzzDir(f)))
	f.Cleanup(func() { s.Close() })
	f.Add(validBatch(s, 0, 3))
	f.Add(message.AppendBlank(nil, 64<<10))
	f.Fuzz(func(t *testing.T, data []byte) {
		offs := nextOffsSnapshot(s)
		if s.CommitLogMaxOffset() != 0 || s.cl.Segments().Len() != 0 {
			t.Fatalf("not empty at the start: end %d", s.CommitLogMaxOffset())
		}
		err := s.AppendReplicated(0, data)
		if err != nil {
			if !errors.Is(err, ErrMessageIllegal) {
				t.Fatalf("refused with %v", err)
			}
			if s.CommitLogMaxOffset() != 0 || s.cl.Segments().Len() != 0 || !sameNextOffs(offs, nextOffsSnapshot(s)) {
				t.Fatalf("a refused append changed the store: end %d", s.CommitLogMaxOffset())
			}
		} else if len(data) > 0 {
			var got []byte
			for off := int64(0); off < s.CommitLogMaxOffset(); {
				b, release, err := s.ReadCommitLog(off, 1<<20)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, b...)
				release()
				off += int64(len(b))
			}
			if len(got) < len(data) || !bytes.Equal(got[:len(data)], data) || bytes.ContainsFunc(got[len(data):], func(r rune) bool { return r != 0 }) {
				t.Fatal("read back other bytes")
			}
			waitDispatched(t, s)
			checkQueuesAgree(t, s)
			if err := s.Truncate(0); err != nil {
				t.Fatal(err)
			}
		}
		valid := validBatch(s, 0, 4)
		if err := s.AppendReplicated(0, valid); err != nil {
			t.Fatalf("valid data refused after that: %v", err)
		}
		waitDispatched(t, s)
		checkQueuesAgree(t, s)
		for qid := range int32(2) {
			res, err := s.GetMessages("Valid", qid, s.MaxOffset("Valid", qid)-2, 32, 0, nil)
			if err != nil || len(res.Messages) != 2 {
				t.Fatalf("valid data not readable: %v %v", res.Status, err)
			}
			res.Release()
		}
		if err := s.Truncate(0); err != nil {
			t.Fatal(err)
		}
	})
}

// BenchmarkReplicate measures a slave's catch-up: ReadCommitLog on a master and AppendReplicated
// on the slave, 256 KiB at a time, of 1 KiB messages (one op is one message). The slave's
// dispatcher runs meanwhile, as it would.
func BenchmarkReplicate(b *testing.B) {
	for _, mode := range replicaModes {
		b.Run(flushName(mode), func(b *testing.B) {
			cfg := func(dir string) Config {
				c := benchConfig(dir, mode)
				c.MappedFileSizeCommitLog = 16 << 20
				return c
			}
			a := openStore(b, cfg(b.TempDir()))
			defer a.Close()
			s := openStore(b, cfg(b.TempDir()))
			defer s.Close()
			props := benchProps(0, 1, "TagA")[0]
			body := benchBody(1024)
			const window = 32 << 10 // messages in the master: 32 MiB
			var recs []*message.Record
			for i := range window {
				recs = append(recs, &message.Record{Topic: "Bench", QueueID: int32(i % 8), Body: []byte(body), Properties: props, BornHost: bornHost})
				if len(recs) == 64 {
					if _, err := a.PutMessages(context.Background(), recs); err != nil {
						b.Fatal(err)
					}
					recs = nil
				}
			}
			size := recs0Size(b, a)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; {
				off := s.CommitLogMaxOffset()
				if off == a.CommitLogMaxOffset() {
					b.StopTimer()
					if err := s.Truncate(0); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					continue
				}
				data, release, err := a.ReadCommitLog(off, 256<<10)
				if err != nil {
					b.Fatal(err)
				}
				if err := s.AppendReplicated(off, data); err != nil {
					b.Fatal(err)
				}
				release()
				done += len(data) / size
			}
			b.StopTimer()
		})
	}
}

func recs0Size(b *testing.B, s *Store) int {
	data, release, err := s.ReadCommitLog(0, 1)
	if err != nil {
		b.Fatal(err)
	}
	defer release()
	return len(data)
}
