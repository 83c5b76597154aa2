package ha

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/ternmq/tern/core/atomicfile"
)

// epochsFile is the history's file name in its directory (on-disk format, never change).
const epochsFile = "epochs.json"

// Epoch is one entry of an epoch history: epoch Epoch's data begins at StartOffset in the
// CommitLog.
type Epoch struct {
	Epoch       int64 `json:"epoch"`
	StartOffset int64 `json:"startOffset"`
}

// epochsDoc is the JSON document in epochs.json.
type epochsDoc struct {
	Epochs []Epoch `json:"epochs"`
}

// Epochs is a replica's epoch history, persisted in <dir>/epochs.json with package atomicfile:
// every change is on the disk before the method returns. Entries have strictly increasing epochs
// and non-decreasing start offsets. All methods are safe for concurrent use.
type Epochs struct {
	path string

	mu      sync.Mutex // guards entries
	entries []Epoch
}

// OpenEpochs loads the history in dir (an absent file is an empty history).
func OpenEpochs(dir string) (*Epochs, error) {
	e := &Epochs{path: filepath.Join(dir, epochsFile)}
	b, err := os.ReadFile(e.path)
	if errors.Is(err, os.ErrNotExist) {
		return e, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ha: open epochs: %w", err)
	}
	var doc epochsDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("ha: read %s: %w", e.path, err)
	}
	if err := checkHistory(doc.Epochs); err != nil {
		return nil, fmt.Errorf("ha: read %s: %w", e.path, err)
	}
	e.entries = doc.Epochs
	return e, nil
}

// checkHistory reports whether h is a valid history.
func checkHistory(h []Epoch) error {
	for i, e := range h {
		if e.Epoch < 0 || e.StartOffset < 0 {
			return fmt.Errorf("entry %d (%d@%d) is negative", i, e.Epoch, e.StartOffset)
		}
		if i > 0 && (e.Epoch <= h[i-1].Epoch || e.StartOffset < h[i-1].StartOffset) {
			return fmt.Errorf("entry %d (%d@%d) does not follow %d@%d", i, e.Epoch, e.StartOffset, h[i-1].Epoch, h[i-1].StartOffset)
		}
	}
	return nil
}

// Last returns the newest entry, the zero value when the history is empty.
func (e *Epochs) Last() Epoch {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.entries) == 0 {
		return Epoch{}
	}
	return e.entries[len(e.entries)-1]
}

// All returns a copy of the history, oldest first.
func (e *Epochs) All() []Epoch {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.entries)
}

// Begin appends {epoch, startOffset}. An epoch equal to the last entry's is a no-op (whatever
// startOffset); an epoch below it, or a start offset below the last entry's, is ErrEpochOrder.
// The first entry of an empty history is always recorded, epoch 0 included.
func (e *Epochs) Begin(epoch, startOffset int64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if epoch < 0 || startOffset < 0 {
		return fmt.Errorf("%w: %d@%d is negative", ErrEpochOrder, epoch, startOffset)
	}
	if n := len(e.entries); n > 0 {
		last := e.entries[n-1]
		if epoch == last.Epoch {
			return nil
		}
		if epoch < last.Epoch || startOffset < last.StartOffset {
			return fmt.Errorf("%w: %d@%d after %d@%d", ErrEpochOrder, epoch, startOffset, last.Epoch, last.StartOffset)
		}
	}
	return e.save(append(slices.Clip(e.entries), Epoch{Epoch: epoch, StartOffset: startOffset}))
}

// TruncateAfter drops the entries that start at or beyond offset, after the log was cut there:
// no data of theirs is left (an entry starting exactly at the cut has none either).
func (e *Epochs) TruncateAfter(offset int64) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	i := len(e.entries)
	for i > 0 && e.entries[i-1].StartOffset >= offset {
		i--
	}
	if i == len(e.entries) {
		return nil
	}
	return e.save(slices.Clone(e.entries[:i]))
}

// EndOffset returns where epoch's data ends in this history: the StartOffset of the first entry
// with a higher epoch, or -1 when there is none (epoch is the current one, or later). For an
// epoch the history does not hold, that is where the first later epoch begins.
func (e *Epochs) EndOffset(epoch int64) int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, x := range e.entries {
		if x.Epoch > epoch {
			return x.StartOffset
		}
	}
	return -1
}

// save writes entries and, once they are on the disk, makes them the history. Callers hold mu.
func (e *Epochs) save(entries []Epoch) error {
	doc := epochsDoc{Epochs: entries}
	if doc.Epochs == nil {
		doc.Epochs = []Epoch{}
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("ha: encode epochs: %w", err)
	}
	if err := atomicfile.Write(e.path, append(b, '\n')); err != nil {
		return fmt.Errorf("ha: save epochs: %w", err)
	}
	e.entries = entries
	return nil
}

// epochEnd is the divergence rule's "end of an epoch in a history" (see the package doc): it
// finds the last entry of h whose epoch is ≤ epoch and returns the StartOffset of the entry after
// it, or logEnd when it is the last. found is that entry's epoch, or -1 when no entry qualifies
// (the data before h's first entry, whose end is that entry's StartOffset).
func epochEnd(h []Epoch, logEnd, epoch int64) (end, found int64) {
	i := -1
	for j, x := range h {
		if x.Epoch > epoch {
			break
		}
		i = j
	}
	found = -1
	if i >= 0 {
		found = h[i].Epoch
	}
	if i+1 < len(h) {
		return min(h[i+1].StartOffset, logEnd), found
	}
	return logEnd, found
}

// divergence returns where a slave with history slave and log end slaveMax must cut its log to
// follow a master with history master and log end masterMax.
func divergence(master []Epoch, masterMax int64, slave []Epoch, slaveMax int64) int64 {
	lastEpoch := int64(0) // an empty history's, as Last reports it
	if n := len(slave); n > 0 {
		lastEpoch = slave[n-1].Epoch
	}
	mEnd, found := epochEnd(master, masterMax, lastEpoch)
	sEnd, _ := epochEnd(slave, slaveMax, found)
	return min(mEnd, sEnd)
}
