package client

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

// rebalanceDebounce collects the burst of NOTIFY_CONSUMER_IDS_CHANGED a group change causes
// (one per broker and per change) into one rebalance.
const rebalanceDebounce = 100 * time.Millisecond

// errNotRegistered: the broker's consumer list of the group lacks this consumer yet.
var errNotRegistered = errors.New("client: consumer not yet registered at the broker")

// compare orders queues by topic, broker name and queue id, as consumers sort them before
// allocating.
func (q MessageQueue) compare(o MessageQueue) int {
	if c := cmp.Compare(q.Topic, o.Topic); c != 0 {
		return c
	}
	if c := cmp.Compare(q.BrokerName, o.BrokerName); c != 0 {
		return c
	}
	return cmp.Compare(q.QueueID, o.QueueID)
}

// rebalanceLoop rebalances every rebalance interval, soon after the broker says the group
// changed, and with a short backoff while the last rebalance was incomplete (a route or the
// consumer list missing).
func (pc *PushConsumer) rebalanceLoop(ctx context.Context, complete bool) {
	bo := backoff{min: 200 * time.Millisecond, max: pc.cfg.rebalanceInterval}
	next := pc.cfg.rebalanceInterval
	if !complete {
		next = bo.next()
	}
	t := time.NewTimer(next)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-pc.rebalanceNow:
			t.Stop()
			if !wait(ctx, rebalanceDebounce) {
				return
			}
			select {
			case <-pc.rebalanceNow:
			default:
			}
		}
		if pc.rebalance(ctx) {
			bo.reset()
			next = pc.cfg.rebalanceInterval
		} else {
			next = bo.next()
		}
		t.Reset(next)
	}
}

// rebalance computes the consumer's queues for every subscribed topic and applies the
// difference: dropped queues stop (their offsets committed, orderly: unlocked), new queues
// start. A topic whose allocation cannot be computed keeps its current queues. It reports
// whether every topic was allocated.
func (pc *PushConsumer) rebalance(ctx context.Context) bool {
	pc.mu.Lock()
	subs := maps.Clone(pc.subs)
	pc.mu.Unlock()
	want := make(map[MessageQueue]*subscription)
	lists := make(map[string][]string) // consumer ids by broker address, this round
	complete := true
	for _, topic := range slices.Sorted(maps.Keys(subs)) {
		sub := subs[topic]
		mine, err := pc.allocate(ctx, topic, lists)
		if err != nil {
			complete = false
			if ctx.Err() != nil {
				return false
			}
			if protocol.IsRetryTopic(topic) && errors.Is(err, ErrNoRoute) {
				pc.log.Debug("retry topic has no route yet", "topic", topic)
			} else {
				pc.log.Warn("rebalance failed, keeping the topic's queues", "topic", topic, "err", err)
			}
			for _, q := range pc.assigned() {
				if q.Topic == topic {
					want[q] = sub
				}
			}
			continue
		}
		for _, q := range mine {
			want[q] = sub
		}
	}
	pc.apply(ctx, want)
	return complete
}

// allocate returns the consumer's share of topic's queues.
func (pc *PushConsumer) allocate(ctx context.Context, topic string, lists map[string][]string) ([]MessageQueue, error) {
	r, err := pc.in.route(ctx, topic, time.Time{})
	if err != nil {
		return nil, err
	}
	all := slices.SortedFunc(slices.Values(r.subscribe), MessageQueue.compare)
	if pc.cfg.model == Broadcasting || len(all) == 0 {
		return all, nil
	}
	ids, err := pc.consumerIDs(ctx, r, lists)
	if err == nil && !slices.Contains(ids, pc.in.id) {
		err = errNotRegistered
	}
	if err != nil {
		pc.in.sendHeartbeat(ctx) // a restarted broker forgot the group
		return nil, fmt.Errorf("consumers of %s: %w", topic, err)
	}
	return pc.cfg.allocate(pc.in.id, ids, all), nil
}

// consumerIDs asks a broker of the route for the group's consumer ids
// (GET_CONSUMER_LIST_BY_GROUP), sorted; lists caches the answers of one rebalance.
func (pc *PushConsumer) consumerIDs(ctx context.Context, r *topicRoute, lists map[string][]string) ([]string, error) {
	var errs []error
	for _, b := range r.data.BrokerDatas {
		addr := b.MasterAddr()
		if addr == "" {
			for _, id := range slices.Sorted(maps.Keys(b.BrokerAddrs)) {
				addr = b.BrokerAddrs[id]
				break
			}
		}
		if addr == "" {
			continue
		}
		if ids, ok := lists[addr]; ok {
			return ids, nil
		}
		h := protocol.ConsumerGroupHeader{ConsumerGroup: pc.core.group}
		resp, err := pc.in.invokeOK(ctx, addr, remoting.NewRequest(remoting.GetConsumerListByGroup, h.Encode(), nil))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var body protocol.ConsumerListBody
		if err := protocol.Unmarshal(resp.Body, &body); err != nil {
			errs = append(errs, fmt.Errorf("consumer list from %s: %w", addr, err))
			continue
		}
		ids := slices.Sorted(slices.Values(body.ConsumerIDList))
		ids = slices.Compact(ids)
		lists[addr] = ids
		return ids, nil
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("%w: no broker address", ErrNoRoute)
	}
	return nil, errors.Join(errs...)
}

// apply makes want the consumer's queues.
func (pc *PushConsumer) apply(ctx context.Context, want map[MessageQueue]*subscription) {
	type added struct {
		r     *queueRunner
		after chan struct{}
	}
	var adds []added
	var removed []MessageQueue
	pc.mu.Lock()
	if ctx.Err() != nil || pc.closed {
		pc.mu.Unlock()
		return
	}
	for mq, r := range pc.queues {
		if _, ok := want[mq]; ok {
			continue
		}
		delete(pc.queues, mq)
		fin := make(chan struct{})
		pc.dropping[mq] = fin
		pc.stopQueue(r, fin)
		removed = append(removed, mq)
	}
	for mq, sub := range want {
		if _, ok := pc.queues[mq]; ok {
			continue
		}
		r := pc.newRunner(mq, sub)
		pc.queues[mq] = r
		adds = append(adds, added{r, pc.dropping[mq]})
	}
	pc.mu.Unlock()
	if len(adds) == 0 && len(removed) == 0 {
		return
	}
	if pc.cfg.orderly && pc.cfg.model == Clustering {
		pqs := make(map[MessageQueue]*processQueue)
		for _, a := range adds {
			if a.after == nil {
				pqs[a.r.pq.mq] = a.r.pq
			}
		}
		if len(pqs) > 0 {
			pc.lockAll(ctx, pqs)
		}
	}
	for _, a := range adds {
		pc.startQueue(a.r, a.after)
	}
	pc.log.Info("queues rebalanced", "added", len(adds), "removed", len(removed), "queues", len(want))
	if pc.log.Enabled(ctx, slog.LevelDebug) {
		for _, a := range adds {
			pc.log.Debug("queue added", "queue", a.r.pq.mq.String())
		}
		for _, mq := range removed {
			pc.log.Debug("queue removed", "queue", mq.String())
		}
	}
}
