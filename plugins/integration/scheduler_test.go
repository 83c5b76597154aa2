package integration

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/core/broker/brokertest"
	"github.com/ternmq/tern/core/broker/timer"
	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/plugins/host"
	"github.com/ternmq/tern/sdk/client"
	"github.com/ternmq/tern/sdk/plugin/plugintest"
)

// The scheduler and transaction-checker examples as real processes behind a real broker.

var (
	businessHoursBin = sync.OnceValues(func() (string, error) {
		return buildInto(binDir, "github.com/ternmq/tern/plugin-examples/businesshours-scheduler")
	})
	httpCheckerBin = sync.OnceValues(func() (string, error) {
		return buildInto(binDir, "github.com/ternmq/tern/plugin-examples/http-txchecker")
	})
)

// external returns the command and sha256 lines of a manifest entry running the binary bin
// builds.
func external(t testing.TB, bin func() (string, error)) string {
	t.Helper()
	path, err := bin()
	if err != nil {
		t.Fatal(err)
	}
	sum, err := plugintest.Checksum(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("    command: %s\n    sha256: %x\n", path, sum)
}

// startPluginCluster starts a plugin host with the manifest entries and a broker whose
// schedulers and transaction checker are the host's (its filters the default built-ins).
func startPluginCluster(t *testing.T, entries string, configure func(*broker.Config)) (*host.Host, *brokertest.Cluster) {
	t.Helper()
	h := startHost(t, entries)
	c := brokertest.Start(t, func(cfg *broker.Config) {
		cfg.Schedulers = broker.SchedulersOf(h.Schedulers())
		if tc, ok := h.TxChecker(); ok {
			cfg.TxChecker = tc
		}
		if configure != nil {
			configure(cfg)
		}
	})
	return h, c
}

// businessHours returns a manifest with the built-in levels as the default scheduler and the
// businesshours example deciding for topic, with the config lines given (indented by 6).
func businessHours(t testing.TB, topic, policy, config string) string {
	return `  - name: levels
    kind: scheduler
    builtin: levels
  - name: businesshours
    kind: scheduler
` + external(t, businessHoursBin) + `    topics: [` + topic + `]
    failurePolicy: ` + policy + `
    config:
` + config
}

// alwaysOpen is a businesshours config whose window never closes.
const alwaysOpen = `      timezone: UTC
      days: [mon, tue, wed, thu, fri, sat, sun]
      open: "00:00"
      close: "24:00"
`

// received collects what a push consumer is handed, by body.
type received struct {
	mu   sync.Mutex
	msgs map[string][]*client.MessageExt
	ch   chan struct{}
}

// consume starts a push consumer of group on topics; handle answers for each message (nil:
// success). It is closed when the test ends.
func consume(t *testing.T, c *brokertest.Cluster, group string, handle func(*client.MessageExt) client.ConsumeResult, topics ...string) *received {
	t.Helper()
	r := &received{msgs: map[string][]*client.MessageExt{}, ch: make(chan struct{}, 1)}
	pc, err := client.NewPushConsumer(group, client.WithNameServers(c.NamesrvAddr), client.WithLogger(brokertest.Logger()),
		client.WithConsumeFrom(client.ConsumeFromFirstOffset), client.WithConsumeBatchSize(1), client.WithRebalanceInterval(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range topics {
		err := pc.Subscribe(topic, client.Tag("*"), func(_ context.Context, msgs []*client.MessageExt) (client.ConsumeResult, error) {
			res := client.ConsumeSuccess
			for _, m := range msgs {
				if handle != nil {
					res = handle(m)
				}
				r.mu.Lock()
				r.msgs[string(m.Body)] = append(r.msgs[string(m.Body)], m)
				r.mu.Unlock()
			}
			select {
			case r.ch <- struct{}{}:
			default:
			}
			return res, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close(context.Background()) })
	return r
}

// get returns the deliveries of body.
func (r *received) get(body string) []*client.MessageExt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*client.MessageExt(nil), r.msgs[body]...)
}

// wait waits until every body has been delivered at least n times.
func (r *received) wait(t *testing.T, timeout time.Duration, n int, bodies ...string) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		missing := 0
		r.mu.Lock()
		for _, b := range bodies {
			if len(r.msgs[b]) < n {
				missing++
			}
		}
		r.mu.Unlock()
		if missing == 0 {
			return
		}
		select {
		case <-r.ch:
		case <-deadline:
			t.Fatalf("%d of %d messages not delivered %d times within %v", missing, len(bodies), n, timeout)
		}
	}
}

