//go:build rocketmq_official

package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	rocketmq "github.com/apache/rocketmq-client-go/v2"
	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"
	"github.com/apache/rocketmq-client-go/v2/producer"
	"github.com/apache/rocketmq-client-go/v2/rlog"
)

// The official client is linked only with -tags rocketmq_official: its packages start
// goroutines and set up global state when they are merely imported, which the broker binary
// should not carry.

func newOfficialBench() (benchClient, error) { return officialBench{}, nil }

// officialBench drives the official RocketMQ Go client v2.1.2, for comparison.
type officialBench struct{}

func (officialBench) produce(ctx context.Context, f benchFlags, body []byte, begin func() context.Context, sent func(int, time.Duration, error)) error {
	rlog.SetLogLevel("error")
	p, err := rocketmq.NewProducer(
		producer.WithNsResolver(primitive.NewPassthroughResolver([]string{f.namesrv})),
		producer.WithGroupName("benchmark_producer_official"),
		producer.WithInstanceName(fmt.Sprintf("bench-%d", time.Now().UnixNano())),
		producer.WithRetry(2),
		producer.WithCompressMsgBodyOverHowmuch(officialCompressOver(f.compress)),
	)
	if err != nil {
		return err
	}
	if err := p.Start(); err != nil {
		return err
	}
	defer p.Shutdown()
	if err := warmTopics(ctx, f, func(topic string) error {
		_, err := p.SendSync(ctx, primitive.NewMessage(topic, body))
		return err
	}); err != nil {
		return err
	}
	runSenders(begin(), f.producers, func(ctx context.Context) {
		msgs := make([]*primitive.Message, f.batch)
		topic := f.sendTopic()
		for i := range msgs {
			msgs[i] = primitive.NewMessage(topic, body)
		}
		start := time.Now()
		res, err := p.SendSync(ctx, msgs...)
		if err == nil && res.Status != primitive.SendOK {
			err = fmt.Errorf("send status %v", res.Status)
		}
		sent(f.batch, time.Since(start), err)
	})
	return nil
}

func (officialBench) consume(ctx context.Context, f benchFlags, group string, got func(int, time.Time)) error {
	if !f.from.IsZero() {
		return errors.New("--from-time is not supported with the official client")
	}
	rlog.SetLogLevel("error")
	c, err := rocketmq.NewPushConsumer(
		consumer.WithNsResolver(primitive.NewPassthroughResolver([]string{f.namesrv})),
		consumer.WithGroupName(group),
		consumer.WithInstance(group),
		consumer.WithConsumeFromWhere(consumer.ConsumeFromFirstOffset),
	)
	if err != nil {
		return err
	}
	err = c.Subscribe(f.topic, consumer.MessageSelector{}, func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		for _, m := range msgs {
			got(len(m.Body), time.UnixMilli(m.StoreTimestamp))
		}
		return consumer.ConsumeSuccess, nil
	})
	if err != nil {
		return err
	}
	if err := c.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	return c.Shutdown()
}

// officialCompressOver is --compress-over for the official client, which compresses bodies of
// at least its threshold: "never" is the largest int.
func officialCompressOver(n int) int {
	if n <= 0 {
		return math.MaxInt
	}
	return n
}
