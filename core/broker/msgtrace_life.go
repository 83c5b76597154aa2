package broker

import (
	"slices"
	"strconv"
	"strings"

	"github.com/ternmq/tern/core/broker/locks"
	"github.com/ternmq/tern/core/broker/schedule"
	"github.com/ternmq/tern/core/broker/timer"
	"github.com/ternmq/tern/core/broker/transaction"
	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/protocol"
)

// How a trace reads a message's records (see msgtrace.go):
//
//   - the topic names the role: SCHEDULE_TOPIC_XXXX a copy waiting for a DELAY level (queue
//     level-1, due at its store time + the level's delay), rmq_sys_wheel_timer a copy waiting in
//     the timing wheel (due at __TERN_TIMER_AT or the time the producer asked for), the half
//     topic a half message, %RETRY%<group> a retry, %DLQ%<group> a dead letter;
//   - a copy fired by the timing wheel names its inbox record in __TERN_TIMER_SRC; a copy
//     delivered from a level queue is the next one in REAL_TOPIC with the same reconsume times;
//   - a consumable copy (message, retry, dead letter) is consumed by a group when the group's
//     committed offset on its queue is past it;
//   - a transaction's state is the Ledger's, for the origin its half copies name; when the
//     Ledger no longer keeps it, the copies tell (a COMMIT record in the topic, a discarded copy).

// life builds the life of one message from its records, sorted by CommitLog offset. topic is
// the caller's guess of the message's topic, used when no record tells.
func (t *tracer) life(id, topic string, fs []found) protocol.MessageLife {
	for i := range fs {
		fs[i].rec.Role = traceRole(fs[i].rec.Topic)
		if r := fs[i].rec.Role; r == protocol.TraceRoleRetry || r == protocol.TraceRoleDeadLetter {
			fs[i].rec.Group = protocol.GroupOfRetryTopic(fs[i].rec.Topic)
		}
	}
	l := protocol.MessageLife{MsgID: id, Topic: lifeTopic(fs, topic), TraceID: traceID(fs), Records: make([]protocol.TracedRecord, 0, len(fs))}
	claimed := make([]bool, len(fs)) // copies already paired with the level copy they came from
	for i := range fs {
		r := &fs[i].rec
		switch r.Role {
		case protocol.TraceRoleDelay:
			r.Wait = t.delayWait(fs, i, claimed)
		case protocol.TraceRoleTimer:
			r.Wait = t.timerWait(fs, i)
		case protocol.TraceRoleMessage, protocol.TraceRoleRetry, protocol.TraceRoleDeadLetter:
			r.TimerOut, _ = strconv.ParseInt(fs[i].props[timer.PropertyOut], 10, 64)
			r.Groups = t.groups(*r)
		}
	}
	l.Transaction = t.transaction(fs)
	for _, f := range fs {
		l.Records = append(l.Records, f.rec)
	}
	return l
}

// traceRole tells what a copy in topic is.
func traceRole(topic string) string {
	switch {
	case topic == schedule.Topic:
		return protocol.TraceRoleDelay
	case topic == timer.Topic:
		return protocol.TraceRoleTimer
	case topic == transaction.HalfTopic:
		return protocol.TraceRoleHalf
	case topic == transaction.CheckMaxTopic:
		return protocol.TraceRoleDiscarded
	case protocol.IsRetryTopic(topic):
		return protocol.TraceRoleRetry
	case protocol.IsDLQTopic(topic):
		return protocol.TraceRoleDeadLetter
	}
	return protocol.TraceRoleMessage
}

// lifeTopic is the topic the message was sent to: where its first plain copy is, else what its
// other copies' properties say, else the caller's guess.
func lifeTopic(fs []found, guess string) string {
	for _, f := range fs {
		if f.rec.Role == protocol.TraceRoleMessage {
			return f.rec.Topic
		}
	}
	if len(fs) > 0 {
		if o := originTopic(fs[0]); traceRole(o) == protocol.TraceRoleMessage {
			return o
		}
	}
	return guess
}

// traceID returns the trace id of the first copy with a valid traceparent
// ("00-<32 hex trace id>-<16 hex span id>-<2 hex flags>").
func traceID(fs []found) string {
	for _, f := range fs {
		parts := strings.Split(f.props[message.PropertyTraceParent], "-")
		if len(parts) >= 4 && len(parts[1]) == 32 && isHex(parts[1]) && strings.Trim(parts[1], "0") != "" {
			return strings.ToLower(parts[1])
		}
	}
	return ""
}

