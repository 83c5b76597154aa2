package client

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

// queueRunner is one queue assigned to a push consumer: its process queue, its pull loop and,
// when orderly, its consume loop.
type queueRunner struct {
	pq     *processQueue
	sub    *subscription
	cancel context.CancelFunc
	done   chan struct{} // closed once the queue's goroutines returned
	// brokerID is the broker to pull from next (suggestWhichBrokerId); pull loop only.
	brokerID int64
}

// Backoffs of the pull loop.
const (
	pullBackoffMin = 100 * time.Millisecond
	pullBackoffMax = 5 * time.Second
	lockBackoffMin = 200 * time.Millisecond
	lockBackoffMax = 5 * time.Second
)

func (pc *PushConsumer) newRunner(mq MessageQueue, sub *subscription) *queueRunner {
	pq := newProcessQueue(mq, pc.cfg.consumer.pendingMsgs, pc.cfg.consumer.pendingBytes)
	pq.onCommit = func(off int64) { pc.offsets.update(mq, off) }
	return &queueRunner{pq: pq, sub: sub, done: make(chan struct{})}
}

// startQueue starts r's goroutines; they wait for after (a dropped runner of the same queue
// finishing) first.
func (pc *PushConsumer) startQueue(r *queueRunner, after <-chan struct{}) {
	ctx, cancel := context.WithCancel(pc.ctx)
	r.cancel = cancel
	pc.goFunc(func(context.Context) {
		defer close(r.done)
		var wg sync.WaitGroup
		if pc.cfg.orderly {
			wg.Go(func() { pc.orderlyLoop(ctx, r) })
		}
		pc.pullLoop(ctx, r, after)
		cancel()
		wg.Wait()
	})
}

// stopQueue stops a queue taken away by a rebalance, on an owned goroutine: it stops the pull
// (and, orderly, waits for the handler in progress), persists the queue's offset, unlocks it
// (orderly), then closes fin.
func (pc *PushConsumer) stopQueue(r *queueRunner, fin chan struct{}) {
	mq := r.pq.mq
	pc.goFunc(func(ctx context.Context) {
		r.cancel()
		if !pc.cfg.orderly {
			r.pq.drop() // handlers in progress may finish: the next owner redelivers
		}
		<-r.done
		r.pq.drop()
		bg := context.WithoutCancel(ctx)
		if err := pc.offsets.persist(bg, []MessageQueue{mq}); err != nil {
			pc.log.Warn("commit offset of a dropped queue failed", "queue", mq.String(), "err", err)
		}
		pc.offsets.forget(mq)
		if pc.cfg.orderly && pc.cfg.model == Clustering {
			pc.unlock(bg, []MessageQueue{mq})
		}
		pc.mu.Lock()
		if pc.dropping[mq] == fin {
			delete(pc.dropping, mq)
		}
		pc.mu.Unlock()
		close(fin)
	})
}

// pullLoop pulls r's queue until ctx ends: it finds the initial offset (after taking the
// queue's lock when orderly), then pulls with long polling, waiting while the queue is over
// its pending limits.
func (pc *PushConsumer) pullLoop(ctx context.Context, r *queueRunner, after <-chan struct{}) {
	if after != nil {
		select {
		case <-ctx.Done():
			return
		case <-after:
		}
	}
	mq, pq := r.pq.mq, r.pq
	locking := pc.cfg.orderly && pc.cfg.model == Clustering
	bo := backoff{min: pullBackoffMin, max: pullBackoffMax}
	lbo := backoff{min: lockBackoffMin, max: lockBackoffMax}
	var failing bool
	var moved offsetMoveCheck
	fail := func(what string, err error) bool {
		if ctx.Err() != nil {
			return false
		}
		if !failing {
			pc.log.Warn(what+" failed", "queue", mq.String(), "err", err)
		} else {
			pc.log.Debug(what+" failed", "queue", mq.String(), "err", err)
		}
		failing = true
		var re *remoting.ResponseError
		if !errors.As(err, &re) {
			_, _ = pc.in.fetchRoute(ctx, mq.Topic) // the broker may have moved
		}
		return wait(ctx, bo.next())
	}
	for {
		if locking && !pq.lockValid(time.Now()) && !pc.lockOne(ctx, pq) {
			if !wait(ctx, lbo.next()) {
				return
			}
			continue
		}
		off, err := pc.resumeOffset(ctx, mq)
		if err == nil {
			gen, _ := pq.generation()
			pq.setPosition(gen, off)
			break
		}
		if !fail("read offset", err) {
			return
		}
	}
	bo.reset()
	for ctx.Err() == nil {
		if pq.waitSpace(ctx) != nil {
			return
		}
		if locking && !pq.lockValid(time.Now()) {
			if !pc.lockOne(ctx, pq) && !wait(ctx, lbo.next()) {
				return
			}
			continue
		}
		lbo.reset()
		gen, dropped := pq.generation()
		if dropped {
			return
		}
		req := pullRequest{mq: mq, offset: pq.position(), sub: r.sub, brokerID: r.brokerID}
		pc.pulling.Add(1)
		res, err := pc.core.pull(ctx, req)
		pc.pulling.Add(-1)
		if err != nil {
			r.brokerID = protocol.MasterID
			if !fail("pull", err) {
				return
			}
			continue
		}
		if failing {
			pc.log.Info("pull ok again", "queue", mq.String())
			failing = false
		}
		bo.reset()
		r.brokerID = protocol.MasterID
		if _, ok := pc.in.brokerAddr(mq.BrokerName, res.suggest); ok {
			r.brokerID = res.suggest
		}
		if res.status != pullOffsetMoved {
			moved = offsetMoveCheck{}
		}
		switch res.status {
		case pullFound:
			gen, kept := pq.add(gen, res.msgs, res.next)
			if len(kept) > 0 && !pc.cfg.orderly {
				pc.dispatch(ctx, r, gen, kept)
			}
		case pullNoNew, pullNoMatch:
			pq.setPosition(gen, res.next)
		case pullOffsetMoved:
			if !moved.confirmed(req.offset) {
				if !wait(ctx, offsetMoveRecheck) {
					return
				}
				continue
			}
			pc.log.Warn("pull offset moved", "queue", mq.String(), "offset", req.offset, "next", res.next,
				"min_offset", res.minOffset, "max_offset", res.maxOffset)
			pq.reset(res.next)
			if err := pc.offsets.persist(ctx, []MessageQueue{mq}); err != nil && ctx.Err() == nil {
				pc.log.Warn("commit moved offset failed", "queue", mq.String(), "err", err)
			}
		}
	}
}

// resumeOffset is where the consumer starts on mq: the stored offset, else where
// WithConsumeFrom says.
func (pc *PushConsumer) resumeOffset(ctx context.Context, mq MessageQueue) (int64, error) {
	off, err := pc.offsets.read(ctx, mq)
	if errors.Is(err, ErrNoOffset) || err == nil && off < 0 {
		return pc.core.startOffset(ctx, mq)
	}
	return off, err
}
