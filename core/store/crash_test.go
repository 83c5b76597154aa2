package store

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ternmq/tern/core/message"
)

// The crash tests run the test binary again as a child process that appends to a store and
// reports every acknowledged append over a pipe. The parent SIGKILLs it at a random point,
// reopens the store (an unclean-stop recovery) and checks that every acknowledged record is
// there, intact, and that the ConsumeQueues agree with the CommitLog.

const (
	crashChildEnv  = "TERN_STORE_CRASH_CHILD" // set to the store directory in the child
	crashModeEnv   = "TERN_STORE_CRASH_MODE"  // ASYNC_FLUSH or SYNC_FLUSH
	crashRoundEnv  = "TERN_STORE_CRASH_ROUND"
	crashBatchEnv  = "TERN_STORE_CRASH_BATCH" // records per PutMessages call
	crashTopic     = "Crash"
	crashQueues    = 4
	crashAppenders = 4
	ackSize        = 32 // seq, physical offset, queue offset, queue id + size
)

// ack is what the child reports for each acknowledged append.
type ack struct {
	seq, phy, qoff int64
	qid, size      int32
}

// crashConfig is the store configuration of the crash tests: testConfig's, with room for
// batches of 64 KiB when the appends are batches (of more than one record).
func crashConfig(dir string, batch int) Config {
	cfg := testConfig(dir)
	if batch > 1 {
		cfg.MappedFileSizeCommitLog, cfg.MaxMessageSize = 4<<20, 128<<10
	}
	return cfg
}

// crashChild is the child's main: append until killed.
func crashChild() {
	batch := 1
	fmt.Sscan(os.Getenv(crashBatchEnv), &batch)
	cfg := crashConfig(os.Getenv(crashChildEnv), batch)
	cfg.FlushDiskType = FlushDiskType(os.Getenv(crashModeEnv))
	s, err := Open(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(2)
	}
	var round int64
	fmt.Sscan(os.Getenv(crashRoundEnv), &round)
	out := bufio.NewWriterSize(os.Stdout, 4096)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range crashAppenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(round), uint64(g)))
			recs := make([]*message.Record, batch)
			for i := int64(0); ; {
				for k := range recs {
					seq := round<<40 | int64(g)<<32 | i
					i++
					body := make([]byte, 8+rng.IntN(600))
					binary.BigEndian.PutUint64(body, uint64(seq))
					for j := 8; j < len(body); j++ {
						body[j] = byte(seq) + byte(j)
					}
					recs[k] = &message.Record{Topic: crashTopic, QueueID: int32(g % crashQueues), Body: body,
						Properties: fmt.Sprintf("KEYS\x01k%d\x02UNIQ_KEY\x01U%d", seq, seq), BornHost: bornHost}
				}
				if _, err := s.PutMessages(context.Background(), recs); err != nil {
					fmt.Fprintln(os.Stderr, "child put:", err)
					os.Exit(3)
				}
				mu.Lock()
				for _, r := range recs { // the store filled in each record's offsets
					var b [ackSize]byte
					binary.BigEndian.PutUint64(b[0:], binary.BigEndian.Uint64(r.Body))
					binary.BigEndian.PutUint64(b[8:], uint64(r.PhysicalOffset))
					binary.BigEndian.PutUint64(b[16:], uint64(r.QueueOffset))
					binary.BigEndian.PutUint32(b[24:], uint32(r.QueueID))
					binary.BigEndian.PutUint32(b[28:], uint32(r.Size()))
					out.Write(b[:])
				}
				out.Flush() // the acks leave the process only after the append was acknowledged
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	os.Exit(0)
}

func TestCrashRecoverySync(t *testing.T)  { testCrashRecovery(t, SyncFlush, 300, 1) }
func TestCrashRecoveryAsync(t *testing.T) { testCrashRecovery(t, AsyncFlush, 3000, 1) }

// TestCrashRecoveryAsyncBatches appends batches of 128 records, about 57 KiB each: with
// ASYNC_FLUSH and no small appends preparing the log ahead, the CommitLog writes every one with
// pwrite instead of storing it into the mapping (commitlog's writeDirect).
func TestCrashRecoveryAsyncBatches(t *testing.T) { testCrashRecovery(t, AsyncFlush, 6000, 128) }

// testCrashRecovery kills a child appending batch records at a time after up to
// maxAcksBeforeKill acknowledged records, round after round, and checks the store each time.
func testCrashRecovery(t *testing.T, mode FlushDiskType, maxAcksBeforeKill, batch int) {
	if testing.Short() {
		t.Skip("crash test runs child processes")
	}
	const minRounds = 20
	budget := 90 * time.Second // hard limit for the required rounds
	extra := 10 * time.Second  // more rounds while they are cheap
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	acked := map[int64]ack{}
	start := time.Now()
	rounds := 0
	for ; rounds < minRounds || (rounds < 40 && time.Since(start) < extra); rounds++ {
		if time.Since(start) > budget {
			t.Fatalf("only %d rounds in %v", rounds, budget)
		}
		killAfter := 1 + rng.IntN(maxAcksBeforeKill)
		got := runCrashChild(t, dir, mode, rounds, killAfter, batch)
		for _, a := range got {
			acked[a.seq] = a
		}
		verifyAfterCrash(t, crashConfig(dir, batch), acked, rounds)
	}
	t.Logf("%s: %d rounds, %d acknowledged records verified, %v", mode, rounds, len(acked), time.Since(start).Round(time.Millisecond))
}

