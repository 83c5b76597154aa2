package broker

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/ternmq/tern/core/broker/schedule"
	"github.com/ternmq/tern/core/broker/timer"
	"github.com/ternmq/tern/core/broker/transaction"
	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

// Message traces (TRACE_MESSAGE, `tern admin trace`): the life of a message told by the
// broker's own records. Every copy the broker makes of a message keeps the producer's UNIQ_KEY
// — the half message of a transaction, the copy waiting for a DELAY level or in the timing
// wheel, the delivered or committed copy, each consumer retry and the dead letter — and the
// message index holds UNIQ_KEY per topic. So a trace looks the id up in the message's topic and
// in the system, retry and dead-letter topics, and tells the copies apart by topic
// (msgtrace_life.go). Consumption comes from the committed offsets, the live subscriptions and
// the pull log (pulllog.go). Without the message index only a record named by its offset
// message id can be traced.

// traceMaxCopies bounds the copies of one message read from one topic.
const traceMaxCopies = 64

// traceMaxKeyed bounds the messages a key search traces.
const traceMaxKeyed = 256

// handleTraceMessage serves TRACE_MESSAGE.
func (b *Broker) handleTraceMessage(ctx context.Context, _ *remoting.Conn, req *remoting.Command, h *protocol.TraceMessageHeader) *remoting.Command {
	// The index is written by the dispatcher: let it reach what is stored now, so a message
	// acknowledged just before is found.
	wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	err := b.store.WaitDispatched(wctx, b.store.CommitLogMaxOffset())
	cancel()
	if err != nil {
		b.log.Debug("trace: index behind the commitlog", "err", err)
	}
	tr := b.traceMessage(h)
	if len(tr.Messages) == 0 {
		remark := fmt.Sprintf("message %s not found on broker %s", h.MsgID, b.cfg.BrokerName)
		if h.Key != "" {
			remark = fmt.Sprintf("no message of %s with key %s on broker %s", h.Topic, h.Key, b.cfg.BrokerName)
		}
		if len(tr.Notes) > 0 {
			remark += " (" + strings.Join(tr.Notes, "; ") + ")"
		}
		return remoting.NewResponse(req, int16(remoting.QueryNotFound), remark)
	}
	body, err := json.Marshal(tr)
	if err != nil {
		return remoting.ErrorResponse(req, fmt.Errorf("%w: encode trace: %w", remoting.ErrSystemError, err))
	}
	resp := ok(req)
	resp.Body = body
	return resp
}

// traceMessage collects the lives of the messages h asks for.
func (b *Broker) traceMessage(h *protocol.TraceMessageHeader) protocol.MessageTrace {
	t := &tracer{b: b}
	tr := protocol.MessageTrace{
		BrokerName: b.cfg.BrokerName, BrokerAddr: b.cfg.BrokerAddr, Now: b.now().UnixMilli(),
		PullsSince: b.pulls.since, Messages: []protocol.MessageLife{},
	}
	if h.Key != "" {
		n := int(h.MaxNum)
		if n == 0 {
			n = protocol.DefaultTraceMaxNum
		}
		tr.Messages = t.byKey(h.Topic, h.Key, min(n, traceMaxKeyed))
	} else if l, ok := t.byID(h.MsgID, h.Topic); ok {
		tr.Messages = append(tr.Messages, l)
	}
	tr.Notes = t.notes
	return tr
}

// tracer is one trace request's search.
type tracer struct {
	b     *Broker
	notes []string
}

func (t *tracer) note(format string, a ...any) {
	n := fmt.Sprintf(format, a...)
	if !slices.Contains(t.notes, n) {
		t.notes = append(t.notes, n)
	}
}

// found is a record of the message, copied out of the CommitLog.
type found struct {
	rec     protocol.TracedRecord
	props   map[string]string
	raw     []byte // the properties as stored
	sysFlag int32
}

func readFound(v message.View) found {
	raw := slices.Clone(v.Properties())
	props := message.ParseProperties(raw)
	if props == nil {
		props = map[string]string{}
	}
	return found{
		rec: protocol.TracedRecord{
			Topic: string(v.Topic()), QueueID: v.QueueID(), QueueOffset: v.QueueOffset(), CommitLogOffset: v.PhysicalOffset(),
			OffsetMsgID: message.OffsetMsgID(v.StoreHost(), v.PhysicalOffset()), StoreHost: v.StoreHost().String(),
			StoreTime: v.StoreTimestamp(), BornHost: v.BornHost().String(), BornTime: v.BornTimestamp(), Size: v.Size(),
			Tags: props[message.PropertyTags], Keys: props[message.PropertyKeys], ReconsumeTimes: v.ReconsumeTimes(),
		},
		props: props, raw: raw, sysFlag: v.SysFlag(),
	}
}

