// Package checkpoint persists the store's progress marks, which recovery starts from.
//
// The file is JSON, replaced atomically: the new content goes to a temporary file that is
// fsynced and renamed over the old one, and the directory is fsynced. A crash leaves either the
// old or the new checkpoint, never a mix.
package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/ternmq/tern/core/atomicfile"
)

// Checkpoint holds physical CommitLog offsets that are known to be durable.
type Checkpoint struct {
	// CommitLogFlushed: every CommitLog byte below it had been flushed to the disk.
	CommitLogFlushed int64 `json:"commitLogFlushed"`
	// ConsumeQueueDispatched: the ConsumeQueue entries of every record below it were flushed.
	ConsumeQueueDispatched int64 `json:"consumeQueueDispatched"`
	// IndexDispatched: the index entries of every record below it were flushed.
	IndexDispatched int64 `json:"indexDispatched"`
	// Wall-clock times (ms) at which each mark was taken, for operators and tools.
	CommitLogTimestamp    int64 `json:"commitLogTimestamp"`
	ConsumeQueueTimestamp int64 `json:"consumeQueueTimestamp"`
	IndexTimestamp        int64 `json:"indexTimestamp"`
}

// Load reads the checkpoint at path. A missing file yields the zero Checkpoint and ok=false.
func Load(path string) (cp Checkpoint, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Checkpoint{}, false, nil
	}
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("checkpoint: %w", err)
	}
	if err := json.Unmarshal(b, &cp); err != nil {
		return Checkpoint{}, false, fmt.Errorf("checkpoint: %s: %w", path, err)
	}
	if cp.CommitLogFlushed < 0 || cp.ConsumeQueueDispatched < 0 || cp.IndexDispatched < 0 {
		return Checkpoint{}, false, fmt.Errorf("checkpoint: %s: negative offset", path)
	}
	return cp, true, nil
}

// Save replaces the checkpoint at path atomically and durably.
func Save(path string, cp Checkpoint) error {
	b, err := json.Marshal(cp)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if err := atomicfile.Write(path, b); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}
