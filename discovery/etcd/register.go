package etcd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/discovery"
)

// Register writes a broker's registration, and for a master its topics, under the broker's
// lease in one transaction, and keeps the lease alive until Unregister or Close (see the
// package doc). It returns once this backend's cache shows the write. For a slave whose master
// is registered, the result holds the master's addresses.
func (b *Backend) Register(ctx context.Context, reg discovery.Registration) (discovery.RegisterResult, error) {
	if err := validate(reg); err != nil {
		return discovery.RegisterResult{}, err
	}
	for {
		k, err := b.keeperFor(reg.Broker)
		if err != nil {
			return discovery.RegisterResult{}, err
		}
		w, err := k.register(ctx, reg)
		if errors.Is(err, errStopped) {
			continue // unregistered meanwhile: register anew
		}
		if err != nil {
			return discovery.RegisterResult{}, err
		}
		for _, stale := range w.stale {
			b.dropKeeper(stale)
		}
		b.waitRev(ctx, w.rev)
		return w.res, nil
	}
}

func validate(reg discovery.Registration) error {
	k := reg.Broker
	switch {
	case k.BrokerName == "":
		return fmt.Errorf("%w: etcd: register: no broker name", plugin.ErrInvalidArgument)
	case k.Address == "":
		return fmt.Errorf("%w: etcd: register %s: no address", plugin.ErrInvalidArgument, k.BrokerName)
	case k.BrokerID < 0:
		return fmt.Errorf("%w: etcd: register %s: broker id %d", plugin.ErrInvalidArgument, k.BrokerName, k.BrokerID)
	case reg.TTL < 0:
		return fmt.Errorf("%w: etcd: register %s: ttl %v", plugin.ErrInvalidArgument, k.BrokerName, reg.TTL)
	}
	return nil
}

// keeperFor returns the keeper of a broker, starting one if needed.
func (b *Backend) keeperFor(key discovery.BrokerKey) (*keeper, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.usableLocked(); err != nil {
		return nil, err
	}
	if k := b.keepers[key]; k != nil {
		return k, nil
	}
	k := newKeeper(b, key)
	b.keepers[key] = k
	b.wg.Add(1)
	go k.run()
	return k, nil
}

// dropKeeper stops and forgets a broker's keeper, if any, and returns it.
func (b *Backend) dropKeeper(key discovery.BrokerKey) *keeper {
	b.mu.Lock()
	k := b.keepers[key]
	delete(b.keepers, key)
	b.mu.Unlock()
	if k != nil {
		k.stop()
	}
	return k
}

// forget stops k and drops it from the keepers unless another keeper replaced it.
func (b *Backend) forget(k *keeper) {
	b.mu.Lock()
	if b.keepers[k.key] == k {
		delete(b.keepers, k.key)
	}
	b.mu.Unlock()
	k.stop()
}

// Unregister removes a broker at once: it stops the keepalive of the broker's lease and
// revokes the lease that owns the broker's key (whichever backend granted it), removing the
// broker and, for a master, its topics. A broker id now registered under another address is
// left alone; an unknown broker is not an error. It returns once this backend's cache shows
// the removal.
func (b *Backend) Unregister(ctx context.Context, key discovery.BrokerKey) error {
	cli, err := b.client()
	if err != nil {
		return err
	}
	var local clientv3.LeaseID
	if k := b.dropKeeper(key); k != nil {
		local = k.leaseID()
	}
	bkey := b.keys.broker(key.BrokerName, key.BrokerID)
	resp, err := cli.Get(ctx, bkey)
	if err != nil {
		return fmt.Errorf("%w: etcd: unregister %s: read %s: %w", plugin.ErrUnavailable, key.Address, bkey, err)
	}
	var owner clientv3.LeaseID
	if len(resp.Kvs) == 1 {
		var r brokerRecord
		if json.Unmarshal(resp.Kvs[0].Value, &r) == nil && r.Address == key.Address {
			owner = clientv3.LeaseID(resp.Kvs[0].Lease)
			if owner == clientv3.NoLease {
				if _, err := cli.Delete(ctx, bkey); err != nil {
					return fmt.Errorf("%w: etcd: unregister %s: delete %s: %w", plugin.ErrUnavailable, key.Address, bkey, err)
				}
			}
		}
	}
	leases := []clientv3.LeaseID{owner}
	if local != owner {
		leases = append(leases, local)
	}
	for _, id := range leases {
		if id == clientv3.NoLease {
			continue
		}
		if _, err := cli.Revoke(ctx, id); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return fmt.Errorf("%w: etcd: unregister %s: revoke lease %x: %w", plugin.ErrUnavailable, key.Address, int64(id), err)
		}
	}
	b.waitCache(ctx, func(t *Table) bool {
		r, ok := t.broker(key.BrokerName, key.BrokerID)
		return !ok || r.Address != key.Address
	})
	b.logger.Info("etcd broker unregistered", "broker_name", key.BrokerName, "broker_id", key.BrokerID, "address", key.Address)
	return nil
}