// runCrashChild starts a child appending to dir, SIGKILLs it once it has acknowledged killAfter
// appends, and returns every acknowledgement it sent (including those still in the pipe).
func runCrashChild(t *testing.T, dir string, mode FlushDiskType, round, killAfter, batch int) []ack {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, crashModeEnv+"="+string(mode), fmt.Sprintf("%s=%d", crashRoundEnv, round),
		fmt.Sprintf("%s=%d", crashBatchEnv, batch))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr safeBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acks []ack
	r := bufio.NewReader(stdout)
	var b [ackSize]byte
	killed := false
	for {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				break
			}
			t.Fatalf("round %d: read acks: %v", round, err)
		}
		acks = append(acks, ack{
			seq: int64(binary.BigEndian.Uint64(b[0:])), phy: int64(binary.BigEndian.Uint64(b[8:])),
			qoff: int64(binary.BigEndian.Uint64(b[16:])), qid: int32(binary.BigEndian.Uint32(b[24:])),
			size: int32(binary.BigEndian.Uint32(b[28:])),
		})
		if !killed && len(acks) >= killAfter {
			cmd.Process.Signal(syscall.SIGKILL)
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("round %d: child exited by itself after %d acks: %v\n%s", round, len(acks), err, stderr.String())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("round %d: child did not die of SIGKILL: %v\n%s", round, err, stderr.String())
	}
	return acks
}

// verifyAfterCrash reopens the store and checks every acknowledged record and the
// ConsumeQueue/CommitLog agreement, then closes it cleanly for the next round.
func verifyAfterCrash(t *testing.T, cfg Config, acked map[int64]ack, round int) {
	t.Helper()
	s, err := Open(cfg)
	if err != nil {
		t.Fatalf("round %d: reopen after kill: %v", round, err)
	}
	defer s.Close()
	if !s.Recovery().Abnormal {
		t.Fatalf("round %d: the kill was not detected as an unclean stop", round)
	}
	for seq, a := range acked {
		m, err := s.GetMessage(a.phy)
		if err != nil {
			t.Fatalf("round %d: acknowledged record seq %x at %d lost: %v", round, seq, a.phy, err)
		}
		v := m.View
		if got := int64(binary.BigEndian.Uint64(v.Body())); got != seq || v.QueueOffset() != a.qoff || v.QueueID() != a.qid || v.Size() != int(a.size) {
			m.Release()
			t.Fatalf("round %d: record at %d is seq %x qoff %d, want seq %x qoff %d", round, a.phy, got, v.QueueOffset(), seq, a.qoff)
		}
		m.Release()
		res, err := s.GetMessages(crashTopic, a.qid, a.qoff, 1, 0, nil)
		if err != nil || res.Status != Found || res.QueueOffsets[0] != a.qoff {
			t.Fatalf("round %d: consumequeue %d has no entry at %d for seq %x: %v %v", round, a.qid, a.qoff, seq, res.Status, err)
		}
		v, _ = message.Parse(res.Messages[0])
		if v.PhysicalOffset() != a.phy {
			t.Fatalf("round %d: consumequeue %d@%d points at %d, want %d", round, a.qid, a.qoff, v.PhysicalOffset(), a.phy)
		}
		res.Release()
		if seq>>40 == int64(round) { // this round's records: the key index was rebuilt too
			q, err := s.QueryMessage(crashTopic, fmt.Sprintf("k%d", seq), 4, 0, math.MaxInt64)
			if err != nil || len(q.Messages) != 1 || q.Messages[0].PhysicalOffset() != a.phy {
				t.Fatalf("round %d: key k%d of the record at %d: %d results, %v", round, seq, a.phy, len(q.Messages), err)
			}
			q.Release()
		}
	}
	checkQueuesAgree(t, s)
}

// checkQueuesAgree checks that every consumable CommitLog record (not a prepared or rolled-back
// transaction record) has the ConsumeQueue entry its queue offset names, and that every entry
// points at such a record.
func checkQueuesAgree(t *testing.T, s *Store) {
	t.Helper()
	counts := map[string]int64{}
	_, err := s.walk(s.CommitLogMinOffset(), s.CommitLogMaxOffset(), func(v message.View) error {
		if err := v.CheckCRC(); err != nil {
			return err
		}
		if tx := message.TxType(v.SysFlag()); tx == message.TxPrepared || tx == message.TxRollback {
			return nil // no queue entry
		}
		key := fmt.Sprintf("%s-%d", v.Topic(), v.QueueID())
		counts[key]++
		cq := s.queueByName(string(v.Topic()), v.QueueID())
		if cq == nil {
			return fmt.Errorf("no consumequeue %s", key)
		}
		e, err := cq.Get(v.QueueOffset())
		if err != nil {
			return fmt.Errorf("%s offset %d: %w", key, v.QueueOffset(), err)
		}
		if e.PhysicalOffset != v.PhysicalOffset() || int(e.Size) != v.Size() {
			return fmt.Errorf("%s offset %d: entry %+v, record at %d size %d", key, v.QueueOffset(), e, v.PhysicalOffset(), v.Size())
		}
		return nil
	})
	if err != nil {
		t.Fatalf("commitlog/consumequeue disagree: %v", err)
	}
	for _, q := range s.Queues() {
		key := fmt.Sprintf("%s-%d", q.Topic, q.QueueID)
		if n := q.MaxOffset - q.MinOffset; n != counts[key] {
			t.Fatalf("%s holds %d entries, the commitlog %d records", key, n, counts[key])
		}
	}
}

type safeBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (b *safeBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b = append(b.b, p...)
	return len(p), nil
}

func (b *safeBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.b)
}
