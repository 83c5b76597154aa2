package reliability

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ternmq/tern/sdk/client"
)

// The disk-full broker: 4 MiB CommitLog segments, small ConsumeQueue and index files, a disk
// check every 100 ms, writes refused above 80 % and forced deletion only above 95 % (so that
// nothing stored is deleted to make room before writes are refused).
var diskFullSets = []string{
	"mappedFileSizeCommitLog=4194304", "mappedFileSizeConsumeQueue=120000", "maxMessageSize=1048576",
	"maxHashSlotNum=1000", "maxIndexNum=4000", "cleanResourceInterval=100ms",
	"diskMaxUsedSpaceRatio=75", "diskSpaceCleanForciblyRatio=0.95", "diskSpaceWarningLevelRatio=0.80",
}

const (
	tmpfsSize  = 64 << 20
	fillerSize = 24 << 20
	diskBody   = 16 << 10
)

// TestDiskFull runs a broker on a 64 MiB tmpfs that a 24 MiB filler file shares: sends fill
// it until the store refuses them (SERVICE_NOT_AVAILABLE "store: disk full ..."), every
// acknowledged message then reads back intact, and once the filler is deleted sends are
// acknowledged again. Then it probes a truly full filesystem: with diskSpaceWarningLevelRatio=1
// (never refuse) and the tmpfs filled to the last page, sends go on until the store itself runs
// out of space, and it reports what the client sees and whether the broker survived (a write to
// a mapped page the filesystem cannot back is a SIGBUS). Needs root for mount(2).
func TestDiskFull(t *testing.T) {
	dir := mountTmpfs(t, tmpfsSize)
	filler := filepath.Join(dir, "filler")
	if err := writeFile(filler, fillerSize); err != nil {
		t.Fatalf("filler: %v", err)
	}
	dev := newDev(t, filepath.Join(dir, "data"), diskFullSets...)
	dev.start()
	topic := "DiskFull"
	dev.admin("topic", "create", topic, "-q", "4")
	p, err := client.NewProducer("diskfull-producer", withClient[client.ProducerOption](dev.clientOpts("diskfull-p"),
		client.WithSendRetries(0), client.WithSendTimeout(10*time.Second))...)
	if err != nil {
		t.Fatal(err)
	}
	defer closeClient(t, p)
	l := newLedger(1)
	seq := 0
	send := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		err := l.send(ctx, p, topic, 0, seq, diskBody)
		seq++
		return err
	}

	// Fill: at most what the tmpfs can hold.
	var refused error
	for range tmpfsSize / diskBody {
		if refused = send(); refused != nil {
			break
		}
	}
	used := diskUsed(t, dir)
	if refused == nil {
		t.Fatalf("%d sends filled %.0f %% of the disk and none was refused\n%s", seq, used*100, dev.logTail())
	}
	if !errors.Is(refused, client.ErrServiceNotAvailable) || !strings.Contains(refused.Error(), "disk full") {
		t.Fatalf("send %d at %.0f %% used: %v; want SERVICE_NOT_AVAILABLE, disk full", seq, used*100, refused)
	}
	acked := l.acked()
	for range 3 {
		if err := send(); !errors.Is(err, client.ErrServiceNotAvailable) {
			t.Fatalf("a send after the refusal: %v; want SERVICE_NOT_AVAILABLE", err)
		}
	}
	t.Logf("refused at %.1f %% used after %d acknowledged sends: %v", used*100, acked, refused)

	// Nothing stored is damaged: every acknowledged message reads back with its checksum.
	c := startLedgerConsumer(t, dev, "diskfull-consumer", topic, l)
	defer closeClient(t, c)
	waitDrained(t, l, 60*time.Second)

	// Free space: sends resume within a few disk checks.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	retry := time.NewTicker(50 * time.Millisecond)
	defer retry.Stop()
	for err := send(); err != nil; err = send() {
		if !errors.Is(err, client.ErrServiceNotAvailable) || time.Since(freed) > 30*time.Second {
			t.Fatalf("%v after the filler was deleted (%.0f %% used): %v", time.Since(freed).Round(time.Millisecond), diskUsed(t, dir)*100, err)
		}
		<-retry.C // the store re-checks the disk every 100 ms: there is nothing to wait on
	}
	resumed := time.Since(freed)
	for range 200 {
		if err := send(); err != nil {
			t.Fatalf("send after space was freed: %v", err)
		}
	}
	waitDrained(t, l, 60*time.Second)
	s := l.tally()
	line := fmt.Sprintf("diskfull: refused at %.1f %% of a %d MiB tmpfs with %v; %d acknowledged before, all read back intact; "+
		"sends resumed %v after the filler was deleted; %v",
		used*100, tmpfsSize>>20, refused, acked, resumed.Round(time.Millisecond), s)
	t.Log(line)
	fmt.Println(line)
	if s.Lost > 0 || s.Corrupt > 0 || s.Unknown > 0 {
		t.Fatalf("lost %d, corrupt %d, unknown %d", s.Lost, s.Corrupt, s.Unknown)
	}

	t.Run("ENOSPC", func(t *testing.T) { probeENOSPC(t, dev, dir, topic, l, send) })
}

