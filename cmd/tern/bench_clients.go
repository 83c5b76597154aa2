package main

import (
	"context"
	"time"

	"github.com/ternmq/tern/sdk/client"
)

// ternBench drives Tern's Go client, sdk/client.
type ternBench struct{}

func (ternBench) produce(ctx context.Context, f benchFlags, body []byte, sent func(int, time.Duration, error)) error {
	p, err := client.NewProducer("benchmark_producer", client.WithNameServers(f.namesrv))
	if err != nil {
		return err
	}
	defer p.Close(context.Background())
	runSenders(ctx, f.producers, func(ctx context.Context) {
		start := time.Now()
		if f.batch > 1 {
			msgs := make([]*client.Message, f.batch)
			for i := range msgs {
				msgs[i] = &client.Message{Topic: f.topic, Body: body}
			}
			_, err := p.SendBatch(ctx, msgs)
			sent(f.batch, time.Since(start), err)
			return
		}
		_, err := p.Send(ctx, &client.Message{Topic: f.topic, Body: body})
		sent(1, time.Since(start), err)
	})
	return nil
}

func (ternBench) consume(ctx context.Context, f benchFlags, group string, got func(int, time.Time)) error {
	c, err := client.NewPushConsumer(group, client.WithNameServers(f.namesrv), client.WithConsumeFrom(client.ConsumeFromFirstOffset))
	if err != nil {
		return err
	}
	err = c.Subscribe(f.topic, client.Tag("*"), func(_ context.Context, msgs []*client.MessageExt) (client.ConsumeResult, error) {
		for _, m := range msgs {
			got(len(m.Body), m.StoreTimestamp)
		}
		return client.ConsumeSuccess, nil
	})
	if err != nil {
		return err
	}
	if err := c.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return c.Close(context.Background())
}
