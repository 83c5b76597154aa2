package index

import (
	"fmt"
	"log/slog"
	"math"
)

// Defaults, as RocketMQ's maxHashSlotNum and maxIndexNum.
const (
	DefaultMaxHashSlots    = 5_000_000
	DefaultMaxIndexEntries = 20_000_000
)

// Options configures an Index. The zero value means the defaults. The slot and entry counts fix
// the size of every file, so a directory must be reopened with the Options it was created with.
type Options struct {
	// MaxHashSlots is the number of hash slots per file, in [1, MaxInt32]. 0 means
	// DefaultMaxHashSlots.
	MaxHashSlots int
	// MaxIndexEntries is the number of entries per file including the unused entry 0, in
	// [2, MaxInt32]. 0 means DefaultMaxIndexEntries.
	MaxIndexEntries int
	// Logger receives file creation and deletion events. nil discards them.
	Logger *slog.Logger
}

// DefaultOptions returns the defaults.
func DefaultOptions() Options {
	return Options{MaxHashSlots: DefaultMaxHashSlots, MaxIndexEntries: DefaultMaxIndexEntries}
}

// withDefaults fills in zero fields.
func (o Options) withDefaults() Options {
	if o.MaxHashSlots == 0 {
		o.MaxHashSlots = DefaultMaxHashSlots
	}
	if o.MaxIndexEntries == 0 {
		o.MaxIndexEntries = DefaultMaxIndexEntries
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Validate reports whether the options (with zero fields taken as their defaults) are usable.
func (o Options) Validate() error {
	o = o.withDefaults()
	if o.MaxHashSlots < 1 || o.MaxHashSlots > math.MaxInt32 {
		return fmt.Errorf("index: MaxHashSlots %d out of range [1, %d]", o.MaxHashSlots, math.MaxInt32)
	}
	// Entry 0 is never used, so a file needs two entries to hold one.
	if o.MaxIndexEntries < 2 || o.MaxIndexEntries > math.MaxInt32 {
		return fmt.Errorf("index: MaxIndexEntries %d out of range [2, %d]", o.MaxIndexEntries, math.MaxInt32)
	}
	return nil
}

// FileSize returns the size of every index file under these options (zero fields taken as their
// defaults).
func (o Options) FileSize() int64 {
	o = o.withDefaults()
	return HeaderSize + SlotSize*int64(o.MaxHashSlots) + EntrySize*int64(o.MaxIndexEntries)
}
