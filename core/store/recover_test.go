package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/store/commitlog"
	"github.com/ternmq/tern/core/store/segment"
)

// fillAndClose writes n records of about 300 bytes to a fresh store in dir, closes it cleanly and
// returns their physical offsets.
func fillAndClose(t *testing.T, cfg Config, n int) []int64 {
	t.Helper()
	s := openStore(t, cfg)
	var phys []int64
	for i := range n {
		r := newRecord("Rec", int32(i%2), fmt.Sprintf("%03d-%s", i, make([]byte, 280)), map[string]string{"KEYS": fmt.Sprintf("k%d", i)})
		phys = append(phys, put(t, s, r).PhysicalOffset)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return phys
}

// segmentFile returns the CommitLog segment file holding phy and phy's position in it.
func segmentFile(cfg Config, phy int64) (string, int64) {
	start := phy - phy%cfg.MappedFileSizeCommitLog
	return filepath.Join(cfg.StorePathRootDir, dirCommitLog, segment.Name(start)), phy - start
}

func writeAt(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func TestRecoveryStopsAtCorruption(t *testing.T) {
	cfg := testConfig(t.TempDir())
	phys := fillAndClose(t, cfg, 600) // ~190 KiB: three full segments and part of a fourth
	// Corrupt a record in the middle of the last segment: one body byte.
	lastStart := phys[len(phys)-1] - phys[len(phys)-1]%cfg.MappedFileSizeCommitLog
	var victim int
	for i, p := range phys {
		if p >= lastStart {
			victim = i + (len(phys)-i)/2
			break
		}
	}
	path, pos := segmentFile(cfg, phys[victim])
	writeAt(t, path, pos+88+5, []byte{0xFF, 0xFE}) // body bytes (the body starts at 88); the CRC covers them

	_, err := Open(cfg)
	var ce *commitlog.CorruptionError
	if !errors.As(err, &ce) || !errors.Is(err, commitlog.ErrCorrupt) || !errors.Is(err, message.ErrCRC) {
		t.Fatalf("open over corrupt data: %v", err)
	}
	if ce.Offset != phys[victim] {
		t.Fatalf("corruption reported at %d, the damaged record is at %d", ce.Offset, phys[victim])
	}
	t.Logf("reported: %v", err)

	// Nothing was changed by the refused open; allowing truncation cuts the log there.
	cfg.TruncateCorruptOnRecover = true
	s := openStore(t, cfg)
	defer s.Close()
	rec := s.Recovery().CommitLog
	if rec.Corruption == nil || rec.Corruption.Offset != phys[victim] || s.CommitLogMaxOffset() != phys[victim] {
		t.Fatalf("truncating recovery: corruption %v, max offset %d, want %d", rec.Corruption, s.CommitLogMaxOffset(), phys[victim])
	}
	// The queues end where the log ends, and keep everything before it.
	got0, _ := getAll(t, s, "Rec", 0, 0, nil)
	got1, _ := getAll(t, s, "Rec", 1, 0, nil)
	if len(got0)+len(got1) != victim {
		t.Fatalf("queues hold %d messages, want the %d before the corrupt one", len(got0)+len(got1), victim)
	}
	checkQueuesAgree(t, s)
	// And appends continue from there.
	if res := put(t, s, newRecord("Rec", 0, "after", nil)); res.PhysicalOffset != phys[victim] {
		t.Fatalf("next append at %d, want %d", res.PhysicalOffset, phys[victim])
	}
}

func TestRecoveryCutsTornTail(t *testing.T) {
	for _, tc := range []struct {
		name    string
		garbage func(end int64) []byte
	}{
		{"partial record", func(end int64) []byte {
			r := newRecord("Rec", 0, "torn", nil)
			r.StoreHost, r.PhysicalOffset = bornHost, end
			r.BodyCRC = message.BodyCRC(r.Body)
			b := message.AppendRecord(nil, r)
			return b[:len(b)-5]
		}},
		{"bad crc", func(end int64) []byte {
			r := newRecord("Rec", 0, "torn", nil)
			r.StoreHost, r.PhysicalOffset, r.BodyCRC = bornHost, end, 12345
			return message.AppendRecord(nil, r)
		}},
		{"random bytes", func(int64) []byte { return []byte("\x00\x00\x01\x00garbage garbage garbage") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t.TempDir())
			phys := fillAndClose(t, cfg, 50)
			s := openStore(t, cfg)
			end := s.CommitLogMaxOffset()
			s.Close()
			path, pos := segmentFile(cfg, end)
			writeAt(t, path, pos, tc.garbage(end))
			// Simulate an unclean stop after the garbage reached the page cache: the checkpoint
			// says the log was durable up to before the garbage.
			os.WriteFile(filepath.Join(cfg.StorePathRootDir, fileAbort), nil, 0o644)

			s = openStore(t, cfg)
			defer s.Close()
			r := s.Recovery()
			if !r.Abnormal || r.CommitLog.TornTail == nil || s.CommitLogMaxOffset() != end {
				t.Fatalf("abnormal %v torn tail %v end %d, want end %d", r.Abnormal, r.CommitLog.TornTail, s.CommitLogMaxOffset(), end)
			}
			if m, err := s.GetMessage(phys[len(phys)-1]); err != nil {
				t.Fatalf("last good record lost: %v", err)
			} else {
				m.Release()
			}
			if res := put(t, s, newRecord("Rec", 0, "after", nil)); res.PhysicalOffset != end || res.QueueOffset != 25 {
				t.Fatalf("append after recovery at %d qoff %d", res.PhysicalOffset, res.QueueOffset)
			}
			waitDispatched(t, s)
			checkQueuesAgree(t, s)
		})
	}
}

func TestRecoveryRebuildsLostQueues(t *testing.T) {
	cfg := testConfig(t.TempDir())
	fillAndClose(t, cfg, 300)
	// Lose every ConsumeQueue and the checkpoint: recovery rebuilds the queues from the log.
	os.RemoveAll(filepath.Join(cfg.StorePathRootDir, dirConsumeQueue))
	os.Remove(filepath.Join(cfg.StorePathRootDir, fileCheckpoint))
	s := openStore(t, cfg)
	defer s.Close()
	got0, _ := getAll(t, s, "Rec", 0, 0, nil)
	got1, _ := getAll(t, s, "Rec", 1, 0, nil)
	if len(got0) != 150 || len(got1) != 150 {
		t.Fatalf("rebuilt queues hold %d and %d messages, want 150 each", len(got0), len(got1))
	}
	checkQueuesAgree(t, s)
	q, err := s.QueryMessage("Rec", "k123", 1, 0, 1<<62)
	if err != nil || len(q.Messages) != 1 {
		t.Fatalf("index after rebuild: %d results, %v", len(q.Messages), err)
	}
	q.Release()
}
