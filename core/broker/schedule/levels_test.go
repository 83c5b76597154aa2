package schedule

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseLevels(t *testing.T) {
	lv, err := ParseLevels(DefaultLevels)
	if err != nil || len(lv) != 18 || lv[0] != time.Second || lv[4] != time.Minute || lv[17] != 2*time.Hour {
		t.Fatalf("%v %v", lv, err)
	}
	for _, bad := range []string{"", "1x", "s", "-1s", "0s", "1.5s"} {
		if _, err := ParseLevels(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if lv, _ := ParseLevels("1s 2d"); lv[1] != 48*time.Hour {
		t.Fatal("days")
	}
}

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestDelayedDelivery(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{t: time.UnixMilli(1_800_000_000_000)}
	cfg := store.DefaultConfig(dir)
	cfg.MappedFileSizeCommitLog = 1 << 20
	cfg.MappedFileSizeConsumeQueue = 20 * 1000
	cfg.MaxMessageSize = 64 << 10
	cfg.Now = clk.now
	cfg.DiskUsage = func(string) (float64, error) { return 0.1, nil }
	levels, _ := ParseLevels("1s 5s 10s")
	cfg.TagsCode = TagsCodeFunc(levels)
	st, err := store.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l, err := New(st, Options{Levels: levels, Dir: dir, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	put := func(level int, body string) {
		p, _ := message.AppendProperties(nil, map[string]string{"DELAY": fmt.Sprint(level), "TAGS": "t"})
		r := &message.Record{Topic: "Orders", QueueID: 2, Body: []byte(body), Properties: string(p), BornHost: netip.MustParseAddrPort("1.2.3.4:5")}
		if ok, err := l.Rewrite(r); !ok || err != nil {
			t.Fatalf("rewrite: %v %v", ok, err)
		}
		if r.Topic != Topic || r.QueueID != int32(min(level, 3)-1) {
			t.Fatalf("rewritten to %s-%d", r.Topic, r.QueueID)
		}
		if _, err := st.PutMessage(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	put(1, "a")  // due at +1s
	put(2, "b")  // +5s
	put(99, "c") // clamped to level 3: +10s
	waitDispatched(t, st)

	deliver := func(want int) {
		t.Helper()
		n, err := l.DeliverDue(context.Background())
		if err != nil || n != want {
			t.Fatalf("delivered %d (%v), want %d", n, err, want)
		}
	}
	deliver(0)
	clk.t = clk.t.Add(1500 * time.Millisecond)
	deliver(1)
	deliver(0) // not twice
	clk.t = clk.t.Add(10 * time.Second)
	deliver(2)
	waitDispatched(t, st)
	res, err := st.GetMessages("Orders", 2, 0, 32, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Release()
	var bodies string
	for _, b := range res.Messages {
		v, _ := message.Parse(b)
		bodies += string(v.Body())
		props := message.ParseProperties(v.Properties())
		if _, ok := props["DELAY"]; ok || props["TAGS"] != "t" || props["REAL_TOPIC"] != "Orders" {
			t.Fatalf("delivered properties %v", props)
		}
	}
	if bodies != "abc" {
		t.Fatalf("delivered %q", bodies)
	}
	// Cursors survive a restart: nothing is delivered again.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2, err := New(st, Options{Levels: levels, Dir: dir, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := l2.DeliverDue(context.Background()); n != 0 {
		t.Fatalf("redelivered %d after restart", n)
	}
	l2.Start()
	l2.Close()
}

func TestRewriteIgnores(t *testing.T) {
	l, _ := New(nil, Options{Levels: []time.Duration{time.Second}, Dir: t.TempDir()})
	for name, r := range map[string]*message.Record{
		"no delay":   {Topic: "T", Properties: "TAGS\x01a"},
		"level 0":    {Topic: "T", Properties: "DELAY\x010"},
		"prepared":   {Topic: "T", Properties: "DELAY\x011", SysFlag: message.TxPrepared},
		"rolledback": {Topic: "T", Properties: "DELAY\x011", SysFlag: message.TxRollback},
	} {
		if ok, err := l.Rewrite(r); ok || err != nil || r.Topic != "T" {
			t.Errorf("%s: rewritten (%v, %v)", name, ok, err)
		}
	}
	if _, err := l.Rewrite(&message.Record{Topic: "T", Properties: "DELAY\x01x"}); err == nil {
		t.Error("bad level accepted")
	}
}

func waitDispatched(t *testing.T, st *store.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := st.WaitDispatched(ctx, st.CommitLogMaxOffset()); err != nil {
		t.Fatal(err)
	}
}
