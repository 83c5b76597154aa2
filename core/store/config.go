package store

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/ternmq/tern/core/config"
)

// FlushDiskType selects when an append is acknowledged (RocketMQ flushDiskType).
type FlushDiskType string

// Flush types.
const (
	// AsyncFlush acknowledges once the record is in the mapped pages; a background flusher writes
	// back every FlushIntervalCommitLog. A process crash loses nothing; a power loss may lose the
	// last interval.
	AsyncFlush FlushDiskType = "ASYNC_FLUSH"
	// SyncFlush acknowledges once the record is on the disk, with group commit across producers.
	SyncFlush FlushDiskType = "SYNC_FLUSH"
)

// Config configures a Store. Keys are RocketMQ's names where RocketMQ has the setting; values use
// RocketMQ's units (durations accept milliseconds or Go duration strings). Start from
// DefaultConfig; the runtime dependencies at the end are not configuration and may be left nil.
type Config struct {
	// StorePathRootDir is the data directory.
	StorePathRootDir string `yaml:"storePathRootDir"`
	// FlushDiskType is ASYNC_FLUSH (default) or SYNC_FLUSH.
	FlushDiskType FlushDiskType `yaml:"flushDiskType"`
	// MappedFileSizeCommitLog is the size of a CommitLog segment (default 1 GiB).
	MappedFileSizeCommitLog int64 `yaml:"mappedFileSizeCommitLog"`
	// MappedFileSizeConsumeQueue is the size of a ConsumeQueue segment, a multiple of 20
	// (default 300,000 entries).
	MappedFileSizeConsumeQueue int64 `yaml:"mappedFileSizeConsumeQueue"`
	// FlushIntervalCommitLog is the asynchronous flush period (default 500 ms).
	FlushIntervalCommitLog config.Millis `yaml:"flushIntervalCommitLog"`
	// FlushIntervalConsumeQueue is how often ConsumeQueues and the index are flushed and the
	// checkpoint written (default 1 s).
	FlushIntervalConsumeQueue config.Millis `yaml:"flushIntervalConsumeQueue"`
	// FlushConsumeQueueLeastPages: between thorough flushes, a ConsumeQueue is flushed only once
	// this many of its pages were written since its last flush (default 2, RocketMQ's). With
	// thousands of queues, flushing each every interval costs a sync call per queue.
	FlushConsumeQueueLeastPages int `yaml:"flushConsumeQueueLeastPages"`
	// FlushConsumeQueueThoroughInterval is how often every ConsumeQueue and the index are
	// flushed whatever they hold, and the checkpoint's dispatch mark advanced (default 60 s,
	// RocketMQ's). After a crash, recovery dispatches again from that mark.
	FlushConsumeQueueThoroughInterval config.Millis `yaml:"flushConsumeQueueThoroughInterval"`
	// SyncFlushTimeout bounds the wait for a synchronous flush (default 5 s).
	SyncFlushTimeout config.Millis `yaml:"syncFlushTimeout"`
	// PreallocateCommitLog reserves a CommitLog segment's blocks when it is created (default
	// true), so that a full disk fails the segment's creation with an error. Turned off, the
	// segments are sparse: with ASYNC_FLUSH records are copied into the mapping, and a store
	// into a hole that a full filesystem cannot back kills the broker with SIGBUS. (SYNC_FLUSH
	// writes with pwrite, which fails with ENOSPC instead.)
	PreallocateCommitLog bool `yaml:"preallocateCommitLog"`
	// ZeroAheadCommitLog (bytes, default 16 MiB; 0 turns it off) is how far past the end of the
	// CommitLog a background goroutine prepares it (see commitlog.Options.ZeroAhead). With
	// SYNC_FLUSH its blocks are kept written with zeros and synced, so that a flush before the
	// ack writes over allocated blocks instead of also committing their allocation; with
	// ASYNC_FLUSH the appends read its pages into the page cache and map them, a piece each, so
	// that no append stalls on the kernel's read-around of a fresh page (milliseconds for the
	// device's read-ahead size).
	ZeroAheadCommitLog int64 `yaml:"zeroAheadCommitLog"`
	// CommitLogCacheWindow (bytes, default 1 GiB; 0 turns it off) is how much of the CommitLog
	// below its flushed end stays in the page cache: older pages are evicted after each flush,
	// so that new appends reuse their memory (see commitlog.Options.CacheWindow). Consumers
	// further behind read the disk, and a master suggests its slave to them sooner
	// (accessMessageInMemoryMaxRatio counts only this much as in memory).
	CommitLogCacheWindow int64 `yaml:"commitLogCacheWindow"`
	// MaxMessageSize bounds a message body, and a batch (default 4 MiB).
	MaxMessageSize int `yaml:"maxMessageSize"`

	// FileReservedTime is how long CommitLog segments are kept, in hours (default 72).
	FileReservedTime int `yaml:"fileReservedTime"`
	// DeleteWhen lists the hours (00-23, separated by ';') at which expired segments are deleted
	// (default "04").
	DeleteWhen string `yaml:"deleteWhen"`
	// CleanResourceInterval is how often retention runs (default 10 s).
	CleanResourceInterval config.Millis `yaml:"cleanResourceInterval"`
	// DiskMaxUsedSpaceRatio (percent, default 75): above it, expired segments are deleted at once
	// instead of waiting for DeleteWhen.
	DiskMaxUsedSpaceRatio int `yaml:"diskMaxUsedSpaceRatio"`
	// DiskSpaceCleanForciblyRatio (fraction, default 0.85): above it, the oldest segments are
	// deleted even if they have not expired.
	DiskSpaceCleanForciblyRatio float64 `yaml:"diskSpaceCleanForciblyRatio"`
	// DiskSpaceWarningLevelRatio (fraction, default 0.90): above it, writes are refused with
	// ErrDiskFull until space is freed.
	DiskSpaceWarningLevelRatio float64 `yaml:"diskSpaceWarningLevelRatio"`

	// MessageIndexEnable builds the key index (default true).
	MessageIndexEnable bool `yaml:"messageIndexEnable"`
	// MaxHashSlotNum is the number of hash slots per index file (default 5,000,000).
	MaxHashSlotNum int `yaml:"maxHashSlotNum"`
	// MaxIndexNum is the number of entries per index file (default 20,000,000). An index file
	// holds 40 bytes plus 4 per slot and 20 per entry (about 420 MB by default), and reserves
	// all of it on the disk when it is created.
	MaxIndexNum int `yaml:"maxIndexNum"`

	// MaxTransferCountOnMessageInMemory caps the messages of one GetMessages (default 32).
	MaxTransferCountOnMessageInMemory int `yaml:"maxTransferCountOnMessageInMemory"`
	// MaxTransferBytesOnMessageInMemory caps the bytes of one GetMessages (default 256 KiB).
	MaxTransferBytesOnMessageInMemory int `yaml:"maxTransferBytesOnMessageInMemory"`
	// MaxScanEntries caps the ConsumeQueue entries one GetMessages examines (default 16,000).
	MaxScanEntries int `yaml:"maxScanEntries"`

	// TruncateCorruptOnRecover lets the store open after finding corrupt data below the durable
	// mark, cutting the CommitLog there (the loss is logged and reported by Recovery). By default
	// Open fails with a *commitlog.CorruptionError so that an operator decides.
	TruncateCorruptOnRecover bool `yaml:"truncateCorruptOnRecover"`

	// StoreHost is written into every record as STOREHOST and is part of the offset message id;
	// it must be the broker's reachable IPv4 address. Default 127.0.0.1:10911.
	StoreHost netip.AddrPort `yaml:"-"`
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger `yaml:"-"`
	// Now is the clock; nil means time.Now.
	Now func() time.Time `yaml:"-"`
	// DiskUsage returns the used fraction of the filesystem holding dir; nil means statfs(2).
	DiskUsage func(dir string) (float64, error) `yaml:"-"`
	// OnFlush, if set, is called after each CommitLog flush that wrote data back, with how
	// long it took. It must not block.
	OnFlush func(time.Duration) `yaml:"-"`
	// OnArrival is called by the dispatcher, after each batch of records it makes visible, with
	// the new maximum offset of every queue that grew. It must not block.
	OnArrival func([]Arrival) `yaml:"-"`
	// TagsCode, if set, may give a record another ConsumeQueue tags code than the Java hash of
	// its TAGS property (which the dispatcher computes itself): it returns ok=false to leave a
	// record alone. The broker uses it to put delivery times on scheduled messages.
	TagsCode func(topic, properties []byte, storeTimestamp int64) (code int64, ok bool) `yaml:"-"`
	// RetentionFloor, if set, returns the lowest CommitLog offset something still needs (the
	// timer's parked messages): retention never deletes a segment that ends above it, however
	// old, unless the disk is full enough to force deletion.
	RetentionFloor func() int64 `yaml:"-"`
}

