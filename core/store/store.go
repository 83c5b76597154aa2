package store

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/store/checkpoint"
	"github.com/ternmq/tern/core/store/commitlog"
	"github.com/ternmq/tern/core/store/consumequeue"
	"github.com/ternmq/tern/core/store/index"
)

// Errors returned by the Store. Put errors other than ErrFlushTimeout mean nothing was written.
var (
	ErrClosed          = errors.New("store: closed")
	ErrDiskFull        = errors.New("store: disk full: writes refused until space is freed")
	ErrMessageTooLarge = errors.New("store: message too large")
	ErrMessageIllegal  = errors.New("store: illegal message")
	ErrBadTopic        = errors.New("store: invalid topic name")
	ErrLocked          = errors.New("store: data directory is in use by another process")
	// ErrFlushTimeout: the message was written but not flushed within syncFlushTimeout
	// (RocketMQ FLUSH_DISK_TIMEOUT). It is the CommitLog's sentinel.
	ErrFlushTimeout = commitlog.ErrFlushTimeout
)

// Directory and file names under StorePathRootDir (on-disk format, never change).
const (
	dirCommitLog    = "commitlog"
	dirConsumeQueue = "consumequeue"
	dirIndex        = "index"
	fileCheckpoint  = "checkpoint"
	fileAbort       = "abort"
	fileLock        = "lock"
)

// Store is Tern's message store. All methods are safe for concurrent use.
type Store struct {
	cfg Config
	log *slog.Logger
	now func() time.Time
	dir string

	lockFile *os.File
	cl       *commitlog.CommitLog
	idx      *index.Index // nil when the index is disabled

	qmu     sync.RWMutex                             // guards queues and opening
	queues  map[string]map[int32]*consumequeue.Queue // ConsumeQueues by topic and queue id
	opening map[queueKey]chan struct{}               // queues being opened; closed when done

	omu      sync.Mutex         // guards nextOffs; taken inside the CommitLog writer lock
	nextOffs map[string][]int64 // next queue offset by topic and queue id

	dispatched  atomic.Int64 // CommitLog offset below which every record is dispatched
	dmu         sync.Mutex   // held while a batch is dispatched; Truncate holds it to stop dispatch
	dispatchReq chan struct{}
	dispMu      sync.Mutex    // guards dispDone
	dispDone    chan struct{} // closed each time dispatched moves (WaitDispatched)
	diskFull    atomic.Bool
	closed      atomic.Bool
	stop        chan struct{}
	wg          sync.WaitGroup
	closeOnce   sync.Once
	closeErr    error

	ckMu   sync.Mutex            // serialises checkpoints (Truncate writes its own)
	lastCP checkpoint.Checkpoint // the last checkpoint written; s.ckMu
	maint  sync.Mutex            // serialises Truncate with retention (Clean)

	// WaitCommitLog: growWaiters counts the waiters, so that the append path only closes grown
	// (under growMu) when someone waits.
	growWaiters atomic.Int64
	growMu      sync.Mutex
	grown       chan struct{}

	replUndo []queueOffsetUndo // AppendReplicated's scratch, guarded by omu

	recovery Recovery
}

