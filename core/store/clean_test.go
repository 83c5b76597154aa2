package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/ternmq/tern/core/config"
	"github.com/ternmq/tern/core/message"
)

func TestPlanClean(t *testing.T) {
	cfg := DefaultConfig("x")
	hours := []int{4, 16}
	at := func(h int) time.Time { return time.Date(2026, 1, 1, h, 30, 0, 0, time.UTC) }
	for _, tc := range []struct {
		name string
		now  time.Time
		used float64
		want cleanPlan
	}{
		{"quiet hour, disk fine", at(10), 0.50, cleanPlan{}},
		{"deleteWhen hour", at(4), 0.50, cleanPlan{deleteExpired: true}},
		{"second deleteWhen hour", at(16), 0.10, cleanPlan{deleteExpired: true}},
		{"above diskMaxUsedSpaceRatio", at(10), 0.76, cleanPlan{deleteExpired: true}},
		{"above the forced ratio", at(10), 0.86, cleanPlan{deleteExpired: true, force: true}},
		{"above the warning level", at(10), 0.91, cleanPlan{deleteExpired: true, force: true, refuseWrites: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := planClean(&cfg, hours, tc.now, tc.used); got != tc.want {
				t.Fatalf("plan %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestRetention(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.Local)
	used := 0.10
	cfg := testConfig(t.TempDir())
	cfg.Now = func() time.Time { return now }
	cfg.DiskUsage = func(string) (float64, error) { return used, nil }
	cfg.CleanResourceInterval = config.Millis(time.Hour) // the test drives Clean itself
	s := openStore(t, cfg)
	defer s.Close()
	var phys []int64
	for i := range 800 {
		r := newRecord("Ret", int32(i%2), fmt.Sprintf("%03d-%s", i, make([]byte, 280)), map[string]string{"KEYS": fmt.Sprintf("k%d", i)})
		phys = append(phys, put(t, s, r).PhysicalOffset)
	}
	waitDispatched(t, s)
	segs := s.cl.Segments().Segments()
	if len(segs) < 5 {
		t.Fatalf("%d segments, the test needs 5", len(segs))
	}
	age := func(i int) {
		old := now.Add(-100 * time.Hour)
		if err := os.Chtimes(segs[i].Path(), old, old); err != nil {
			t.Fatal(err)
		}
	}
	clean := func(wantDeleted int) CleanResult {
		t.Helper()
		res, err := s.Clean()
		if err != nil {
			t.Fatal(err)
		}
		if res.SegmentsDeleted != wantDeleted {
			t.Fatalf("deleted %d segments, want %d (%+v)", res.SegmentsDeleted, wantDeleted, res)
		}
		return res
	}
	age(0)
	age(1)

	// Outside deleteWhen with a quiet disk nothing goes, expired or not.
	clean(0)

	// At the deleteWhen hour the expired segments go, oldest first.
	now = time.Date(2026, 11, 23, 4, 10, 0, 0, time.Local)
	clean(2)
	if min := s.CommitLogMinOffset(); min != segs[2].Start {
		t.Fatalf("commitlog min %d, want %d", min, segs[2].Start)
	}
	// The queues follow: old offsets are too small, and what remains is intact.
	res, err := s.GetMessages("Ret", 0, 0, 32, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Release()
	if res.Status != OffsetTooSmall || res.NextBeginOffset != s.MinOffset("Ret", 0) || res.NextBeginOffset == 0 {
		t.Fatalf("read at 0 after retention: %v next %d", res.Status, res.NextBeginOffset)
	}
	got0, _ := getAll(t, s, "Ret", 0, s.MinOffset("Ret", 0), nil)
	got1, _ := getAll(t, s, "Ret", 1, s.MinOffset("Ret", 1), nil)
	kept := 0
	for _, p := range phys {
		if p >= segs[2].Start {
			kept++
		}
	}
	if len(got0)+len(got1) != kept {
		t.Fatalf("queues hold %d messages, the remaining segments %d", len(got0)+len(got1), kept)
	}
	checkQueuesAgree(t, s)
	if q, _ := s.QueryMessage("Ret", "k0", 1, 0, 1<<62); len(q.Messages) != 0 {
		t.Fatal("a deleted message is still found by key")
	}

	// A fuller disk deletes expired segments outside deleteWhen.
	now = time.Date(2026, 11, 23, 10, 0, 0, 0, time.Local)
	age(2)
	used = 0.80
	clean(1)

	// Above the forced ratio even fresh segments go, but never the newest.
	used = 0.86
	clean(len(segs) - 4)
	if n := s.cl.Segments().Len(); n != 1 {
		t.Fatalf("%d segments left, want the newest only", n)
	}
	checkQueuesAgree(t, s)

	// Above the warning level writes are refused with a clear error, nothing is damaged, and
	// they resume once space is freed.
	used = 0.91
	if r := clean(0); !r.WritesRefused {
		t.Fatal("writes not refused above the warning level")
	}
	before := s.CommitLogMaxOffset()
	_, err = s.PutMessage(context.Background(), newRecord("Ret", 0, "refused", nil))
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("put on a full disk: %v", err)
	}
	if s.CommitLogMaxOffset() != before {
		t.Fatal("a refused put wrote data")
	}
	used = 0.50
	clean(0)
	put(t, s, newRecord("Ret", 0, "accepted", nil))
	waitDispatched(t, s)
	checkQueuesAgree(t, s)
}

// A reader's records stay mapped while retention deletes their segment, until Release.
func TestReadersKeepDeletedSegmentsMapped(t *testing.T) {
	used := 0.10
	cfg := testConfig(t.TempDir())
	cfg.DiskUsage = func(string) (float64, error) { return used, nil }
	cfg.CleanResourceInterval = config.Millis(time.Hour)
	s := openStore(t, cfg)
	defer s.Close()
	for i := range 600 {
		put(t, s, newRecord("Held", 0, fmt.Sprintf("%04d-%s", i, make([]byte, 280)), nil))
	}
	waitDispatched(t, s)
	res, err := s.GetMessages("Held", 0, 0, 32, 0, nil)
	if err != nil || len(res.Messages) != 32 {
		t.Fatalf("%v %d", err, len(res.Messages))
	}
	first := s.cl.Segments().First().Path()
	used = 0.86 // forced deletion of everything but the newest segment
	if r, err := s.Clean(); err != nil || r.SegmentsDeleted == 0 {
		t.Fatalf("retention: %+v %v", r, err)
	}
	if _, err := os.Stat(first); !os.IsNotExist(err) {
		t.Fatalf("the first segment file was not deleted: %v", err)
	}
	for i, b := range res.Messages { // still mapped: reading them must not fault
		v, err := message.Parse(b)
		if err != nil || string(v.Body()[:4]) != fmt.Sprintf("%04d", i) {
			t.Fatalf("record %d unreadable after its segment was deleted: %v", i, err)
		}
	}
	res.Release()
}
