package client

import (
	"context"
	"fmt"
	"strconv"

	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

// Transactional messages (RocketMQ 4.x, §6.6): SendInTransaction sends a half message
// (properties TRAN_MSG=true and PGROUP=<group>, sysflag 0x4) that consumers can't see yet,
// runs the local transaction, and ends the transaction with END_TRANSACTION (37, oneway) to
// the broker that stored the half: commit makes the message visible, rollback drops it. When
// the outcome is unknown, or the END_TRANSACTION is lost, the broker later asks a producer of
// the group with CHECK_TRANSACTION_STATE (39); the listener's Check answers it, on one of
// WithCheckWorkers goroutines, with another END_TRANSACTION.

// TxState is the state of a local transaction.
type TxState int

// Local transaction states. The zero value is TxUnknown: the broker will ask again.
const (
	TxUnknown  TxState = iota // not decided yet: the broker checks later
	TxCommit                  // make the message visible
	TxRollback                // drop the message
)

func (s TxState) String() string {
	switch s {
	case TxUnknown:
		return "UNKNOWN"
	case TxCommit:
		return "COMMIT"
	case TxRollback:
		return "ROLLBACK"
	}
	return "TxState(" + strconv.Itoa(int(s)) + ")"
}

// wire returns END_TRANSACTION's commitOrRollback for s.
func (s TxState) wire() int32 {
	switch s {
	case TxCommit:
		return protocol.TransactionCommit
	case TxRollback:
		return protocol.TransactionRollback
	}
	return protocol.TransactionNotType
}

// TransactionListener runs and checks the local transactions of a TransactionProducer.
type TransactionListener interface {
	// ExecuteLocal runs the local transaction of msg, whose half message is stored as half
	// (half.MsgID is the message id consumers and Check will see), and returns its state. It
	// runs on the goroutine of SendInTransaction, with its ctx.
	ExecuteLocal(ctx context.Context, msg *Message, half *SendResult) TxState
	// Check returns the state of the local transaction of msg, a half message the broker has
	// not seen ended. It runs on a check worker of the producer; ctx ends when the producer
	// closes.
	Check(ctx context.Context, msg *MessageExt) TxState
}

// TransactionResult is the outcome of SendInTransaction.
type TransactionResult struct {
	// SendResult is the half message's.
	SendResult
	// State is the local transaction's state as sent to the broker.
	State TxState
}

// checkQueueSize bounds the transaction checks waiting for a worker; more are dropped (the
// broker checks again later), as the Java client's bounded check pool does.
const checkQueueSize = 2048

// TransactionProducer is a Producer that also sends transactional messages. Its embedded
// Producer's methods send ordinary messages; Close stops both.
type TransactionProducer struct {
	*Producer
	listener TransactionListener
	checks   chan checkJob
}

// checkJob is one CHECK_TRANSACTION_STATE waiting for a worker.
type checkJob struct {
	broker string // the address the check came from, where the answer goes
	header protocol.CheckTransactionStateHeader
	msg    *MessageExt
}

// NewTransactionProducer returns a started producer of group whose transactions listener runs
// and checks. Brokers send their checks to any live producer of the group, so every producer
// of a group must be able to check every transaction of the group.
func NewTransactionProducer(group string, listener TransactionListener, opts ...ProducerOption) (*TransactionProducer, error) {
	if listener == nil {
		return nil, fmt.Errorf("%w: nil transaction listener", ErrInvalidOption)
	}
	tp := &TransactionProducer{listener: listener, checks: make(chan checkJob, checkQueueSize)}
	p, err := newProducer(group, opts, map[int16]remoting.Handler{
		remoting.CheckTransactionState: remoting.HandlerFunc(tp.handleCheck),
	})
	if err != nil {
		return nil, err
	}
	tp.Producer = p
	for range p.cfg.checkWorkers {
		p.in.goFunc(tp.checkWorker)
	}
	return tp, nil
}

// SendInTransaction sends msg as a half message, runs the listener's ExecuteLocal, and ends
// the transaction with its state. msg cannot be delayed. An error means the half message was
// not stored and ExecuteLocal did not run. When the half is stored with a non-OK status (its
// flush or replication timed out), the transaction is rolled back without running
// ExecuteLocal, as RocketMQ does. A failure to deliver END_TRANSACTION is logged, not
// returned: the broker's check resolves the transaction.
func (tp *TransactionProducer) SendInTransaction(ctx context.Context, msg *Message, opts ...SendOption) (*TransactionResult, error) {
	p := tp.Producer
	if p.isClosed() {
		return nil, ErrClosed
	}
	if err := p.check(msg); err != nil {
		return nil, err
	}
	if msg.DelayLevel > 0 || !msg.DeliverAt.IsZero() {
		return nil, fmt.Errorf("%w: transactional messages cannot be delayed", ErrInvalidMessage)
	}
	sctx, span := p.startSend(ctx, msg, 1)
	o, err := p.encode(sctx, msg, p.sendConfig(opts), message.TxPrepared,
		message.PropertyTransactionPrepared, "true",
		message.PropertyProducerGroup, p.group)
	if err != nil {
		endSend(span, nil, nil, err)
		return nil, err
	}
	o.half = true
	half, err := p.deliver(sctx, o)
	endSend(span, o, half, err)
	if err != nil {
		return nil, fmt.Errorf("send half message: %w", err)
	}
	state := TxRollback
	if half.Status == SendOK {
		state = tp.listener.ExecuteLocal(ctx, msg, half)
	}
	tp.endTransaction(ctx, half, state)
	return &TransactionResult{SendResult: *half, State: state}, nil
}

// endTransaction tells the broker that stored half the transaction's state (oneway).
func (tp *TransactionProducer) endTransaction(ctx context.Context, half *SendResult, state TxState) {
	p := tp.Producer
	_, phy, err := message.ParseOffsetMsgID(half.OffsetMsgID)
	if err != nil {
		p.log.Warn("end transaction: bad offset message id", "msg_id", half.MsgID, "offset_msg_id", half.OffsetMsgID, "err", err)
		return
	}
	addr, ok := p.in.masterAddr(half.Queue.BrokerName)
	if !ok {
		p.log.Warn("end transaction: broker has no master", "broker", half.Queue.BrokerName, "msg_id", half.MsgID)
		return
	}
	h := protocol.EndTransactionHeader{
		ProducerGroup: p.group, TranStateTableOffset: half.QueueOffset, CommitLogOffset: phy,
		CommitOrRollback: state.wire(), MsgID: half.MsgID, TransactionID: half.TransactionID,
	}
	// The local transaction has run: end it even if the caller's ctx has just ended.
	ctx = context.WithoutCancel(ctx)
	if err := p.in.invokeOneway(ctx, addr, remoting.NewRequest(remoting.EndTransaction, h.Encode(), nil)); err != nil {
		p.log.Warn("end transaction failed; the broker will check it", "broker", addr, "msg_id", half.MsgID, "state", state, "err", err)
	}
}

// handleCheck serves CHECK_TRANSACTION_STATE (oneway: it answers nothing here).
func (tp *TransactionProducer) handleCheck(_ context.Context, conn *remoting.Conn, req *remoting.Command) *remoting.Command {
	tp.queueCheck(conn.RemoteAddr(), req)
	return nil
}

// queueCheck queues a check from the broker at addr for a worker, if it is for this
// producer's group. It reports whether it did.
func (tp *TransactionProducer) queueCheck(addr string, req *remoting.Command) bool {
	p := tp.Producer
	var h protocol.CheckTransactionStateHeader
	if err := h.Decode(req); err != nil {
		p.log.Warn("bad transaction check", "broker", addr, "err", err)
		return false
	}
	v, err := message.Parse(req.Body)
	var msg *MessageExt
	if err == nil {
		msg, err = messageFromView(v, p.brokerNameOf(addr))
	}
	if err != nil {
		p.log.Warn("bad transaction check message", "broker", addr, "commit_log_offset", h.CommitLogOffset, "err", err)
		return false
	}
	if g := msg.Properties[message.PropertyProducerGroup]; g != p.group {
		p.log.Debug("transaction check for another group", "group", g, "msg_id", msg.MsgID)
		return false
	}
	select {
	case tp.checks <- checkJob{broker: addr, header: h, msg: msg}:
		return true
	default:
		p.log.Warn("transaction check queue full; check dropped", "msg_id", msg.MsgID)
		return false
	}
}

// brokerNameOf returns the name of the broker at addr, or "".
func (p *Producer) brokerNameOf(addr string) string {
	p.in.mu.RLock()
	defer p.in.mu.RUnlock()
	for name, ids := range p.in.brokers {
		for _, a := range ids {
			if a == addr {
				return name
			}
		}
	}
	return ""
}

// checkWorker answers queued checks until the producer closes.
func (tp *TransactionProducer) checkWorker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-tp.checks:
			tp.answerCheck(ctx, j)
		}
	}
}