// Open opens the store in cfg.StorePathRootDir, recovering from an unclean stop if needed, and
// starts its background work (dispatcher, flushers, retention). Close stops it.
func Open(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Store{
		cfg:         cfg,
		log:         cfg.Logger,
		now:         cfg.Now,
		dir:         cfg.StorePathRootDir,
		queues:      make(map[string]map[int32]*consumequeue.Queue),
		opening:     make(map[queueKey]chan struct{}),
		nextOffs:    make(map[string][]int64),
		dispatchReq: make(chan struct{}, 1),
		dispDone:    make(chan struct{}),
		grown:       make(chan struct{}),
		stop:        make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.cfg.DiskUsage == nil {
		s.cfg.DiskUsage = statfsUsage
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := s.lockDir(); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			s.closeFiles()
		}
	}()
	var err error
	s.cl, err = commitlog.Open(filepath.Join(s.dir, dirCommitLog), commitlog.Options{
		SegmentSize:      cfg.MappedFileSizeCommitLog,
		Sync:             cfg.FlushDiskType == SyncFlush,
		FlushInterval:    cfg.FlushIntervalCommitLog.D(),
		SyncFlushTimeout: cfg.SyncFlushTimeout.D(),
		Prealloc:         cfg.PreallocateCommitLog,
		ZeroAhead:        cfg.ZeroAheadCommitLog,
		Logger:           s.log,
		Published:        s.wakeDispatcher,
		Flushed:          cfg.OnFlush,
		CacheWindow:      cfg.CommitLogCacheWindow,
	})
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if cfg.MessageIndexEnable {
		s.idx, err = index.Open(filepath.Join(s.dir, dirIndex), index.Options{
			MaxHashSlots: cfg.MaxHashSlotNum, MaxIndexEntries: cfg.MaxIndexNum, Logger: s.log,
		})
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	if err := s.loadQueues(); err != nil {
		return nil, err
	}
	if err := s.recover(); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(s.dir, fileAbort), nil, 0o644); err != nil {
		return nil, fmt.Errorf("store: create abort marker: %w", err)
	}
	s.checkDisk()
	s.cl.Start()
	s.wg.Add(3)
	go s.dispatchLoop()
	go s.flushLoop()
	go s.cleanLoop()
	ok = true
	s.log.Info("store open", "dir", s.dir, "min_offset", s.cl.MinOffset(), "max_offset", s.cl.MaxOffset(),
		"queues", s.queueCount(), "clean_shutdown", !s.recovery.Abnormal)
	return s, nil
}

func (s *Store) lockDir() error {
	f, err := os.OpenFile(filepath.Join(s.dir, fileLock), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return fmt.Errorf("%w: %s: %v", ErrLocked, s.dir, err)
	}
	f.Truncate(0)
	f.WriteString(strconv.Itoa(os.Getpid()) + "\n")
	s.lockFile = f
	return nil
}

