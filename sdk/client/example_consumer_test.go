package client_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/ternmq/tern/sdk/client"
)

// These examples need a running NameServer and broker, so they are compiled but not run.

func ExampleNewPushConsumer() {
	c, err := client.NewPushConsumer("billing",
		client.WithNameServers("127.0.0.1:9876"),
		client.WithLogger(slog.Default()),
		client.WithConsumeGoroutines(8),
		client.WithConsumeFrom(client.ConsumeFromFirstOffset),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	err = c.Subscribe("Orders", client.Tag("created || paid"), func(ctx context.Context, msgs []*client.MessageExt) (client.ConsumeResult, error) {
		for _, m := range msgs {
			if err := bill(ctx, m.Body); err != nil {
				// Redelivered later through %RETRY%billing, with m.ReconsumeTimes+1.
				return client.ConsumeRetryLater, err
			}
		}
		return client.ConsumeSuccess, nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		fmt.Println("start:", err)
		return
	}

	stop, unregister := signal.NotifyContext(context.Background(), os.Interrupt)
	defer unregister()
	<-stop.Done()

	// Close commits the offsets of what was consumed and hands the queues to the group's
	// other consumers.
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		fmt.Println("close:", err)
	}
}

func bill(context.Context, []byte) error { return nil }

func ExampleWithOrderly() {
	// Each queue is consumed by one goroutine, in order: messages sent with one sharding key
	// (WithQueueSelector(ShardingKeySelector()) on the producer) are handled in the order they were sent.
	c, err := client.NewPushConsumer("ledger",
		client.WithNameServers("127.0.0.1:9876"),
		client.WithOrderly(true),
		client.WithSuspendDuration(500*time.Millisecond),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close(context.Background())
	_ = c.Subscribe("Accounts", client.SQL92("amount > 0"), func(ctx context.Context, msgs []*client.MessageExt) (client.ConsumeResult, error) {
		if err := post(ctx, msgs[0]); err != nil {
			// The queue waits 500 ms, then gets the same messages again, ahead of later ones.
			return client.SuspendCurrentQueue, err
		}
		return client.ConsumeSuccess, nil
	})
	if err := c.Start(context.Background()); err != nil {
		fmt.Println(err)
	}
}

func post(context.Context, *client.MessageExt) error { return nil }

func ExampleWithBroadcasting() {
	// Every instance of the service gets every message; each keeps its progress in
	// /var/lib/cache-invalidator/offsets/cache-invalidator.json.
	c, err := client.NewPushConsumer("cache-invalidator",
		client.WithNameServers("127.0.0.1:9876"),
		client.WithBroadcasting(),
		client.WithOffsetStoreDir("/var/lib/cache-invalidator/offsets"),
		client.WithConsumeFrom(client.ConsumeFromTimestamp(time.Now().Add(-time.Hour))),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close(context.Background())
	_ = c.Subscribe("Invalidations", client.Tag("*"), func(_ context.Context, msgs []*client.MessageExt) (client.ConsumeResult, error) {
		for _, m := range msgs {
			fmt.Println("invalidate", string(m.Body))
		}
		return client.ConsumeSuccess, nil
	})
	_ = c.Start(context.Background())
}

func ExampleNewPullConsumer() {
	c, err := client.NewPullConsumer("exporter", client.WithNameServers("127.0.0.1:9876"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	queues, err := c.Queues(ctx, "Orders")
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := c.Subscribe("Orders", client.Tag("paid")); err != nil {
		fmt.Println(err)
		return
	}
	if err := c.Assign(queues...); err != nil { // each starts at the group's committed offset
		fmt.Println(err)
		return
	}
	// Export everything stored since yesterday on the first queue, then keep going.
	if err := c.SeekToTime(ctx, queues[0], time.Now().Add(-24*time.Hour)); err != nil {
		fmt.Println(err)
		return
	}
	for {
		msgs, err := c.Poll(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, m := range msgs {
			fmt.Println(m.Queue(), m.QueueOffset, string(m.Body))
		}
		// Commit the positions: the offsets after what Poll returned.
		if err := c.CommitAll(ctx); err != nil {
			fmt.Println(err)
		}
	}
}
