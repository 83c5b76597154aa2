package broker

import (
	"context"
	"fmt"

	"github.com/ternmq/tern/core/broker/transaction"
	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/sdk/plugin/txchecker"
)

// TxChecker is a transaction checker plugin as the broker uses it (the plugin host's
// TxCheckerPlugin). Check answers one resolution per half message; when the plugin failed
// open it answers AskProducer for each, and when it failed closed an error.
type TxChecker interface {
	Name() string
	NeedsBody() bool
	Check(ctx context.Context, msgs []txchecker.HalfMessage) ([]txchecker.Resolution, error)
}

// pluginChecker is the transaction.Checker of a broker with a checker plugin: the plugin
// resolves each half message the check loop hands over; Commit and Rollback end the
// transaction at once (as an END_TRANSACTION from the producer would), Unknown leaves it for
// the next round, and AskProducer sends CHECK_TRANSACTION_STATE as the default checker does.
type pluginChecker struct {
	b        *Broker
	plugin   TxChecker
	producer transaction.Checker
}

var _ transaction.Checker = (*pluginChecker)(nil)

func (p *pluginChecker) Check(ctx context.Context, req transaction.CheckRequest) error {
	r := &req.Record
	props := message.ParseProperties([]byte(r.Properties))
	h := txchecker.HalfMessage{
		Topic: r.Topic, ProducerGroup: req.ProducerGroup, TransactionID: req.UniqKey, MsgID: req.UniqKey,
		Properties: props, BornTimestamp: r.BornTimestamp, StoreTimestamp: r.StoreTimestamp,
	}
	if n, ok := props[message.PropertyTransactionCheckTimes]; ok {
		fmt.Sscan(n, &h.CheckTimes)
	}
	if p.plugin.NeedsBody() {
		h.Body = r.Body
	}
	res, err := p.plugin.Check(ctx, []txchecker.HalfMessage{h})
	if err != nil {
		return fmt.Errorf("checker %s: %w", p.plugin.Name(), err)
	}
	var out transaction.Outcome
	switch res[0] {
	case txchecker.Commit:
		out = transaction.Committed
	case txchecker.Rollback:
		out = transaction.RolledBack
	case txchecker.AskProducer:
		return p.producer.Check(ctx, req)
	default: // Unknown
		return nil
	}
	err = p.b.tx.End(ctx, transaction.EndRequest{ProducerGroup: req.ProducerGroup, QueueOffset: req.QueueOffset, PhysicalOffset: req.PhysicalOffset, Outcome: out})
	if err == nil {
		p.b.log.Info("transaction resolved by the checker", "checker", p.plugin.Name(), "producer_group", req.ProducerGroup, "msg_id", req.UniqKey, "outcome", out)
	}
	return err
}