// loadQueues opens every ConsumeQueue under consumequeue/<topic>/<queueId>.
func (s *Store) loadQueues() error {
	root := filepath.Join(s.dir, dirConsumeQueue)
	topics, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	for _, t := range topics {
		if !t.IsDir() || message.ValidateTopic(t.Name()) != nil {
			continue
		}
		qids, err := os.ReadDir(filepath.Join(root, t.Name()))
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		for _, q := range qids {
			qid, err := strconv.ParseInt(q.Name(), 10, 32)
			if !q.IsDir() || err != nil || qid < 0 {
				continue
			}
			if _, err := s.openQueue(t.Name(), int32(qid)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Store) queueDir(topic string, qid int32) string {
	return filepath.Join(s.dir, dirConsumeQueue, topic, strconv.Itoa(int(qid)))
}

type queueKey struct {
	topic string
	qid   int32
}

// openQueue opens or creates a ConsumeQueue and registers it. Callers hold no lock. The
// opening (directories made and read: a hundred microseconds or more) runs outside s.qmu, so
// that it holds back neither the lookups of other queues nor the opening of others; a second
// caller for the same queue waits for the first.
func (s *Store) openQueue(topic string, qid int32) (*consumequeue.Queue, error) {
	k := queueKey{topic, qid}
	for {
		s.qmu.Lock()
		if cq := s.queues[topic][qid]; cq != nil {
			s.qmu.Unlock()
			return cq, nil
		}
		wait, busy := s.opening[k]
		if !busy {
			s.opening[k] = make(chan struct{})
		}
		s.qmu.Unlock()
		if !busy {
			break
		}
		<-wait // then look again: the first caller may have failed
	}
	cq, err := consumequeue.Open(s.queueDir(topic, qid), topic, qid, s.cfg.MappedFileSizeConsumeQueue)
	s.qmu.Lock()
	close(s.opening[k])
	delete(s.opening, k)
	if err == nil {
		m := s.queues[topic]
		if m == nil {
			m = make(map[int32]*consumequeue.Queue)
			s.queues[topic] = m
		}
		m[qid] = cq
	}
	s.qmu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return cq, nil
}

// prepareQueues creates the ConsumeQueue, and its first file, of each queue that recs are the
// first records of, before they are appended, so that the dispatcher finds the queues ready:
// creating a queue's file costs a few hundred microseconds, and on the dispatcher's path it
// held back every record stored after the queue's first (10,000 new queues held dispatch back
// for about 4.5 s). The sender waits instead, once per queue, and senders create their queues
// in parallel. A failure is only logged: the dispatcher then creates the queue itself.
func (s *Store) prepareQueues(recs []*message.Record) {
	for i, r := range recs {
		if i > 0 && r.Topic == recs[i-1].Topic && r.QueueID == recs[i-1].QueueID {
			continue
		}
		if !message.Queued(r.SysFlag) {
			continue
		}
		if s.queueByName(r.Topic, r.QueueID) != nil {
			continue
		}
		cq, err := s.openQueue(r.Topic, r.QueueID)
		if err == nil {
			err = cq.Prepare()
		}
		if err != nil {
			s.log.Warn("creating a queue for its first message failed; the dispatcher will", "topic", r.Topic, "queue_id", r.QueueID, "err", err)
		}
	}
}

// queue returns the ConsumeQueue of (topic, qid), or nil. It does not allocate.
func (s *Store) queue(topic []byte, qid int32) *consumequeue.Queue {
	s.qmu.RLock()
	defer s.qmu.RUnlock()
	return s.queues[string(topic)][qid]
}

func (s *Store) queueCount() int {
	s.qmu.RLock()
	defer s.qmu.RUnlock()
	n := 0
	for _, m := range s.queues {
		n += len(m)
	}
	return n
}

// allQueues returns a snapshot of every ConsumeQueue.
func (s *Store) allQueues() []*consumequeue.Queue {
	s.qmu.RLock()
	defer s.qmu.RUnlock()
	var out []*consumequeue.Queue
	for _, m := range s.queues {
		for _, cq := range m {
			out = append(out, cq)
		}
	}
	return out
}

// wakeDispatcher tells the dispatcher, and WaitCommitLog callers if any, that the CommitLog
// grew. It is called after the new end is published: by PutMessages (ASYNC_FLUSH), by the
// CommitLog's flusher when a flush publishes (SYNC_FLUSH) and by AppendReplicated.
func (s *Store) wakeDispatcher() {
	select {
	case s.dispatchReq <- struct{}{}:
	default:
	}
	if s.growWaiters.Load() > 0 {
		s.growMu.Lock()
		close(s.grown)
		s.grown = make(chan struct{})
		s.growMu.Unlock()
	}
}

// Recovery reports what Open found and repaired.
func (s *Store) Recovery() Recovery { return s.recovery }

// Config returns the store's configuration.
func (s *Store) Config() Config { return s.cfg }

// Close stops the background work, dispatches and flushes everything, writes the checkpoint,
// removes the abort marker and releases the data directory. It is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.cl.Seal() // no append after this, so the dispatcher's final drain sees every record
		close(s.stop)
		s.wg.Wait()
		var errs []error
		if err := s.cl.Close(); err != nil {
			errs = append(errs, err)
		}
		if err := s.checkpoint(); err != nil {
			errs = append(errs, err)
		}
		if len(errs) == 0 {
			if err := os.Remove(filepath.Join(s.dir, fileAbort)); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("store: remove abort marker: %w", err))
			}
		}
		s.closeErr = errors.Join(errs...)
		s.closeFiles()
		s.log.Info("store closed", "dir", s.dir, "max_offset", s.cl.MaxOffset())
	})
	return s.closeErr
}

// closeFiles unmaps everything and releases the lock (also used when Open fails).
func (s *Store) closeFiles() {
	if s.cl != nil {
		s.cl.Close()
	}
	if s.idx != nil {
		s.idx.Close()
	}
	for _, cq := range s.allQueues() {
		cq.Close()
	}
	if s.lockFile != nil {
		s.lockFile.Close()
		s.lockFile = nil
	}
}
