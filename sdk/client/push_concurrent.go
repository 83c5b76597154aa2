package client

import (
	"context"
	"slices"
	"time"
)

// consumeJob is a batch of one queue's messages for the handler pool.
type consumeJob struct {
	r    *queueRunner
	gen  uint64
	msgs []*MessageExt
}

// localRetryDelay is how long a message whose send-back failed waits before it is handed to
// the handler again (RocketMQ: 5 s).
const localRetryDelay = 5 * time.Second

// dispatch hands freshly pulled messages to the handler pool in batches of up to the consume
// batch size, each of one original topic (a retry queue mixes topics). It blocks while the
// pool is busy: the work channel holds one batch per handler goroutine.
func (pc *PushConsumer) dispatch(ctx context.Context, r *queueRunner, gen uint64, msgs []*MessageExt) {
	for len(msgs) > 0 {
		n := 1
		for n < len(msgs) && n < pc.cfg.batchSize && msgs[n].Topic == msgs[0].Topic {
			n++
		}
		select {
		case <-ctx.Done():
			return
		case pc.work <- consumeJob{r: r, gen: gen, msgs: msgs[:n:n]}:
		}
		msgs = msgs[n:]
	}
}

// consumeWorker is one goroutine of the handler pool.
func (pc *PushConsumer) consumeWorker(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-pc.work:
			pc.consumeConcurrently(ctx, j)
		}
	}
}

// consumeConcurrently runs the handler on a batch and settles it: acknowledged on success;
// on failure sent back to the broker (clustering; the retry topic redelivers it later) and
// acknowledged, or, if the send-back fails, kept and handed to the handler again after
// localRetryDelay with ReconsumeTimes incremented. Broadcasting consumers do not redeliver.
func (pc *PushConsumer) consumeConcurrently(ctx context.Context, j consumeJob) {
	pq := j.r.pq
	if pq.isDropped(j.gen) {
		return
	}
	ok, _ := pc.callHandler(j.msgs)
	if ok {
		pq.remove(j.gen, j.msgs)
		return
	}
	if pc.cfg.model == Broadcasting {
		pc.log.Warn("broadcast messages failed and are dropped", "queue", pq.mq.String(), "offset", j.msgs[0].QueueOffset, "count", len(j.msgs))
		pq.remove(j.gen, j.msgs)
		return
	}
	if pq.isDropped(j.gen) {
		return // the queue's new owner redelivers the batch
	}
	bg := context.WithoutCancel(ctx) // send back even while closing
	var failed []*MessageExt
	for _, m := range j.msgs {
		if err := pc.core.sendBack(bg, m, 0, int32(pc.cfg.maxReconsume)); err != nil {
			pc.log.Warn("send back failed, retrying locally", "topic", m.Topic, "msg_id", m.MsgID, "err", err)
			failed = append(failed, m)
		}
	}
	pq.remove(j.gen, slices.DeleteFunc(slices.Clone(j.msgs), func(m *MessageExt) bool { return slices.Contains(failed, m) }))
	if len(failed) == 0 {
		return
	}
	for _, m := range failed {
		m.ReconsumeTimes++
	}
	retry := consumeJob{r: j.r, gen: j.gen, msgs: failed}
	pc.goFunc(func(ctx context.Context) {
		if !wait(ctx, localRetryDelay) {
			return
		}
		select {
		case <-ctx.Done():
		case pc.work <- retry:
		}
	})
}
