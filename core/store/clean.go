package store

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ternmq/tern/core/internal/periodic"
	"github.com/ternmq/tern/core/store/segment"
)

// maxDeletePerRound bounds the CommitLog segments one retention round deletes (RocketMQ deletes
// at most 10 files a round), so a large backlog of expired files goes over several rounds.
const maxDeletePerRound = 10

// cleanPlan is what one retention round decides from the time and the disk usage.
type cleanPlan struct {
	deleteExpired bool // delete segments older than fileReservedTime
	force         bool // delete the oldest segments whatever their age
	refuseWrites  bool // the disk is full: refuse appends
}

// planClean is the retention policy (RocketMQ's): expired segments go at a deleteWhen hour, or at
// once when the disk is more than diskMaxUsedSpaceRatio full; above diskSpaceCleanForciblyRatio
// the oldest go even unexpired; above diskSpaceWarningLevelRatio writes are refused.
func planClean(cfg *Config, hours []int, now time.Time, used float64) cleanPlan {
	return cleanPlan{
		deleteExpired: slices.Contains(hours, now.Hour()) || used > float64(cfg.DiskMaxUsedSpaceRatio)/100,
		force:         used > cfg.DiskSpaceCleanForciblyRatio,
		refuseWrites:  used > cfg.DiskSpaceWarningLevelRatio,
	}
}

func (s *Store) cleanLoop() {
	defer s.wg.Done()
	periodic.Run(s.stop, s.cfg.CleanResourceInterval.D(), func() {
		if _, err := s.Clean(); err != nil {
			s.log.Error("retention failed", "err", err)
		}
	})
}

// checkDisk updates the disk-full state and returns the used fraction.
func (s *Store) checkDisk() float64 {
	used, err := s.cfg.DiskUsage(s.dir)
	if err != nil {
		s.log.Warn("disk usage unknown", "dir", s.dir, "err", err)
		return 0
	}
	full := used > s.cfg.DiskSpaceWarningLevelRatio
	if was := s.diskFull.Swap(full); was != full {
		if full {
			s.log.Error("disk full: refusing writes", "dir", s.dir, "used", used, "limit", s.cfg.DiskSpaceWarningLevelRatio)
		} else {
			s.log.Info("disk space available again: accepting writes", "dir", s.dir, "used", used)
		}
	}
	return used
}

// CleanResult reports one retention round.
type CleanResult struct {
	DiskUsed          float64
	SegmentsDeleted   int
	QueueFilesDeleted int
	IndexFilesDeleted int
	WritesRefused     bool
}

// Clean runs one retention round now: it checks the disk, deletes what the policy allows (never
// the newest CommitLog segment), and moves ConsumeQueue and index data below the new CommitLog
// minimum out of the way. The background loop calls it every cleanResourceInterval.
func (s *Store) Clean() (CleanResult, error) {
	s.maint.Lock()
	defer s.maint.Unlock()
	var res CleanResult
	hours, err := parseHours(s.cfg.DeleteWhen)
	if err != nil {
		return res, err
	}
	now := s.now()
	res.DiskUsed = s.checkDisk()
	plan := planClean(&s.cfg, hours, now, res.DiskUsed)
	res.WritesRefused = plan.refuseWrites
	if plan.deleteExpired || plan.force {
		expiry := now.Add(-time.Duration(s.cfg.FileReservedTime) * time.Hour)
		floor := int64(math.MaxInt64)
		if s.cfg.RetentionFloor != nil {
			floor = s.cfg.RetentionFloor()
		}
		n, err := s.cl.Segments().RemoveHead(maxDeletePerRound, func(seg *segment.Segment) bool {
			if plan.force {
				return true
			}
			if seg.End() > floor {
				return false
			}
			st, err := os.Stat(seg.Path())
			return err == nil && st.ModTime().Before(expiry)
		})
		res.SegmentsDeleted = n
		if err != nil {
			return res, fmt.Errorf("store: retention: %w", err)
		}
		if n > 0 {
			s.log.Info("retention deleted commitlog segments", "count", n, "forced", plan.force,
				"min_offset", s.cl.MinOffset(), "disk_used", res.DiskUsed)
		}
	}
	minPhy := s.cl.MinOffset()
	for _, cq := range s.allQueues() {
		n, err := cq.DeleteBefore(minPhy)
		res.QueueFilesDeleted += n
		if err != nil {
			return res, fmt.Errorf("store: retention: %w", err)
		}
	}
	if s.idx != nil {
		n, err := s.idx.DeleteBefore(minPhy)
		res.IndexFilesDeleted = n
		if err != nil {
			return res, fmt.Errorf("store: retention: %w", err)
		}
	}
	if res.SegmentsDeleted > 0 {
		res.DiskUsed = s.checkDisk()
		res.WritesRefused = s.diskFull.Load()
	}
	return res, nil
}

// DiskFull reports whether writes are being refused for lack of space.
func (s *Store) DiskFull() bool { return s.diskFull.Load() }

// statfsUsage returns the used fraction of the filesystem holding dir.
func statfsUsage(dir string) (float64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Clean(dir), &st); err != nil {
		return 0, err
	}
	if st.Blocks == 0 {
		return 0, nil
	}
	return float64(st.Blocks-st.Bfree) / float64(st.Blocks), nil
}