// answerCheck runs the listener's Check for one check and sends its state to the broker that
// asked, with fromTransactionCheck set.
func (tp *TransactionProducer) answerCheck(ctx context.Context, j checkJob) {
	p := tp.Producer
	state, ok := tp.runCheck(ctx, j.msg)
	if !ok || ctx.Err() != nil {
		return
	}
	msgID := j.msg.Properties[message.PropertyUniqKey]
	if msgID == "" {
		msgID = j.header.MsgID
	}
	txID := j.header.TransactionID
	if txID == "" {
		txID = msgID
	}
	h := protocol.EndTransactionHeader{
		ProducerGroup: p.group, TranStateTableOffset: j.header.TranStateTableOffset,
		CommitLogOffset: j.header.CommitLogOffset, CommitOrRollback: state.wire(),
		FromTransactionCheck: true, MsgID: msgID, TransactionID: txID,
	}
	if err := p.in.invokeOneway(ctx, j.broker, remoting.NewRequest(remoting.EndTransaction, h.Encode(), nil)); err != nil {
		p.log.Warn("answer transaction check failed", "broker", j.broker, "msg_id", msgID, "err", err)
	}
}

// runCheck calls the listener's Check; a panic is logged and answers nothing (the broker asks
// again later).
func (tp *TransactionProducer) runCheck(ctx context.Context, msg *MessageExt) (state TxState, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			tp.log.Error("transaction check panicked", "msg_id", msg.MsgID, "panic", r)
			ok = false
		}
	}()
	return tp.listener.Check(ctx, msg), true
}
