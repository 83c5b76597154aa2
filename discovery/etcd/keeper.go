package etcd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/discovery"
)

// errStopped: the keeper was stopped (Unregister or Close) while a Register used it.
var errStopped = errors.New("etcd: keeper stopped")

// keeper owns one broker's lease: it writes the broker's registration, keeps the lease alive,
// and when the lease is lost (the keepalive channel closes: etcd unreachable for longer than
// the TTL, or the lease expired) grants a new one and writes the last registration again,
// with backoff, until it succeeds or the keeper stops. Its goroutine, run, only watches the
// keepalive and restores; writes happen under mu.
type keeper struct {
	b      *Backend
	key    discovery.BrokerKey
	ctx    context.Context // ends when the keeper stops
	cancel context.CancelFunc
	wake   chan struct{} // capacity 1: the lease changed

	mu       sync.Mutex
	reg      discovery.Registration // the last one written
	topics   map[string]queueRecord // a master's topics as last written (merged)
	written  bool                   // reg was written once
	lease    clientv3.LeaseID       // 0 when lost
	secs     int64                  // lease TTL in seconds
	kaCh     <-chan *clientv3.LeaseKeepAliveResponse
	kaCancel context.CancelFunc // stops kaCh's keepalive
	lastReg  time.Time          // of the last Register (or of the keeper's start), for Expiry
}

func newKeeper(b *Backend, key discovery.BrokerKey) *keeper {
	ctx, cancel := context.WithCancel(b.ctx)
	return &keeper{b: b, key: key, ctx: ctx, cancel: cancel, wake: make(chan struct{}, 1), lastReg: b.now()}
}

// stop ends the keeper's goroutine and keepalive; it does not wait (Close does).
func (k *keeper) stop() { k.cancel() }

func (k *keeper) leaseID() clientv3.LeaseID {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.lease
}

func (k *keeper) run() {
	defer k.b.wg.Done()
	bo := newBackoff()
	expiry := time.NewTimer(time.Hour)
	defer expiry.Stop()
	var cur <-chan *clientv3.LeaseKeepAliveResponse
	var alive time.Time // of cur's last response
	failures := 0
	for {
		k.mu.Lock()
		ch, written, last, ttl := k.kaCh, k.written, k.lastReg, k.reg.TTL
		k.mu.Unlock()
		var expired <-chan time.Time
		if e := k.b.cfg.Expiry; e > 0 {
			if ttl > 0 {
				e = ttl
			}
			left := last.Add(e).Sub(k.b.now())
			if left <= 0 {
				k.expire()
				return
			}
			expiry.Reset(left)
			expired = expiry.C
		}
		switch {
		case ch != nil:
			if ch != cur {
				cur, alive = ch, k.b.now()
			}
			select {
			case <-k.ctx.Done():
				return
			case <-k.wake:
			case <-expired:
			case _, ok := <-ch:
				if ok {
					alive = k.b.now()
				} else if !k.closed(ch, k.b.now().Sub(alive)) {
					return
				}
			}
		case !written:
			select {
			case <-k.ctx.Done():
				return
			case <-k.wake:
			case <-expired:
			}
		default:
			if err := k.restore(); err != nil {
				if k.ctx.Err() != nil {
					return
				}
				failures++
				level := slog.LevelDebug
				if failures == 1 {
					level = slog.LevelWarn
				}
				k.b.logger.Log(k.ctx, level, "etcd registration not restored yet", "broker_name", k.key.BrokerName, "address", k.key.Address, "attempts", failures, "err", err)
				if !bo.wait(k.ctx, k.wake) {
					return
				}
				continue
			}
			failures = 0
			bo.reset()
		}
	}
}

// expire ends a keeper whose broker has not registered within its TTL or Config.Expiry: it
// forgets the broker and revokes its lease (which lapses after its TTL if etcd does not answer).
func (k *keeper) expire() {
	k.mu.Lock()
	lease := k.lease
	k.mu.Unlock()
	k.b.forget(k)
	k.b.logger.Info("etcd registration expired", "broker_name", k.key.BrokerName, "broker_id", k.key.BrokerID, "address", k.key.Address)
	if lease == clientv3.NoLease {
		return
	}
	ctx, cancel := context.WithTimeout(k.b.ctx, k.b.cfg.DialTimeout)
	defer cancel()
	if _, err := k.b.cli.Revoke(ctx, lease); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		k.b.logger.Warn("etcd revoke of an expired registration failed; it lapses after its TTL", "broker_name", k.key.BrokerName, "address", k.key.Address, "err", err)
	}
}