// Arrival reports that a queue grew.
type Arrival struct {
	Topic     string
	QueueID   int32
	MaxOffset int64
}

// DefaultConfig returns RocketMQ's defaults with the data in dir.
func DefaultConfig(dir string) Config {
	return Config{
		StorePathRootDir:                  dir,
		FlushDiskType:                     AsyncFlush,
		MappedFileSizeCommitLog:           1 << 30,
		MappedFileSizeConsumeQueue:        300_000 * 20,
		FlushIntervalCommitLog:            config.Millis(500 * time.Millisecond),
		FlushIntervalConsumeQueue:         config.Millis(time.Second),
		FlushConsumeQueueLeastPages:       2,
		FlushConsumeQueueThoroughInterval: config.Millis(time.Minute),
		SyncFlushTimeout:                  config.Millis(5 * time.Second),
		PreallocateCommitLog:              true,
		ZeroAheadCommitLog:                16 << 20,
		CommitLogCacheWindow:              1 << 30,
		MaxMessageSize:                    4 << 20,
		FileReservedTime:                  72,
		DeleteWhen:                        "04",
		CleanResourceInterval:             config.Millis(10 * time.Second),
		DiskMaxUsedSpaceRatio:             75,
		DiskSpaceCleanForciblyRatio:       0.85,
		DiskSpaceWarningLevelRatio:        0.90,
		MessageIndexEnable:                true,
		MaxHashSlotNum:                    5_000_000,
		MaxIndexNum:                       20_000_000,
		MaxTransferCountOnMessageInMemory: 32,
		MaxTransferBytesOnMessageInMemory: 256 << 10,
		MaxScanEntries:                    16_000,
		StoreHost:                         netip.MustParseAddrPort("127.0.0.1:10911"),
	}
}

