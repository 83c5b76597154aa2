package transaction

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ternmq/tern/core/broker/offsets"
	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/store"
)

var host = netip.MustParseAddrPort("127.0.0.1:10911")

// recorder is a Checker that keeps what it is asked.
type recorder struct {
	mu   sync.Mutex
	reqs []CheckRequest
}

func (r *recorder) Check(_ context.Context, req CheckRequest) error {
	req.Record.Body = bytes.Clone(req.Record.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
	return nil
}

func (r *recorder) take() []CheckRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.reqs
	r.reqs = nil
	return out
}

// env is a store, an offsets table and a Service on them, with a clock the test moves.
type env struct {
	t    *testing.T
	dir  string
	max  int
	st   *store.Store
	offs *offsets.Manager
	svc  *Service
	chk  *recorder
	now  time.Time
}

func newEnv(t *testing.T, checkMax int) *env {
	e := &env{t: t, dir: t.TempDir(), max: checkMax, now: t0}
	e.open()
	t.Cleanup(e.close)
	return e
}

func (e *env) open() {
	e.t.Helper()
	cfg := store.DefaultConfig(e.dir)
	cfg.MappedFileSizeCommitLog, cfg.MappedFileSizeConsumeQueue = 8<<20, 20*10_000
	cfg.MaxHashSlotNum, cfg.MaxIndexNum = 1000, 10_000
	cfg.DiskUsage = func(string) (float64, error) { return 0.1, nil }
	cfg.StoreHost = host
	var err error
	if e.st, err = store.Open(cfg); err != nil {
		e.t.Fatal(err)
	}
	if e.offs, err = offsets.Open(e.dir); err != nil {
		e.t.Fatal(err)
	}
	e.chk = &recorder{}
	e.svc, err = New(e.st, e.offs, e.chk, Options{
		Timeout: 6 * time.Second, CheckInterval: time.Minute, CheckMax: e.max, Host: host,
		Now: func() time.Time { return e.now },
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) close() {
	if e.st == nil {
		return
	}
	e.svc.Close()
	if err := e.offs.Flush(); err != nil {
		e.t.Error(err)
	}
	if err := e.st.Close(); err != nil {
		e.t.Error(err)
	}
	e.st = nil
}

func (e *env) restart() {
	e.t.Helper()
	e.close()
	e.open()
}

type sent struct{ queueOffset, phy int64 }

// sendHalf stores a half message as the broker's send path does, born at the env's clock.
func (e *env) sendHalf(body string, extra ...string) sent {
	e.t.Helper()
	props := map[string]string{message.PropertyUniqKey: "U-" + body, message.PropertyTags: "tag-" + body,
		message.PropertyTransactionPrepared: "true", message.PropertyProducerGroup: "pg"}
	for i := 0; i+1 < len(extra); i += 2 {
		props[extra[i]] = extra[i+1]
	}
	p, err := message.AppendProperties(nil, props)
	if err != nil {
		e.t.Fatal(err)
	}
	r := &message.Record{Topic: "T", QueueID: 1, SysFlag: message.TxPrepared, BornTimestamp: e.now.UnixMilli(),
		BornHost: netip.MustParseAddrPort("10.0.0.1:5000"), Body: []byte(body), Properties: string(p)}
	if err := Prepare(r, "pg"); err != nil {
		e.t.Fatal(err)
	}
	res, err := e.st.PutMessage(context.Background(), r)
	if err != nil {
		e.t.Fatal(err)
	}
	return sent{res.QueueOffset, res.PhysicalOffset}
}

func (e *env) end(s sent, o Outcome) error {
	return e.svc.End(context.Background(), EndRequest{ProducerGroup: "pg", QueueOffset: s.queueOffset, PhysicalOffset: s.phy, Outcome: o})
}

func (e *env) dispatched() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.st.WaitDispatched(ctx, e.st.CommitLogMaxOffset()); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) checkOnce() Report {
	e.t.Helper()
	e.dispatched()
	rep, err := e.svc.CheckOnce(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	e.dispatched()
	return rep
}

// messages returns the records of (topic, qid), dispatched.
func (e *env) messages(topic string, qid int32) []message.Record {
	e.t.Helper()
	e.dispatched()
	res, err := e.st.GetMessages(topic, qid, 0, 32, 0, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Release()
	var out []message.Record
	for _, b := range res.Messages {
		v, err := message.Parse(b)
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, v.Record())
	}
	return out
}

func wantResolved(t *testing.T, err error, want Outcome) {
	t.Helper()
	var re *ResolvedError
	if !errors.As(err, &re) || re.Outcome != want {
		t.Fatalf("got %v, want a ResolvedError with %v", err, want)
	}
}

func TestEndCommitAndRollback(t *testing.T) {
	e := newEnv(t, 15)
	a, b := e.sendHalf("a"), e.sendHalf("b")
	if got := e.messages("T", 1); len(got) != 0 {
		t.Fatalf("half messages visible in the real topic: %d", len(got))
	}
	if err := e.end(a, Committed); err != nil {
		t.Fatal(err)
	}
	got := e.messages("T", 1)
	if len(got) != 1 {
		t.Fatalf("%d messages after a commit", len(got))
	}
	r := got[0]
	props := message.ParseProperties([]byte(r.Properties))
	if string(r.Body) != "a" || message.TxType(r.SysFlag) != message.TxCommit || r.PreparedTransactionOffset != a.phy ||
		r.BornHost.String() != "10.0.0.1:5000" {
		t.Fatalf("committed record %+v", r)
	}
	for _, k := range []string{message.PropertyTransactionPrepared, message.PropertyRealTopic, message.PropertyRealQueueID} {
		if _, ok := props[k]; ok {
			t.Errorf("committed record keeps %s: %v", k, props)
		}
	}
	if props[message.PropertyUniqKey] != "U-a" || props[message.PropertyTags] != "tag-a" || props[message.PropertyProducerGroup] != "pg" {
		t.Errorf("committed record properties %v", props)
	}
	// Repeats: the same answer is success, the other one an error; nothing is written again.
	if err := e.end(a, Committed); err != nil {
		t.Fatalf("repeated commit: %v", err)
	}
	wantResolved(t, e.end(a, RolledBack), Committed)
	if err := e.end(b, RolledBack); err != nil {
		t.Fatal(err)
	}
	if err := e.end(b, RolledBack); err != nil {
		t.Fatalf("repeated rollback: %v", err)
	}
	wantResolved(t, e.end(b, Committed), RolledBack)
	if got := e.messages("T", 1); len(got) != 1 {
		t.Fatalf("%d messages after repeats, want 1", len(got))
	}
	if ops := e.messages(OpTopic, 0); len(ops) != 2 {
		t.Fatalf("%d op records, want 2", len(ops))
	}
}

func TestEndRejects(t *testing.T) {
	e := newEnv(t, 15)
	a := e.sendHalf("a")
	for _, tc := range []struct {
		name string
		req  EndRequest
		want error
	}{
		{"wrong group", EndRequest{ProducerGroup: "other", QueueOffset: a.queueOffset, PhysicalOffset: a.phy, Outcome: Committed}, ErrMismatch},
		{"wrong queue offset", EndRequest{ProducerGroup: "pg", QueueOffset: a.queueOffset + 1, PhysicalOffset: a.phy, Outcome: Committed}, ErrMismatch},
		{"no record there", EndRequest{ProducerGroup: "pg", QueueOffset: 0, PhysicalOffset: a.phy + 3, Outcome: Committed}, ErrNoHalf},
		{"past the end", EndRequest{ProducerGroup: "pg", QueueOffset: 0, PhysicalOffset: 1 << 40, Outcome: RolledBack}, ErrNoHalf},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := e.svc.End(context.Background(), tc.req); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	// A committed message is not a half message.
	if err := e.end(a, Committed); err != nil {
		t.Fatal(err)
	}
	real := e.messages("T", 1)[0]
	err := e.svc.End(context.Background(), EndRequest{ProducerGroup: "pg", QueueOffset: 0, PhysicalOffset: real.PhysicalOffset, Outcome: Committed})
	if !errors.Is(err, ErrNoHalf) {
		t.Fatalf("end on a committed message: %v", err)
	}
}

func TestEndConcurrentCommitsDeliverOnce(t *testing.T) {
	e := newEnv(t, 15)
	a := e.sendHalf("a")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() { errs <- e.end(a, Committed) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := e.messages("T", 1); len(got) != 1 {
		t.Fatalf("%d messages after 8 concurrent commits", len(got))
	}
}

func TestCheckRunsAndRestart(t *testing.T) {
	e := newEnv(t, 15)
	a, b, c := e.sendHalf("a"), e.sendHalf("b"), e.sendHalf("c")
	if err := e.end(a, Committed); err != nil {
		t.Fatal(err)
	}
	if err := e.end(b, RolledBack); err != nil {
		t.Fatal(err)
	}
	// Too young: nothing is checked; progress moves over the resolved ones only.
	e.now = e.now.Add(time.Second)
	if rep := e.checkOnce(); rep.Checked != 0 || !rep.Waited || e.svc.Ledger().Progress() != 2 {
		t.Fatalf("young: %+v, progress %d", rep, e.svc.Ledger().Progress())
	}
	// Old enough: c is re-appended with a check count and checked.
	e.now = e.now.Add(10 * time.Second)
	if rep := e.checkOnce(); rep.Checked != 1 {
		t.Fatalf("old: %+v", rep)
	}
	reqs := e.chk.take()
	if len(reqs) != 1 {
		t.Fatalf("%d checks", len(reqs))
	}
	chk := reqs[0]
	cprops := message.ParseProperties([]byte(chk.Record.Properties))
	if chk.ProducerGroup != "pg" || chk.UniqKey != "U-c" || chk.QueueOffset != 3 || chk.Record.Topic != "T" || chk.Record.QueueID != 1 ||
		string(chk.Record.Body) != "c" || cprops[message.PropertyTransactionCheckTimes] != "1" ||
		cprops[message.PropertyTranPreparedQueueOffset] != strconv.FormatInt(c.queueOffset, 10) ||
		chk.OffsetMsgID != message.OffsetMsgID(host, chk.PhysicalOffset) || chk.Record.QueueOffset != 3 {
		t.Fatalf("check request %+v, properties %v", chk, cprops)
	}
	// Another transaction, d, resolved while c is still pending: above the floor, so its
	// outcome is kept across the restart.
	d := e.sendHalf("d")
	if err := e.end(d, Committed); err != nil {
		t.Fatal(err)
	}
	if rep := e.checkOnce(); rep.Checked != 1 { // c again
		t.Fatalf("before the restart: %+v", rep)
	}
	e.chk.take()
	e.restart()
	if o := e.svc.Ledger().Outcome(c.queueOffset); o != Unresolved {
		t.Fatalf("pending transaction after the restart: %v", o)
	}
	if err := e.end(d, Committed); err != nil {
		t.Fatalf("repeated commit after the restart: %v", err)
	}
	wantResolved(t, e.end(d, RolledBack), Committed)
	wantResolved(t, e.end(a, Committed), Resolved) // resolved two runs ago: outcome forgotten
	// Still checked after the restart.
	e.now = e.now.Add(time.Minute)
	if rep := e.checkOnce(); rep.Checked != 1 {
		t.Fatalf("after the restart: %+v", rep)
	}
	second := e.chk.take()[0]
	if p := message.ParseProperties([]byte(second.Record.Properties)); p[message.PropertyTransactionCheckTimes] != "3" {
		t.Fatalf("second check: %v", p)
	}
	// The producer answers the first check late, then the second, then repeats its own commit:
	// one delivery.
	first := sent{chk.QueueOffset, chk.PhysicalOffset}
	if err := e.end(first, Committed); err != nil {
		t.Fatal(err)
	}
	if err := e.end(sent{second.QueueOffset, second.PhysicalOffset}, Committed); err != nil {
		t.Fatal(err)
	}
	if err := e.end(c, Committed); err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, r := range e.messages("T", 1) {
		bodies = append(bodies, string(r.Body))
	}
	if len(bodies) != 3 || bodies[0] != "a" || bodies[1] != "d" || bodies[2] != "c" {
		t.Fatalf("delivered %q, want a, d, c once each", bodies)
	}
	// Nothing left: the next runs check nothing and everything is below the floor.
	e.now = e.now.Add(time.Hour)
	for range 2 {
		if rep := e.checkOnce(); rep.Checked != 0 {
			t.Fatalf("after everything resolved: %+v", rep)
		}
	}
	if st := e.svc.Ledger().Stats(); st.Resolved != 0 || st.Carried != 0 || st.Floor != st.Progress || st.OpProgress != e.st.MaxOffset(OpTopic, 0) {
		t.Fatalf("ledger not pruned: %+v", st)
	}
}

func TestCheckMaxDiscards(t *testing.T) {
	e := newEnv(t, 2)
	a := e.sendHalf("a")
	for i := range 2 {
		e.now = e.now.Add(time.Minute)
		if rep := e.checkOnce(); rep.Checked != 1 {
			t.Fatalf("run %d: %+v", i, rep)
		}
	}
	e.now = e.now.Add(time.Minute)
	if rep := e.checkOnce(); rep.Discarded != 1 || rep.Checked != 0 {
		t.Fatalf("third run: %+v", rep)
	}
	moved := e.messages(CheckMaxTopic, 0)
	if len(moved) != 1 || string(moved[0].Body) != "a" || message.TxType(moved[0].SysFlag) != message.TxNotType {
		t.Fatalf("%s holds %+v", CheckMaxTopic, moved)
	}
	wantResolved(t, e.end(a, Committed), Discarded)
	if err := e.end(a, RolledBack); err != nil {
		t.Fatalf("rollback of a discarded transaction: %v", err)
	}
	if got := e.messages("T", 1); len(got) != 0 {
		t.Fatalf("discarded transaction delivered: %d", len(got))
	}
	e.now = e.now.Add(time.Minute)
	if rep := e.checkOnce(); rep.Checked+rep.Discarded != 0 {
		t.Fatalf("after the discard: %+v", rep)
	}
}

func TestCheckImmunityDefers(t *testing.T) {
	e := newEnv(t, 15)
	e.sendHalf("a", message.PropertyCheckImmunityTimeInSeconds, "3600")
	b := e.sendHalf("b")
	e.now = e.now.Add(time.Minute)
	// a is deferred (re-appended unchecked), b behind it is checked.
	if rep := e.checkOnce(); rep.Deferred != 1 || rep.Checked != 1 {
		t.Fatalf("run 1: %+v", rep)
	}
	if reqs := e.chk.take(); len(reqs) != 1 || reqs[0].UniqKey != "U-b" {
		t.Fatalf("checks %+v", reqs)
	}
	if err := e.end(b, RolledBack); err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(2 * time.Hour)
	if rep := e.checkOnce(); rep.Checked != 1 || rep.Deferred != 0 {
		t.Fatalf("run 2: %+v", rep)
	}
	reqs := e.chk.take()
	if len(reqs) != 1 || reqs[0].UniqKey != "U-a" {
		t.Fatalf("checks %+v", reqs)
	}
	if p := message.ParseProperties([]byte(reqs[0].Record.Properties)); p[message.PropertyTransactionCheckTimes] != "1" {
		t.Fatalf("a deferral counted as a check: %v", p)
	}
}

func TestPrepare(t *testing.T) {
	for _, tc := range []struct {
		name, props string
		want        map[string]string
	}{
		{"go client", "TRAN_MSG\x01true\x02PGROUP\x01pg\x02UNIQ_KEY\x01u\x02",
			map[string]string{"TRAN_MSG": "true", "PGROUP": "pg", "UNIQ_KEY": "u", "REAL_TOPIC": "T", "REAL_QID": "3"}},
		{"no group", "TRAN_MSG\x01true", map[string]string{"TRAN_MSG": "true", "PGROUP": "hdr", "REAL_TOPIC": "T", "REAL_QID": "3"}},
		{"broker-owned dropped", "TRAN_MSG\x01true\x02PGROUP\x01pg\x02TRAN_PREPARED_QUEUE_OFFSET\x017\x02TRANSACTION_CHECK_TIMES\x0199",
			map[string]string{"TRAN_MSG": "true", "PGROUP": "pg", "REAL_TOPIC": "T", "REAL_QID": "3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &message.Record{Topic: "T", QueueID: 3, SysFlag: message.TxPrepared | message.SysFlagCompressed, Properties: tc.props}
			if !IsHalf([]byte(tc.props)) {
				t.Fatal("IsHalf false")
			}
			if err := Prepare(r, "hdr"); err != nil {
				t.Fatal(err)
			}
			got := message.ParseProperties([]byte(r.Properties))
			if r.Topic != HalfTopic || r.QueueID != 0 || r.SysFlag != message.SysFlagCompressed || len(got) != len(tc.want) {
				t.Fatalf("record %+v, properties %v", r, got)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Fatalf("properties %v, want %v", got, tc.want)
				}
			}
		})
	}
	for _, props := range []string{"", "TRAN_MSG\x01false", "TRAN_MSG\x01yes", "PGROUP\x01pg"} {
		if IsHalf([]byte(props)) {
			t.Errorf("IsHalf(%q)", props)
		}
	}
	if !IsHalf([]byte("TRAN_MSG\x01TRUE")) {
		t.Error("IsHalf ignores case as Java does")
	}
}

// TestRecordsKeepRawValues: a property value with a separator inside (which AppendProperties
// refuses) survives the half, its copies and the commit byte for byte.
func TestRecordsKeepRawValues(t *testing.T) {
	r := &message.Record{Topic: "T", QueueID: 2, SysFlag: message.TxPrepared, BornHost: host, StoreHost: host,
		Body: []byte("x"), Properties: "TRAN_MSG\x01true\x02PGROUP\x01pg\x02odd\x01a\x01b\x02"}
	if err := Prepare(r, "pg"); err != nil {
		t.Fatal(err)
	}
	r.QueueOffset, r.PhysicalOffset, r.BodyCRC = 7, 1000, message.BodyCRC(r.Body)
	v, err := message.Parse(message.AppendRecord(nil, r))
	if err != nil {
		t.Fatal(err)
	}
	h := halfOf(7, v)
	copied, err := renewRecord(v, h, 4)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := commitRecord(v)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		props string
		want  map[string]string
	}{
		"copy": {copied.Properties, map[string]string{"TRAN_MSG": "true", "PGROUP": "pg", "odd": "a\x01b", "REAL_TOPIC": "T", "REAL_QID": "2",
			"TRANSACTION_CHECK_TIMES": "4", "TRAN_PREPARED_QUEUE_OFFSET": "7"}},
		"commit": {committed.Properties, map[string]string{"PGROUP": "pg", "odd": "a\x01b"}},
	} {
		got := message.ParseProperties([]byte(tc.props))
		if len(got) != len(tc.want) {
			t.Fatalf("%s: %q", name, tc.props)
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Fatalf("%s: %q", name, tc.props)
			}
		}
	}
	if committed.Topic != "T" || committed.QueueID != 2 || committed.SysFlag != message.TxCommit || committed.PreparedTransactionOffset != 1000 {
		t.Fatalf("commit record %+v", committed)
	}
}