// closed handles the close of a keepalive channel whose last response was quiet ago, and
// reports whether the keeper goes on. A channel replaced by a newer lease is ignored. If
// keepalives were being answered until lately (quiet below 2/3 of the TTL: at most one
// keepalive missed), the lease cannot have expired: someone revoked it (an Unregister through
// another backend), and the keeper stops without restoring. Otherwise the lease is lost (etcd
// unreachable for about the TTL, or the lease expired meanwhile) and run restores it.
func (k *keeper) closed(ch <-chan *clientv3.LeaseKeepAliveResponse, quiet time.Duration) bool {
	if k.ctx.Err() != nil {
		return false
	}
	k.mu.Lock()
	if k.kaCh != ch {
		k.mu.Unlock()
		return true
	}
	lease, revoked := k.lease, quiet < time.Duration(k.secs)*time.Second*2/3
	k.kaCancel()
	k.kaCh, k.kaCancel, k.lease = nil, nil, clientv3.NoLease
	k.mu.Unlock()
	attrs := []any{"broker_name", k.key.BrokerName, "broker_id", k.key.BrokerID, "address", k.key.Address, "lease", fmt.Sprintf("%x", int64(lease))}
	if revoked {
		k.b.logger.Info("etcd lease revoked elsewhere; broker unregistered", attrs...)
		k.b.forget(k)
		return false
	}
	k.b.logger.Warn("etcd lease lost; restoring the registration", attrs...)
	return true
}

// restore writes the last registration under a new lease.
func (k *keeper) restore() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.kaCh != nil || !k.written {
		return nil
	}
	ctx, cancel := context.WithTimeout(k.ctx, k.b.cfg.DialTimeout)
	defer cancel()
	if _, err := k.writeLocked(ctx, k.reg); err != nil {
		return err
	}
	k.b.logger.Info("etcd registration restored", "broker_name", k.key.BrokerName, "address", k.key.Address, "lease", fmt.Sprintf("%x", int64(k.lease)))
	return nil
}

// register writes reg.
func (k *keeper) register(ctx context.Context, reg discovery.Registration) (writeResult, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.ctx.Err() != nil {
		return writeResult{}, errStopped
	}
	w, err := k.writeLocked(ctx, reg)
	if err == nil {
		k.lastReg = k.b.now()
	}
	return w, err
}

// writeResult is what a write did.
type writeResult struct {
	res   discovery.RegisterResult
	rev   int64                 // of the transaction
	stale []discovery.BrokerKey // other ids of the broker name this address left
}