func newProducer(t *testing.T, c *brokertest.Cluster) *client.Producer {
	t.Helper()
	p, err := client.NewProducer("pg-"+t.Name(), client.WithNameServers(c.NamesrvAddr), client.WithLogger(brokertest.Logger()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p
}

// inboxRecords returns the properties of the records in the timer's inbox, with their CommitLog
// offsets.
func inboxRecords(t *testing.T, c *brokertest.Cluster) map[int64]map[string]string {
	t.Helper()
	st := c.Broker.Store()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := st.WaitDispatched(ctx, st.CommitLogMaxOffset()); err != nil {
		t.Fatal(err)
	}
	out := map[int64]map[string]string{}
	for off := st.MinOffset(timer.Topic, 0); off < st.MaxOffset(timer.Topic, 0); off++ {
		ce, err := st.QueueEntry(timer.Topic, 0, off)
		if err != nil {
			t.Fatal(err)
		}
		m, err := st.GetMessage(ce.PhysicalOffset)
		if err != nil {
			t.Fatal(err)
		}
		out[ce.PhysicalOffset] = message.ParseProperties(m.View.Properties())
		m.Release()
	}
	return out
}

// inboxRecord returns the CommitLog offset and properties of the inbox record with UNIQ_KEY id.
func inboxRecord(t *testing.T, c *brokertest.Cluster, id string) (int64, map[string]string) {
	t.Helper()
	for phy, props := range inboxRecords(t, c) {
		if props[message.PropertyUniqKey] == id {
			return phy, props
		}
	}
	t.Fatalf("no record %s in %s", id, timer.Topic)
	return 0, nil
}

// decidedAt waits until the timer log (core/broker/timer's wire format: 32-byte big-endian
// entries prev, at, phy, size, magic) has the entry of the inbox record at phy, and returns its
// delivery time.
func decidedAt(t *testing.T, c *brokertest.Cluster, phy int64) time.Time {
	t.Helper()
	const entrySize, magic = 32, 0x54494D52
	dir := filepath.Join(c.Config.Store.StorePathRootDir, "timerlog")
	deadline := time.Now().Add(30 * time.Second)
	for {
		files, _ := os.ReadDir(dir)
		for _, f := range files {
			fh, err := os.Open(filepath.Join(dir, f.Name()))
			if err != nil {
				t.Fatal(err)
			}
			b := make([]byte, 1<<20) // the tests write a few entries
			n, err := fh.ReadAt(b, 0)
			fh.Close()
			if err != nil && !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			for e := b[:n-n%entrySize]; len(e) >= entrySize; e = e[entrySize:] {
				if binary.BigEndian.Uint32(e[28:]) == magic && int64(binary.BigEndian.Uint64(e[16:])) == phy {
					return time.UnixMilli(int64(binary.BigEndian.Uint64(e[8:])))
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no timer log entry for the inbox record at %d", phy)
		}
		time.Sleep(20 * time.Millisecond) // polling the log
	}
}

// TestBusinessHoursSchedulerHoldsOutsideWindow: with every day open all day but yesterday,
// today and tomorrow holidays, the plugin holds a message to its topic until the day after
// tomorrow, 00:00 UTC: it waits in the timer's inbox and log with that time, and can be
// cancelled. Messages to another topic are delivered at once, or at their requested time.
func TestBusinessHoursSchedulerHoldsOutsideWindow(t *testing.T) {
	now := time.Now().UTC()
	day := func(d int) string { return now.AddDate(0, 0, d).Format(time.DateOnly) }
	opens := time.Date(now.Year(), now.Month(), now.Day()+2, 0, 0, 0, 0, time.UTC)
	h, c := startPluginCluster(t, businessHours(t, "Reports", "closed", alwaysOpen+
		`      holidays: ["`+day(-1)+`", "`+day(0)+`", "`+day(1)+`"]
`), nil)
	for _, topic := range []string{"Reports", "Other"} {
		if err := c.CreateTopic(topic, 2); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p := newProducer(t, c)
	held, err := p.Send(ctx, &client.Message{Topic: "Reports", Body: []byte("held")})
	if err != nil {
		t.Fatal(err)
	}
	requested := time.Now().Add(500 * time.Millisecond).Truncate(time.Millisecond)
	for _, m := range []*client.Message{{Topic: "Other", Body: []byte("now")}, {Topic: "Other", Body: []byte("timed"), DeliverAt: requested}} {
		if _, err := p.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	got := consume(t, c, "cg-reports", nil, "Reports", "Other")

	// Parked in the inbox, and held by the plugin's answer until the window opens.
	phy, props := inboxRecord(t, c, held.MsgID)
	if props[message.PropertyRealTopic] != "Reports" {
		t.Fatalf("parked with properties %v", props)
	}
	if at := decidedAt(t, c, phy); !at.Equal(opens) {
		t.Fatalf("held until %v, want %v", at.UTC(), opens)
	}
	if st := pluginStats(t, h, "businesshours"); st.Calls == 0 || st.Pid == 0 {
		t.Fatalf("plugin stats %+v", st)
	}

	// The other topic: at once without the wheel, and at the requested time through it.
	got.wait(t, 30*time.Second, 1, "now", "timed")
	if m := got.get("now")[0]; m.Properties[timer.PropertyOut] != "" {
		t.Errorf("undelayed message went through the timer: %v", m.Properties)
	}
	if m := got.get("timed")[0]; m.Properties[timer.PropertyOut] != strconv.FormatInt(requested.UnixMilli(), 10) || m.StoreTimestamp.Before(requested) {
		t.Errorf("timed message delivered at %v with %v, requested %v", m.StoreTimestamp, m.Properties, requested)
	}
	if n := len(got.get("held")); n != 0 {
		t.Fatalf("held message delivered %d times", n)
	}

	// Cancelled, it will never be delivered.
	if err := p.CancelScheduled(ctx, "Reports", held.MsgID); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	if err := p.CancelScheduled(ctx, "Reports", held.MsgID); err != nil {
		t.Fatalf("cancel again: %v", err)
	}
	if err := p.CancelScheduled(ctx, "Other", held.MsgID); !errors.Is(err, client.ErrNotScheduled) {
		t.Fatalf("cancel on another topic: %v", err)
	}
}

// TestBusinessHoursSchedulerBackoff: inside the window the plugin delivers a message to its
// topic at once, through the timer; a consumer that answers ConsumeRetryLater gets it again
// from its retry topic after the plugin's backoff (RocketMQ's level 3, 10 s, inside the
// window), parked in the timer's inbox and never in SCHEDULE_TOPIC_XXXX.
func TestBusinessHoursSchedulerBackoff(t *testing.T) {
	h, c := startPluginCluster(t, businessHours(t, "Jobs", "closed", alwaysOpen), nil)
	if err := c.CreateTopic("Jobs", 2); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sent, err := newProducer(t, c).Send(ctx, &client.Message{Topic: "Jobs", Body: []byte("job")})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var refusedAt time.Time
	const group = "workers"
	got := consume(t, c, group, func(m *client.MessageExt) client.ConsumeResult {
		if m.ReconsumeTimes == 0 {
			mu.Lock()
			refusedAt = time.Now()
			mu.Unlock()
			return client.ConsumeRetryLater
		}
		return client.ConsumeSuccess
	}, "Jobs")
	got.wait(t, 60*time.Second, 2, "job")

	first, again := got.get("job")[0], got.get("job")[1]
	if first.Properties[timer.PropertyOut] == "" || first.Properties[timer.PropertySource] == "" || first.ReconsumeTimes != 0 {
		t.Errorf("first delivery, not through the timer: %+v", first)
	}
	mu.Lock()
	backoffFrom := refusedAt.UnixMilli() + (10 * time.Second).Milliseconds()
	mu.Unlock()
	out, _ := strconv.ParseInt(again.Properties[timer.PropertyOut], 10, 64)
	if again.MsgID != sent.MsgID || again.ReconsumeTimes != 1 || again.Properties[message.PropertyRetryTopic] != "Jobs" || out < backoffFrom {
		t.Fatalf("redelivered %+v, due %d, want at or after %d", again, out, backoffFrom)
	}
	retries := 0
	for _, props := range inboxRecords(t, c) {
		if props[message.PropertyRealTopic] == protocol.RetryTopic(group) {
			retries++
			if props[timer.PropertyAt] == "" {
				t.Errorf("retry parked without its decided time: %v", props)
			}
		}
	}
	if retries != 1 {
		t.Fatalf("%d retries in %s, want 1", retries, timer.Topic)
	}
	st := c.Broker.Store()
	for q := range int32(18) {
		if n := st.MaxOffset(protocol.ScheduleTopic, q); n != 0 {
			t.Fatalf("%d messages in %s queue %d", n, protocol.ScheduleTopic, q)
		}
	}
	if ps := pluginStats(t, h, "businesshours"); ps.Calls < 2 {
		t.Fatalf("plugin called %d times, want Schedule and Backoff", ps.Calls)
	}
}

// TestBusinessHoursSchedulerKilled SIGKILLs the scheduler (failurePolicy closed) five times,
// each time sending messages to its topic at once: while it is down the timer holds its inbox,
// and once it is back every message is delivered, exactly once.
func TestBusinessHoursSchedulerKilled(t *testing.T) {
	const rounds, perRound = 5, 20
	h, c := startPluginCluster(t, businessHours(t, "Reports", "closed", alwaysOpen), nil)
	if err := c.CreateTopic("Reports", 2); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	got := consume(t, c, "cg-killed", nil, "Reports")
	p := newProducer(t, c)
	var bodies []string
	pid := 0
	for r := range rounds {
		pid = killNamed(ctx, t, h, "businesshours", pid)
		for i := range perRound {
			body := fmt.Sprintf("report-%d-%d", r, i)
			if _, err := p.Send(ctx, &client.Message{Topic: "Reports", Body: []byte(body)}); err != nil {
				t.Fatalf("send %s: %v", body, err)
			}
			bodies = append(bodies, body)
		}
	}
	got.wait(t, time.Minute, 1, bodies...)
	if err := h.WaitFor(ctx, "businesshours", func(s host.PluginStats) bool { return s.Restarts >= rounds }); err != nil {
		t.Fatal(err)
	}
	dups := 0
	for _, b := range bodies {
		ms := got.get(b)
		dups += len(ms) - 1
		if ms[0].Properties[timer.PropertyOut] == "" {
			t.Errorf("%s delivered without the timer: %v", b, ms[0].Properties)
		}
	}
	st := pluginStats(t, h, "businesshours")
	t.Logf("%d messages, %d kills: %d duplicates; plugin calls %d, errors %d, restarts %d", len(bodies), rounds, dups, st.Calls, st.Errors, st.Restarts)
	if dups != 0 {
		t.Fatalf("%d duplicate deliveries", dups)
	}
	if n := storedIn(t, c, "Reports", 2); n != int64(len(bodies)) {
		t.Fatalf("%d messages stored in Reports, want %d", n, len(bodies))
	}
}

// storedIn returns how many messages the topic's first queues hold, once everything stored is
// dispatched.
func storedIn(t *testing.T, c *brokertest.Cluster, topic string, queues int32) int64 {
	t.Helper()
	st := c.Broker.Store()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := st.WaitDispatched(ctx, st.CommitLogMaxOffset()); err != nil {
		t.Fatal(err)
	}
	var n int64
	for q := range queues {
		n += st.MaxOffset(topic, q) - st.MinOffset(topic, q)
	}
	return n
}

// killNamed waits until the plugin name runs in a process other than prev, SIGKILLs it and
// returns its pid.
func killNamed(ctx context.Context, t *testing.T, h *host.Host, name string, prev int) int {
	t.Helper()
	var pid int
	err := h.WaitFor(ctx, name, func(s host.PluginStats) bool {
		pid = s.Pid
		return s.State == host.StateUp && s.Pid != 0 && s.Pid != prev
	})
	if err != nil {
		t.Fatalf("plugin %s did not come back: %v", name, err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill %d: %v", pid, err)
	}
	return pid
}