// probeENOSPC restarts dev so that it never refuses writes, fills the filesystem to the last
// page and sends until the store fails or the broker dies; then it frees the space, restarts
// the broker if need be and checks that every acknowledged message is still there.
func probeENOSPC(t *testing.T, dev *devProc, dir, topic string, l *ledger, send func() error) {
	if err := dev.stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	dev.sets = append(dev.sets, "diskSpaceWarningLevelRatio=1")
	dev.start()
	full := filepath.Join(dir, "full")
	if err := writeFile(full, tmpfsSize); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling the tmpfs: %v; want ENOSPC", err)
	}
	before := l.acked()
	var sendErr error
	n := 0
	for ; n < 20000 && dev.running(); n++ {
		if sendErr = send(); sendErr != nil {
			break
		}
	}
	outcome := fmt.Sprintf("after %d more acknowledged sends the client saw: %v", l.acked()-before, sendErr)
	t.Log(outcome)
	// The dispatcher may still be writing what was stored into ConsumeQueue and index pages, and
	// the flusher flushing: give a crash caused by the full filesystem 3 s to show.
	select {
	case <-dev.exited:
	case <-time.After(3 * time.Second):
	}
	died := !dev.running()
	if died {
		st := dev.cmd.ProcessState
		sig := "exit"
		if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			sig = ws.Signal().String()
		}
		outcome += fmt.Sprintf("; FINDING: the broker died (%s, %s):\n%s", st, sig, dev.crashReport())
	} else {
		outcome += "; the broker kept running"
	}
	if err := os.Remove(full); err != nil {
		t.Fatal(err)
	}
	if died {
		dev.start() // recovery on the same data
	}
	retry := time.NewTicker(50 * time.Millisecond)
	defer retry.Stop()
	start := time.Now()
	for err := send(); err != nil; err = send() {
		if time.Since(start) > 30*time.Second {
			t.Fatalf("no send acknowledged after space was freed: %v", err)
		}
		<-retry.C
	}
	waitDrained(t, l, 60*time.Second)
	s := l.tally()
	line := fmt.Sprintf("diskfull: ENOSPC (tmpfs filled to the last page, no refusal threshold): %s; after freeing space: %v", outcome, s)
	t.Log(line)
	fmt.Println(line)
	if s.Lost > 0 || s.Corrupt > 0 || s.Unknown > 0 {
		t.Fatalf("lost %d, corrupt %d, unknown %d", s.Lost, s.Corrupt, s.Unknown)
	}
}

// mountTmpfs mounts a tmpfs of size bytes on a temporary directory, unmounted at the end of the
// test. It skips the test when that is not possible (not root, no mount(2)).
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a size-capped tmpfs (CI runs it as root)")
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		t.Skipf("cannot mount a tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// writeFile writes up to size bytes of non-zero data into a new file at path. At the first
// error it goes on in 4 KiB writes, to fill a full filesystem to its last page, and reports the
// error those get (ENOSPC when the filesystem is full).
func writeFile(path string, size int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for i := range buf {
		buf[i] = byte(i) | 1
	}
	for n := 0; n < size; {
		m, err := f.Write(buf[:min(len(buf), size-n)])
		n += m
		if err != nil {
			if len(buf) == 4<<10 {
				return err
			}
			buf = buf[:4<<10]
		}
	}
	return nil
}

// diskUsed returns the used fraction of the filesystem holding dir.
func diskUsed(t *testing.T, dir string) float64 {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return float64(st.Blocks-st.Bfree) / float64(st.Blocks)
}

// startLedgerConsumer starts a push consumer of group on topic, from its first offset, that
// records into l.
func startLedgerConsumer(t *testing.T, dev *devProc, group, topic string, l *ledger) *client.PushConsumer {
	t.Helper()
	return startPushConsumer(t, group, dev.clientOpts(group), topic, l.handler,
		client.WithConsumeFrom(client.ConsumeFromFirstOffset), client.WithRebalanceInterval(time.Second))
}

// startPushConsumer starts a push consumer of group on topic with the common options of a
// process (clientOpts) and more, handing messages to h.
func startPushConsumer(t testing.TB, group string, common []client.Option, topic string, h client.ConsumeFunc, more ...client.PushConsumerOption) *client.PushConsumer {
	t.Helper()
	c, err := client.NewPushConsumer(group, withClient(common, more...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Subscribe(topic, client.Tag("*"), h); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startLimit)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

// waitDrained waits until every message l has seen acknowledged was delivered.
func waitDrained(t *testing.T, l *ledger, limit time.Duration) {
	t.Helper()
	select {
	case <-l.drain():
	case <-time.After(limit):
		t.Fatalf("not every acknowledged message was consumed within %v: %v", limit, l.tally())
	}
}