func isHex(s string) bool {
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// delayWait is the timing of the level copy fs[i]: due at its store time plus the level's
// delay, fired when a later copy in its destination with the same reconsume times exists.
func (t *tracer) delayWait(fs []found, i int, claimed []bool) *protocol.TraceWait {
	p := fs[i]
	level := int(p.rec.QueueID) + 1
	if n, err := strconv.Atoi(p.props[message.PropertyDelayLevel]); err == nil && n > 0 {
		level = n
	}
	w := &protocol.TraceWait{
		Destination: p.props[message.PropertyRealTopic], Level: level, State: protocol.TraceWaiting,
		Due: p.rec.StoreTime + t.b.levelDelay(level).Milliseconds(),
	}
	for j := i + 1; j < len(fs); j++ {
		c := fs[j]
		if claimed[j] || c.rec.Topic != w.Destination || c.rec.ReconsumeTimes != p.rec.ReconsumeTimes || c.props[timer.PropertySource] != "" {
			continue
		}
		claimed[j] = true
		w.State, w.FiredAt = protocol.TraceFired, c.rec.StoreTime
		break
	}
	return w
}

// timerWait is the timing of the timer copy fs[i]: fired when a copy names it as its source,
// else cancelled or waiting.
func (t *tracer) timerWait(fs []found, i int) *protocol.TraceWait {
	p := fs[i]
	w := &protocol.TraceWait{Destination: p.props[message.PropertyRealTopic], State: protocol.TraceWaiting}
	if at, err := strconv.ParseInt(p.props[timer.PropertyAt], 10, 64); err == nil && at > 0 {
		w.Due = at
	} else if at, ok, err := timer.Requested(p.raw, p.rec.StoreTime); ok && err == nil {
		w.Due = at
	}
	src := strconv.FormatInt(p.rec.CommitLogOffset, 10)
	for _, c := range fs {
		if c.props[timer.PropertySource] == src {
			w.State, w.FiredAt = protocol.TraceFired, c.rec.StoreTime
			if out, err := strconv.ParseInt(c.props[timer.PropertyOut], 10, 64); err == nil && w.Due == 0 {
				w.Due = out
			}
			return w
		}
	}
	if t.b.timer.Cancelled(p.rec.CommitLogOffset) {
		w.State = protocol.TraceCancelled
	}
	return w
}

// groups reports the progress of every consumer group of the copy's topic on its queue: the
// groups with offsets there and those whose live members subscribe to it (and a retry's own
// group).
func (t *tracer) groups(r protocol.TracedRecord) []protocol.TraceGroup {
	b := t.b
	names := b.offsets.Groups(r.Topic)
	for _, g := range b.clients.ConsumerGroups() {
		if _, ok := b.clients.Subscription(g, r.Topic); ok {
			names = append(names, g)
		}
	}
	if r.Role == protocol.TraceRoleRetry {
		names = append(names, r.Group)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	out := make([]protocol.TraceGroup, 0, len(names))
	for _, g := range names {
		tg := protocol.TraceGroup{Group: g, CommittedOffset: -1, Online: b.clients.ConsumerIDs(g)}
		if s, ok := b.clients.Subscription(g, r.Topic); ok {
			tg.Subscription, tg.ExpressionType = s.Expression, s.ExpressionType
		}
		if info, ok := b.clients.Consumer(g); ok {
			tg.MessageModel = info.MessageModel
		}
		if off, ok := b.offsets.Query(g, r.Topic, r.QueueID); ok {
			tg.CommittedOffset, tg.Consumed = off, off > r.QueueOffset
		}
		tg.LockedBy = b.locks.Holder(g, locks.Queue{Topic: r.Topic, BrokerName: b.cfg.BrokerName, QueueID: r.QueueID})
		tg.Pulls = b.pulls.pulls(g, r.Topic, r.QueueID, r.QueueOffset)
		out = append(out, tg)
	}
	return out
}

// transaction is the state of the message's transaction, nil when it was not transactional.
func (t *tracer) transaction(fs []found) *protocol.TraceTransaction {
	var tx *protocol.TraceTransaction
	committed, discarded := false, false
	for _, f := range fs {
		switch f.rec.Role {
		case protocol.TraceRoleMessage:
			committed = committed || message.TxType(f.sysFlag) == message.TxCommit
		case protocol.TraceRoleDiscarded:
			discarded = true
		case protocol.TraceRoleHalf:
			origin := f.rec.QueueOffset
			if o, err := strconv.ParseInt(f.props[message.PropertyTranPreparedQueueOffset], 10, 64); err == nil && o >= 0 && o <= origin {
				origin = o
			}
			if tx == nil {
				tx = &protocol.TraceTransaction{ProducerGroup: f.props[message.PropertyProducerGroup], HalfOffset: origin}
			}
			tx.HalfOffset = min(tx.HalfOffset, origin)
			if n, err := strconv.Atoi(f.props[message.PropertyTransactionCheckTimes]); err == nil {
				tx.Checks = max(tx.Checks, n)
			}
		}
	}
	if tx == nil {
		if !committed {
			return nil
		}
		// The half message is gone (retention); its commit record remains.
		return &protocol.TraceTransaction{HalfOffset: -1, State: protocol.TraceTxCommitted}
	}
	switch o := t.b.tx.Ledger().Outcome(tx.HalfOffset); {
	case o == transaction.Committed || o != transaction.Unresolved && committed:
		tx.State = protocol.TraceTxCommitted
	case o == transaction.RolledBack:
		tx.State = protocol.TraceTxRolledBack
	case o == transaction.Discarded || discarded:
		tx.State = protocol.TraceTxDiscarded
	case o == transaction.Unresolved:
		tx.State = protocol.TraceTxPending
	default:
		tx.State = protocol.TraceTxResolved
	}
	return tx
}
