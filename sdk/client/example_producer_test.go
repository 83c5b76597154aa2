package client_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ternmq/tern/sdk/client"
)

// These examples need a running NameServer and broker, so they are compiled but not run.

func ExampleNewProducer() {
	p, err := client.NewProducer("order-service",
		client.WithNameServers("127.0.0.1:9876"),
		client.WithLogger(slog.Default()),
		client.WithSendRetries(2),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := p.Send(ctx, &client.Message{
		Topic: "Orders",
		Body:  []byte(`{"order":42}`),
		Tag:   "created",
		Keys:  []string{"order-42"},
	})
	switch {
	case errors.Is(err, client.ErrNoRoute):
		fmt.Println("no such topic:", err)
	case err != nil:
		fmt.Println("send failed:", err)
	default:
		fmt.Println("stored as", res.MsgID, "in", res.Queue)
	}
}

func ExampleProducer_SendAsync() {
	p, err := client.NewProducer("metrics", client.WithNameServers("127.0.0.1:9876"), client.WithMaxAsyncInflight(256))
	if err != nil {
		fmt.Println(err)
		return
	}
	// Close waits for the callbacks of the sends still in flight.
	defer p.Close(context.Background())

	for i := range 10 {
		msg := &client.Message{Topic: "Metrics", Body: fmt.Appendf(nil, "sample %d", i)}
		// ctx bounds the send itself, so it must outlive the call.
		err := p.SendAsync(context.Background(), msg, func(res *client.SendResult, err error) {
			if err != nil {
				fmt.Println("send failed:", err)
			}
		})
		if err != nil {
			fmt.Println(err)
		}
	}
}

// Messages with one ShardingKey go to one queue, in send order, so an orderly consumer sees
// them in that order.
func ExampleProducer_Send_ordered() {
	p, err := client.NewProducer("order-service", client.WithNameServers("127.0.0.1:9876"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close(context.Background())
	ctx := context.Background()
	for _, step := range []string{"created", "paid", "shipped"} {
		if _, err := p.Send(ctx, &client.Message{Topic: "OrderEvents", Body: []byte(step), ShardingKey: "order-42"}); err != nil {
			fmt.Println(err)
			return
		}
	}
	// Or pick the queue yourself.
	first := client.WithQueueSelector(client.QueueSelectorFunc(func(_ *client.Message, qs []client.MessageQueue) client.MessageQueue {
		return qs[0]
	}))
	if _, err := p.Send(ctx, &client.Message{Topic: "OrderEvents", Body: []byte("audit")}, first); err != nil {
		fmt.Println(err)
	}
}

func ExampleProducer_SendBatch() {
	p, err := client.NewProducer("importer", client.WithNameServers("127.0.0.1:9876"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close(context.Background())
	batch := []*client.Message{
		{Topic: "Rows", Body: []byte("row 1")},
		{Topic: "Rows", Body: []byte("row 2")},
	}
	res, err := p.SendBatch(context.Background(), batch)
	if errors.Is(err, client.ErrMessageTooLarge) {
		fmt.Println("split the batch:", err)
		return
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("ids:", res.MsgID)
}

func ExampleProducer_Request() {
	p, err := client.NewProducer("rpc-client", client.WithNameServers("127.0.0.1:9876"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	reply, err := p.Request(ctx, &client.Message{Topic: "PriceQuery", Body: []byte("sku-1")})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("price: %s\n", reply.Body)
}

// The responder side of a request: a consumer of the request topic answers with NewReply and
// any producer.
func ExampleNewReply() {
	p, err := client.NewProducer("rpc-server", client.WithNameServers("127.0.0.1:9876"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close(context.Background())
	answer := func(ctx context.Context, request *client.MessageExt) error {
		reply, err := client.NewReply(request, []byte("9.99"))
		if err != nil {
			return err
		}
		_, err = p.Send(ctx, reply)
		return err
	}
	_ = answer // call it from the consume function of a consumer of "PriceQuery"
}

// orderTx is a TransactionListener that stores orders in a local database.
type orderTx struct{}

func (orderTx) ExecuteLocal(ctx context.Context, msg *client.Message, half *client.SendResult) client.TxState {
	// Insert the order and remember half.MsgID with it, in one local transaction.
	return client.TxCommit
}

func (orderTx) Check(ctx context.Context, msg *client.MessageExt) client.TxState {
	// Look msg.MsgID up: commit if the order exists, roll back if it never will.
	return client.TxUnknown
}

func ExampleNewTransactionProducer() {
	tp, err := client.NewTransactionProducer("order-tx", orderTx{}, client.WithNameServers("127.0.0.1:9876"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tp.Close(context.Background())
	res, err := tp.SendInTransaction(context.Background(), &client.Message{Topic: "Orders", Body: []byte(`{"order":42}`)})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("transaction", res.TransactionID, "ended with", res.State)
}

// A delay level (1-18: 1s 5s 10s 30s 1m … 2h by default) or an absolute delivery time (the
// RocketMQ 5 timer property, honoured by brokers with a timer).
func ExampleMessage_delay() {
	p, err := client.NewProducer("reminders", client.WithNameServers("127.0.0.1:9876"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close(context.Background())
	ctx := context.Background()
	if _, err := p.Send(ctx, &client.Message{Topic: "Reminders", Body: []byte("in 10 s"), DelayLevel: 3}); err != nil {
		fmt.Println(err)
	}
	at := time.Now().Add(90 * time.Minute)
	if _, err := p.Send(ctx, &client.Message{Topic: "Reminders", Body: []byte("at a time"), DeliverAt: at}); err != nil {
		fmt.Println(err)
	}
}