// writeLocked writes reg in one transaction: the broker key, for a master the broker name's
// topics (when the data version changed, the keeper is new, or the lease is), deletes of
// other ids this address was registered under, and for a slave a read of the master. It
// grants a lease first if there is none or the TTL changed, and once again if etcd no longer
// knows the lease. k.mu is held.
func (k *keeper) writeLocked(ctx context.Context, reg discovery.Registration) (writeResult, error) {
	b, name := k.b, reg.Broker.BrokerName
	ttl := reg.TTL
	if ttl == 0 {
		ttl = b.cfg.TTL
	}
	secs := leaseSeconds(ttl)
	master := reg.Broker.BrokerID == 0
	dv := dataVersion{Counter: reg.DataVersion.Counter, Timestamp: reg.DataVersion.Timestamp}
	newLease := k.lease == clientv3.NoLease || k.secs != secs
	newVersion := !k.written || k.reg.DataVersion != reg.DataVersion

	rec := brokerRecord{
		Cluster: reg.Broker.Cluster, BrokerName: name, BrokerID: reg.Broker.BrokerID, Address: reg.Broker.Address,
		HAAddress: reg.HAAddress, DataVersion: dv, RegisterTime: b.now().UnixMilli(), TTLMs: secs * 1000,
	}
	brokerVal, err := encodeValue(rec)
	if err != nil {
		return writeResult{}, fmt.Errorf("%w: etcd: register %s: %w", plugin.ErrInvalidArgument, reg.Broker.Address, err)
	}
	topics, stale := k.topics, []discovery.BrokerKey(nil)
	b.tmu.RLock()
	if master && newVersion {
		if !k.written {
			q, _ := b.table.queueTable(name)
			topics = q.Topics
		}
		if b.cfg.DeleteTopicWithBrokerRegistration {
			topics = nil
		}
		topics = maps.Clone(topics)
		if topics == nil {
			topics = make(map[string]queueRecord, len(reg.Topics))
		}
		for _, tc := range reg.Topics {
			if tc.Name != "" {
				topics[tc.Name] = queueOf(tc)
			}
		}
	}
	for id, r := range b.table.brokers[name] {
		if id != reg.Broker.BrokerID && r.Address == reg.Broker.Address {
			stale = append(stale, r.key())
		}
	}
	b.tmu.RUnlock()
	var queuesVal []byte
	if master && (newVersion || newLease) {
		if queuesVal, err = encodeValue(queueTable{Cluster: reg.Broker.Cluster, Address: reg.Broker.Address, DataVersion: dv, Topics: topics}); err != nil {
			return writeResult{}, fmt.Errorf("%w: etcd: register %s: topics: %w", plugin.ErrInvalidArgument, reg.Broker.Address, err)
		}
	}

	for attempt := 0; ; attempt++ {
		lease := k.lease
		if newLease {
			g, err := b.cli.Grant(ctx, secs)
			if err != nil {
				return writeResult{}, fmt.Errorf("%w: etcd: register %s: grant lease: %w", plugin.ErrUnavailable, reg.Broker.Address, err)
			}
			lease = g.ID
		}
		ops := []clientv3.Op{clientv3.OpPut(b.keys.broker(name, reg.Broker.BrokerID), string(brokerVal), clientv3.WithLease(lease))}
		if queuesVal != nil {
			ops = append(ops, clientv3.OpPut(b.keys.queues(name), string(queuesVal), clientv3.WithLease(lease)))
		}
		for _, s := range stale {
			ops = append(ops, clientv3.OpDelete(b.keys.broker(name, s.BrokerID)))
		}
		if !master {
			ops = append(ops, clientv3.OpGet(b.keys.broker(name, 0)))
		}
		resp, err := b.cli.Txn(ctx).Then(ops...).Commit()
		if errors.Is(err, rpctypes.ErrLeaseNotFound) && !newLease && attempt == 0 {
			newLease = true // expired before the keepalive noticed
			if master && queuesVal == nil {
				if queuesVal, err = encodeValue(queueTable{Cluster: reg.Broker.Cluster, Address: reg.Broker.Address, DataVersion: dv, Topics: topics}); err != nil {
					return writeResult{}, fmt.Errorf("%w: etcd: register %s: topics: %w", plugin.ErrInvalidArgument, reg.Broker.Address, err)
				}
			}
			continue
		}
		if err != nil {
			return writeResult{}, fmt.Errorf("%w: etcd: register %s: write: %w", plugin.ErrUnavailable, reg.Broker.Address, err)
		}
		if newLease {
			k.keepAliveLocked(lease, secs)
		}
		k.reg, k.topics, k.written = reg, topics, true
		w := writeResult{rev: resp.Header.Revision, stale: stale}
		if !master {
			if kvs := resp.Responses[len(resp.Responses)-1].GetResponseRange().GetKvs(); len(kvs) == 1 {
				var m brokerRecord
				if json.Unmarshal(kvs[0].Value, &m) == nil {
					w.res = discovery.RegisterResult{MasterAddress: m.Address, HAAddress: m.HAAddress}
				}
			}
		}
		return w, nil
	}
}

// keepAliveLocked makes lease the keeper's, keeps it alive and wakes run to watch it. The old
// lease is no longer kept alive; it owns no key now and lapses. k.mu is held.
func (k *keeper) keepAliveLocked(lease clientv3.LeaseID, secs int64) {
	if k.kaCancel != nil {
		k.kaCancel()
	}
	kctx, cancel := context.WithCancel(k.ctx)
	ch, err := k.b.cli.KeepAlive(kctx, lease)
	if err != nil {
		// The client is closing; run restores (or stops) later.
		cancel()
		k.b.logger.Warn("etcd keepalive not started", "broker_name", k.key.BrokerName, "err", err)
		ch, cancel, lease = nil, nil, clientv3.NoLease
	}
	k.lease, k.secs, k.kaCh, k.kaCancel = lease, secs, ch, cancel
	select {
	case k.wake <- struct{}{}:
	default:
	}
}