// Validate reports every invalid setting.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("store: "+format, a...)) }
	if c.StorePathRootDir == "" {
		bad("storePathRootDir is empty")
	}
	if c.FlushDiskType != AsyncFlush && c.FlushDiskType != SyncFlush {
		bad("flushDiskType %q is neither %s nor %s", c.FlushDiskType, AsyncFlush, SyncFlush)
	}
	if c.MappedFileSizeCommitLog < 4096 {
		bad("mappedFileSizeCommitLog %d is below 4096", c.MappedFileSizeCommitLog)
	}
	if c.MappedFileSizeConsumeQueue < 20 || c.MappedFileSizeConsumeQueue%20 != 0 {
		bad("mappedFileSizeConsumeQueue %d is not a positive multiple of 20", c.MappedFileSizeConsumeQueue)
	}
	for name, d := range map[string]config.Millis{
		"flushIntervalCommitLog": c.FlushIntervalCommitLog, "flushIntervalConsumeQueue": c.FlushIntervalConsumeQueue,
		"syncFlushTimeout": c.SyncFlushTimeout, "cleanResourceInterval": c.CleanResourceInterval,
		"flushConsumeQueueThoroughInterval": c.FlushConsumeQueueThoroughInterval,
	} {
		if d <= 0 {
			bad("%s %v must be positive", name, d)
		}
	}
	if c.ZeroAheadCommitLog < 0 {
		bad("zeroAheadCommitLog %d is negative", c.ZeroAheadCommitLog)
	}
	if c.CommitLogCacheWindow < 0 {
		bad("commitLogCacheWindow %d is negative", c.CommitLogCacheWindow)
	}
	if c.FlushConsumeQueueLeastPages < 0 {
		bad("flushConsumeQueueLeastPages %d is negative", c.FlushConsumeQueueLeastPages)
	}
	if c.MaxMessageSize <= 0 {
		bad("maxMessageSize %d must be positive", c.MaxMessageSize)
	} else if int64(c.MaxMessageSize)+1024 > c.MappedFileSizeCommitLog {
		bad("maxMessageSize %d does not fit in a CommitLog segment of %d bytes", c.MaxMessageSize, c.MappedFileSizeCommitLog)
	}
	if c.FileReservedTime <= 0 {
		bad("fileReservedTime %d must be positive (hours)", c.FileReservedTime)
	}
	if _, err := parseHours(c.DeleteWhen); err != nil {
		errs = append(errs, err)
	}
	if c.DiskMaxUsedSpaceRatio < 10 || c.DiskMaxUsedSpaceRatio > 95 {
		bad("diskMaxUsedSpaceRatio %d must be a percentage in [10, 95]", c.DiskMaxUsedSpaceRatio)
	}
	if !(c.DiskSpaceCleanForciblyRatio > 0 && c.DiskSpaceCleanForciblyRatio < 1) {
		bad("diskSpaceCleanForciblyRatio %v must be a fraction in (0, 1)", c.DiskSpaceCleanForciblyRatio)
	}
	if !(c.DiskSpaceWarningLevelRatio > 0 && c.DiskSpaceWarningLevelRatio <= 1) {
		bad("diskSpaceWarningLevelRatio %v must be a fraction in (0, 1]", c.DiskSpaceWarningLevelRatio)
	}
	if c.MessageIndexEnable && (c.MaxHashSlotNum <= 0 || c.MaxIndexNum <= 0) {
		bad("maxHashSlotNum %d and maxIndexNum %d must be positive", c.MaxHashSlotNum, c.MaxIndexNum)
	}
	if c.MaxTransferCountOnMessageInMemory <= 0 || c.MaxTransferBytesOnMessageInMemory <= 0 || c.MaxScanEntries <= 0 {
		bad("transfer limits must be positive")
	}
	if !c.StoreHost.IsValid() {
		bad("store host is not set")
	}
	return errors.Join(errs...)
}

// parseHours parses RocketMQ's deleteWhen: hours 0-23 separated by ';'.
func parseHours(s string) ([]int, error) {
	var hours []int
	for _, p := range strings.Split(s, ";") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		h, err := strconv.Atoi(p)
		if err != nil || h < 0 || h > 23 {
			return nil, fmt.Errorf("store: deleteWhen %q: %q is not an hour 00-23", s, p)
		}
		hours = append(hours, h)
	}
	if len(hours) == 0 {
		return nil, fmt.Errorf("store: deleteWhen %q names no hour", s)
	}
	return hours, nil
}
