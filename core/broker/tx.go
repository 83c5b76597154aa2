package broker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/ternmq/tern/core/broker/clients"
	"github.com/ternmq/tern/core/broker/transaction"
	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

// Transactional messages (package transaction): sends with TRAN_MSG=true become half messages
// (send.go), END_TRANSACTION commits or rolls them back, and the check loop asks a producer
// of the group about the ones left unresolved (CHECK_TRANSACTION_STATE).

// openTransactions creates the op topic and loads the transaction state.
func (b *Broker) openTransactions() error {
	if _, _, err := b.topics.CreateIfAbsent(transaction.OpTopic, 1, protocol.PermRead|protocol.PermWrite); err != nil {
		return fmt.Errorf("broker: create %s: %w", transaction.OpTopic, err)
	}
	var checker transaction.Checker = producerChecker{clients: b.clients}
	if b.cfg.TxChecker != nil {
		checker = &pluginChecker{b: b, plugin: b.cfg.TxChecker, producer: checker}
	}
	if b.cfg.Tracer != nil {
		tc := tracedChecker{t: b.cfg.Tracer, next: checker}
		if b.cfg.TxChecker != nil {
			tc.name = b.cfg.TxChecker.Name()
		}
		checker = tc
	}
	svc, err := transaction.New(b.w, b.offsets, checker, transaction.Options{
		Timeout:       b.cfg.TransactionTimeOut.D(),
		CheckInterval: b.cfg.TransactionCheckInterval.D(),
		CheckMax:      b.cfg.TransactionCheckMax,
		Host:          b.cfg.Store.StoreHost,
		Rewrite:       b.park,
		Logger:        b.log.With("component", "transaction"),
		Now:           b.now,
	})
	if err != nil {
		return err
	}
	b.tx = svc
	return nil
}

// sendsHalf reports whether a send asks for a half message (TRAN_MSG=true), which must come
// alone, with SEND_MESSAGE or SEND_MESSAGE_V2.
func sendsHalf(req *remoting.Command, h *protocol.SendMessageHeader, props []byte) (bool, error) {
	if !transaction.IsHalf(props) {
		return false, nil
	}
	if h.Batch || req.Code != remoting.SendMessage && req.Code != remoting.SendMessageV2 {
		return true, fmt.Errorf("%w: a transactional message must be sent alone, with SEND_MESSAGE or SEND_MESSAGE_V2", remoting.ErrMessageIllegal)
	}
	return true, nil
}

// prepareHalf turns a send's record into a half message.
func prepareHalf(h *protocol.SendMessageHeader, r *message.Record) error {
	if err := transaction.Prepare(r, h.ProducerGroup); err != nil {
		return fmt.Errorf("%w: %w", remoting.ErrMessageIllegal, err)
	}
	return nil
}

// halfTransactionID is the transactionId of a half message's send response: its UNIQ_KEY (the
// id the producer and the checks use), or else its offset message id.
func halfTransactionID(r *message.Record, offsetMsgID string) string {
	if id, ok := message.Property([]byte(r.Properties), message.PropertyUniqKey); ok {
		return string(id)
	}
	return offsetMsgID
}

// handleEndTransaction serves END_TRANSACTION: commit or roll back a half message, found by
// its commitLogOffset. Unknown (0) leaves it to the check loop. Repeats are answered
// consistently and never deliver twice: SUCCESS when the transaction already ended as asked,
// TRANSACTION_SHOULD_COMMIT / TRANSACTION_SHOULD_ROLLBACK when it ended the other way.
func (b *Broker) handleEndTransaction(ctx context.Context, _ *remoting.Conn, req *remoting.Command, h *protocol.EndTransactionHeader) *remoting.Command {
	var out transaction.Outcome
	switch h.CommitOrRollback {
	case protocol.TransactionCommit:
		out = transaction.Committed
	case protocol.TransactionRollback:
		out = transaction.RolledBack
	default:
		return ok(req)
	}
	err := b.tx.End(ctx, transaction.EndRequest{
		ProducerGroup: h.ProducerGroup, QueueOffset: h.TranStateTableOffset, PhysicalOffset: h.CommitLogOffset, Outcome: out,
	})
	if err == nil {
		return ok(req)
	}
	b.log.Debug("end transaction refused", "producer_group", h.ProducerGroup, "offset", h.TranStateTableOffset,
		"phy_offset", h.CommitLogOffset, "outcome", out, "from_check", h.FromTransactionCheck, "err", err)
	return remoting.ErrorResponse(req, endTransactionError(err))
}

// endTransactionError maps transaction.End's errors to response codes.
func endTransactionError(err error) error {
	var re *transaction.ResolvedError
	switch {
	case errors.As(err, &re) && re.Outcome == transaction.Committed:
		return fmt.Errorf("%w: %w", remoting.ErrTransactionShouldCommit, err)
	case errors.As(err, &re) && (re.Outcome == transaction.RolledBack || re.Outcome == transaction.Discarded):
		return fmt.Errorf("%w: %w", remoting.ErrTransactionShouldRollback, err)
	case errors.As(err, &re), errors.Is(err, transaction.ErrNoHalf), errors.Is(err, transaction.ErrMismatch):
		return fmt.Errorf("%w: %w", remoting.ErrSystemError, err) // as RocketMQ answers a bad request
	}
	return storeError(err)
}

// checkSendTimeout bounds the queueing of one CHECK_TRANSACTION_STATE.
const checkSendTimeout = 3 * time.Second

// errNoProducer: no producer of the group is connected, so a check cannot be sent.
var errNoProducer = errors.New("broker: no producer of the group is connected")

// producerChecker is the default transaction.Checker: it sends CHECK_TRANSACTION_STATE
// (oneway) to a connection that a heartbeat registered for the producer group, preferring the
// one the half message came from (its BORNHOST), else one picked at random. The producer
// answers with END_TRANSACTION.
type producerChecker struct{ clients *clients.Manager }

var _ transaction.Checker = producerChecker{}

func (p producerChecker) Check(ctx context.Context, req transaction.CheckRequest) error {
	members := p.clients.Producers(req.ProducerGroup)
	born := req.Record.BornHost.String()
	var conn *remoting.Conn
	for _, i := range rand.Perm(len(members)) {
		c, isConn := members[i].Conn.(*remoting.Conn)
		if !isConn {
			continue
		}
		select {
		case <-c.Done():
			continue
		default:
		}
		if conn == nil || c.RemoteAddr() == born {
			conn = c
		}
		if c.RemoteAddr() == born {
			break
		}
	}
	if conn == nil {
		return fmt.Errorf("%w: %q", errNoProducer, req.ProducerGroup)
	}
	h := protocol.CheckTransactionStateHeader{
		TranStateTableOffset: req.QueueOffset, CommitLogOffset: req.PhysicalOffset,
		MsgID: req.UniqKey, TransactionID: req.UniqKey, OffsetMsgID: req.OffsetMsgID,
	}
	body := message.AppendRecord(nil, &req.Record) // owned: the request outlives the call
	ctx, cancel := context.WithTimeout(ctx, checkSendTimeout)
	defer cancel()
	if err := conn.InvokeOneway(ctx, remoting.NewRequest(remoting.CheckTransactionState, h.Encode(), body)); err != nil {
		return fmt.Errorf("broker: check transaction on %s: %w", conn.RemoteAddr(), err)
	}
	return nil
}