// byID traces one message by its client id (UNIQ_KEY) or offset message id. An id that decodes
// as an offset message id of a record on this broker names that record; anything else is taken
// for a UNIQ_KEY (both are 32 hex characters for IPv4 hosts).
func (t *tracer) byID(id, topic string) (protocol.MessageLife, bool) {
	if f, ok := t.atOffsetID(id); ok {
		uniq := f.props[message.PropertyUniqKey]
		if uniq == "" {
			return t.life(f.rec.OffsetMsgID, topic, []found{f}), true
		}
		if topic == "" {
			topic = originTopic(f)
		}
		return t.byUniq(uniq, topic, f)
	}
	return t.byUniq(id, topic)
}

// atOffsetID reads the record an offset message id names, if it is on this broker.
func (t *tracer) atOffsetID(id string) (found, bool) {
	host, phy, err := message.ParseOffsetMsgID(id)
	st := t.b.store
	if err != nil || phy < st.CommitLogMinOffset() || phy >= st.CommitLogMaxOffset() {
		return found{}, false
	}
	m, err := st.GetMessage(phy)
	if err != nil {
		return found{}, false
	}
	defer m.Release()
	if m.View.StoreHost() != host || m.View.PhysicalOffset() != phy {
		return found{}, false
	}
	return readFound(m.View), true
}

// byUniq traces the message whose UNIQ_KEY is uniq; known is a record already read.
func (t *tracer) byUniq(uniq, topic string, known ...found) (protocol.MessageLife, bool) {
	fs := append(t.copies(uniq, topic), known...)
	slices.SortFunc(fs, func(a, b found) int { return cmp.Compare(a.rec.CommitLogOffset, b.rec.CommitLogOffset) })
	fs = slices.CompactFunc(fs, func(a, b found) bool { return a.rec.CommitLogOffset == b.rec.CommitLogOffset })
	if len(fs) == 0 {
		return protocol.MessageLife{}, false
	}
	return t.life(uniq, topic, fs), true
}

// byKey traces the messages of topic whose KEYS hold key, newest first.
func (t *tracer) byKey(topic, key string, maxNum int) []protocol.MessageLife {
	out := []protocol.MessageLife{}
	qr, err := t.b.store.QueryMessage(topic, key, maxNum, 0, math.MaxInt64)
	if err != nil {
		t.note("%v", err)
		return out
	}
	var fs []found
	for _, v := range qr.Messages {
		fs = append(fs, readFound(v))
	}
	qr.Release()
	seen := map[string]bool{}
	for _, f := range fs {
		uniq := f.props[message.PropertyUniqKey]
		switch {
		case uniq == "":
			out = append(out, t.life(f.rec.OffsetMsgID, topic, []found{f}))
		case !seen[uniq]:
			seen[uniq] = true
			if l, ok := t.byUniq(uniq, topic, f); ok {
				out = append(out, l)
			}
		}
	}
	return out
}

// copies finds the records whose UNIQ_KEY is uniq in the topics a copy of a message of topic
// can be in (every topic when topic is "").
func (t *tracer) copies(uniq, topic string) []found {
	var out []found
	for _, tp := range t.searchTopics(topic) {
		qr, err := t.b.store.QueryMessage(tp, uniq, traceMaxCopies, 0, math.MaxInt64)
		if err != nil {
			t.note("%v", err)
			return out
		}
		for _, v := range qr.Messages {
			if u, _ := message.Property(v.Properties(), message.PropertyUniqKey); string(u) == uniq {
				out = append(out, readFound(v))
			}
		}
		qr.Release()
	}
	return out
}

// searchTopics lists the topics to look a message of topic up in.
func (t *tracer) searchTopics(topic string) []string {
	out := []string{schedule.Topic, timer.Topic, transaction.HalfTopic, transaction.CheckMaxTopic}
	if topic != "" {
		out = append(out, topic)
	}
	for _, n := range t.b.topics.Names() {
		if topic == "" || protocol.IsRetryTopic(n) || protocol.IsDLQTopic(n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// originTopic is the topic the message of record f was sent to, as far as f tells.
func originTopic(f found) string {
	if rt := f.props[message.PropertyRetryTopic]; rt != "" {
		return rt
	}
	if rt := f.props[message.PropertyRealTopic]; rt != "" && !protocol.IsRetryTopic(rt) {
		return rt
	}
	return f.rec.Topic
}
