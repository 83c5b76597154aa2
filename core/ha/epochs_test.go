package ha

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestEpochs: Begin appends and persists, equal epochs are no-ops, regressions fail,
// TruncateAfter drops entries at or past the cut, and a reopen sees the same history.
func TestEpochs(t *testing.T) {
	dir := t.TempDir()
	e, err := OpenEpochs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if (e.Last() != Epoch{}) || len(e.All()) != 0 || e.EndOffset(0) != -1 {
		t.Fatalf("empty history: last %v, all %v, end %d", e.Last(), e.All(), e.EndOffset(0))
	}
	steps := []struct {
		epoch, start int64
		err          error
	}{
		{0, 0, nil},
		{3, 100, nil},
		{3, 500, nil}, // no-op
		{2, 600, ErrEpochOrder},
		{5, 50, ErrEpochOrder},
		{-1, 0, ErrEpochOrder},
		{5, 1000, nil},
		{9, 1000, nil},
	}
	for _, s := range steps {
		if err := e.Begin(s.epoch, s.start); !errors.Is(err, s.err) {
			t.Fatalf("Begin(%d, %d) = %v, want %v", s.epoch, s.start, err, s.err)
		}
	}
	want := []Epoch{{0, 0}, {3, 100}, {5, 1000}, {9, 1000}}
	if got := e.All(); !slices.Equal(got, want) {
		t.Fatalf("history %v, want %v", got, want)
	}
	ends := map[int64]int64{0: 100, 1: 100, 3: 1000, 4: 1000, 5: 1000, 9: -1, 12: -1}
	for epoch, end := range ends {
		if got := e.EndOffset(epoch); got != end {
			t.Errorf("EndOffset(%d) = %d, want %d", epoch, got, end)
		}
	}
	re, err := OpenEpochs(dir)
	if err != nil || !slices.Equal(re.All(), want) {
		t.Fatalf("reopened: %v, %v", re.All(), err)
	}
	if err := e.TruncateAfter(1000); err != nil {
		t.Fatal(err)
	}
	if got := e.All(); !slices.Equal(got, want[:2]) || e.Last() != want[1] {
		t.Fatalf("after TruncateAfter(1000): %v", got)
	}
	if err := e.TruncateAfter(0); err != nil || len(e.All()) != 0 {
		t.Fatalf("after TruncateAfter(0): %v, %v", e.All(), err)
	}
	re, err = OpenEpochs(dir)
	if err != nil || len(re.All()) != 0 {
		t.Fatalf("reopened after truncation: %v, %v", re.All(), err)
	}
}

// TestOpenEpochsCorrupt: a file that is not a valid history is an error, not an empty history.
func TestOpenEpochsCorrupt(t *testing.T) {
	for name, content := range map[string]string{
		"not json":   "{",
		"decreasing": `{"epochs":[{"epoch":5,"startOffset":0},{"epoch":3,"startOffset":10}]}`,
		"backwards":  `{"epochs":[{"epoch":1,"startOffset":10},{"epoch":3,"startOffset":5}]}`,
		"negative":   `{"epochs":[{"epoch":-1,"startOffset":0}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, epochsFile), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := OpenEpochs(dir); err == nil {
				t.Fatal("opened a corrupt history")
			}
		})
	}
}

// TestDivergence is the truncation rule on named histories.
func TestDivergence(t *testing.T) {
	cases := []struct {
		name              string
		master            []Epoch
		masterMax         int64
		slave             []Epoch
		slaveMax, wantCut int64
	}{
		{"static, both empty", nil, 5000, nil, 3000, 3000},
		{"static, slave ahead", nil, 5000, nil, 6000, 5000},
		{"same epoch, behind", []Epoch{{1, 0}, {5, 1000}}, 2000, []Epoch{{1, 0}, {5, 1000}}, 1500, 1500},
		{"same epoch, master lost a tail", []Epoch{{5, 1000}}, 1200, []Epoch{{5, 1000}}, 1500, 1200},
		{"old epoch tail", []Epoch{{1, 0}, {2, 800}}, 3000, []Epoch{{1, 0}}, 1000, 800},
		{"old epoch, behind its end", []Epoch{{1, 0}, {2, 800}}, 3000, []Epoch{{1, 0}}, 700, 700},
		{"unknown epoch on the slave", []Epoch{{1, 0}, {5, 1000}}, 2000, []Epoch{{1, 0}, {3, 800}}, 900, 800},
		{"slave history starts later", []Epoch{{7, 5000}}, 9000, nil, 6000, 5000},
		{"epoch 0 entries", []Epoch{{0, 0}}, 9000, nil, 6000, 6000},
		{"empty slave log", []Epoch{{1, 0}, {2, 800}}, 3000, nil, 0, 0},
		{"slave entry one frame early", []Epoch{{1, 0}, {2, 800}}, 3000, []Epoch{{1, 0}, {2, 800}}, 700, 700},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := divergence(c.master, c.masterMax, c.slave, c.slaveMax); got != c.wantCut {
				t.Fatalf("cut at %d, want %d", got, c.wantCut)
			}
		})
	}
}
