package timer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/ternmq/tern/core/atomicfile"
)

// checkpoint is timerCheckpoint.json.
type checkpoint struct {
	InboxOffset int64            `json:"inboxOffset"` // next inbox queue offset to read
	LogEnd      int64            `json:"logEnd"`
	FiredUpTo   int64            `json:"firedUpTo"` // ms: every entry due before it was fired
	SegmentMax  map[string]int64 `json:"segmentMaxAt"`
	Clean       bool             `json:"clean"`
}

func readCheckpoint(path string) (checkpoint, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return checkpoint{}, false, nil
	}
	if err != nil {
		return checkpoint{}, false, fmt.Errorf("timer: %w", err)
	}
	var c checkpoint
	if err := json.Unmarshal(b, &c); err != nil {
		return checkpoint{}, false, fmt.Errorf("timer: %s: %w", path, err)
	}
	return c, true, nil
}

func writeCheckpoint(path string, c checkpoint) error {
	b, err := json.Marshal(c)
	if err == nil {
		err = atomicfile.Write(path, b)
	}
	if err != nil {
		return fmt.Errorf("timer: checkpoint: %w", err)
	}
	return nil
}

// segMax converts the per-segment latest delivery times between the checkpoint's and the
// wheel's forms. Keys that spell one segment differently ("1", "01", "+1") merge to their
// latest time, which keeps the segment until all of them have fired.
func segMaxToFile(m map[int64]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[strconv.FormatInt(k, 10)] = v
	}
	return out
}

func segMaxFromFile(m map[string]int64) map[int64]int64 {
	out := make(map[int64]int64, len(m))
	for k, v := range m {
		if n, err := strconv.ParseInt(k, 10, 64); err == nil {
			if old, ok := out[n]; !ok || v > old {
				out[n] = v
			}
		}
	}
	return out
}

// cancelFile is timerCancel.json: the inbox offsets (CommitLog) of cancelled timers.
type cancelFile struct {
	Cancelled []int64 `json:"cancelled"`
}

func readCancels(path string) (map[int64]bool, error) {
	out := map[int64]bool{}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("timer: %w", err)
	}
	var f cancelFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("timer: %s: %w", path, err)
	}
	for _, p := range f.Cancelled {
		out[p] = true
	}
	return out, nil
}

func writeCancels(path string, set map[int64]bool) error {
	f := cancelFile{Cancelled: make([]int64, 0, len(set))}
	for p := range set {
		f.Cancelled = append(f.Cancelled, p)
	}
	b, err := json.Marshal(f)
	if err == nil {
		err = atomicfile.Write(path, b)
	}
	if err != nil {
		return fmt.Errorf("timer: cancellations: %w", err)
	}
	return nil
}
