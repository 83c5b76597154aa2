//go:build !race

package broker_test

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/rocketmq-client-go/v2/consumer"
	"github.com/apache/rocketmq-client-go/v2/primitive"

	"github.com/ternmq/tern/core/broker/brokertest"
)

func TestOfficialClientSendModes(t *testing.T) {
	t.Parallel()
	c := brokertest.Start(t, nil)
	createTopic(t, c, "SendModes", 4)
	p := newProducer(t, c)
	ctx := context.Background()

	res, err := p.SendSync(ctx, primitive.NewMessage("SendModes", []byte("sync")))
	if err != nil || res.Status != primitive.SendOK {
		t.Fatalf("sync send: %v %v", res, err)
	}
	if len(res.OffsetMsgID) != 32 || res.MsgID == "" {
		t.Fatalf("send result ids: msgId %q offsetMsgId %q", res.MsgID, res.OffsetMsgID)
	}
	done := make(chan error, 1)
	if err := p.SendAsync(ctx, func(_ context.Context, r *primitive.SendResult, err error) {
		if err == nil && r.Status != primitive.SendOK {
			err = fmt.Errorf("status %v", r.Status)
		}
		done <- err
	}, primitive.NewMessage("SendModes", []byte("async"))); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("async send: %v", err)
	}
	if err := p.SendOneWay(ctx, primitive.NewMessage("SendModes", []byte("oneway"))); err != nil {
		t.Fatalf("oneway send: %v", err)
	}
	batch := []*primitive.Message{
		primitive.NewMessage("SendModes", []byte("batch-1")),
		primitive.NewMessage("SendModes", []byte("batch-2")),
		primitive.NewMessage("SendModes", []byte("batch-3")),
	}
	res, err = p.SendSync(ctx, batch...)
	if err != nil || res.Status != primitive.SendOK {
		t.Fatalf("batch send: %v %v", res, err)
	}

	col := newCollector()
	pc := newPushConsumer(t, c, "cg-"+instance(t))
	if err := pc.Subscribe("SendModes", consumer.MessageSelector{}, func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
		col.add(msgs...)
		return consumer.ConsumeSuccess, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := pc.Start(); err != nil {
		t.Fatal(err)
	}
	defer pc.Shutdown()
	col.wait(t, 6, 60*time.Second)
	for _, body := range []string{"sync", "async", "oneway", "batch-1", "batch-2", "batch-3"} {
		if col.seen[body] == 0 {
			t.Errorf("%q not consumed", body)
		}
	}
}

func TestOfficialClientClusteringSharesQueues(t *testing.T) {
	t.Parallel()
	c := brokertest.Start(t, nil)
	const topic, n = "Shared", 200
	createTopic(t, c, topic, 4)
	group := "cg-" + instance(t)
	col := newCollector()
	var byInstance [2]atomic.Int64
	for i := range 2 {
		pc := newPushConsumer(t, c, group)
		if err := pc.Subscribe(topic, consumer.MessageSelector{}, func(_ context.Context, msgs ...*primitive.MessageExt) (consumer.ConsumeResult, error) {
			byInstance[i].Add(int64(len(msgs)))
			col.add(msgs...)
			return consumer.ConsumeSuccess, nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := pc.Start(); err != nil {
			t.Fatal(err)
		}
		defer pc.Shutdown()
	}
	p := newProducer(t, c)
	for i := range n {
		if _, err := p.SendSync(context.Background(), primitive.NewMessage(topic, []byte(strconv.Itoa(i)))); err != nil {
			t.Fatal(err)
		}
	}
	col.wait(t, n, 90*time.Second)
	if d := col.duplicates(); d != 0 {
		t.Errorf("%d duplicates in a clean run", d)
	}
	t.Logf("instance shares: %d and %d", byInstance[0].Load(), byInstance[1].Load())
	if byInstance[0].Load() == 0 || byInstance[1].Load() == 0 {
		t.Errorf("one instance consumed nothing: %d / %d", byInstance[0].Load(), byInstance[1].Load())
	}
}
