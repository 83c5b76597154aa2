package broker

import (
	"context"
	"time"

	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

// registerBody is REGISTER_BROKER's body: the topic table and its data version.
func (b *Broker) registerBody() ([]byte, error) {
	all, ver := b.topics.All()
	body := protocol.RegisterBrokerBody{
		FilterServerList:            []string{},
		TopicConfigSerializeWrapper: protocol.TopicConfigSerializeWrapper{TopicConfigTable: all, DataVersion: ver},
	}
	return body.Encode(false)
}

// registerAll registers the broker at every NameServer.
func (b *Broker) registerAll(ctx context.Context) {
	b.regMu.Lock()
	defer b.regMu.Unlock()
	body, err := b.registerBody()
	if err != nil {
		b.log.Error("encode broker registration failed", "err", err)
		return
	}
	h := protocol.RegisterBrokerHeader{
		BrokerName: b.cfg.BrokerName, BrokerAddr: b.cfg.BrokerAddr, ClusterName: b.cfg.BrokerClusterName,
		HAServerAddr: b.cfg.BrokerAddr, BrokerID: b.cfg.BrokerID,
		BodyCRC32: protocol.BodyCRC32(body),
	}
	for _, addr := range b.cfg.NamesrvAddrs() {
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		resp, err := b.client.Invoke(rctx, addr, remoting.NewRequest(remoting.RegisterBroker, h.Encode(), body))
		cancel()
		if err == nil {
			err = remoting.ResponseErr(resp)
		}
		if err != nil {
			b.log.Warn("register at nameserver failed", "namesrv", addr, "err", err)
		}
	}
}

// unregisterAll tells every NameServer the broker is leaving.
func (b *Broker) unregisterAll(ctx context.Context) {
	h := protocol.UnregisterBrokerHeader{BrokerName: b.cfg.BrokerName, BrokerAddr: b.cfg.BrokerAddr, ClusterName: b.cfg.BrokerClusterName, BrokerID: b.cfg.BrokerID}
	for _, addr := range b.cfg.NamesrvAddrs() {
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		if _, err := b.client.Invoke(rctx, addr, remoting.NewRequest(remoting.UnregisterBroker, h.Encode(), nil)); err != nil {
			b.log.Debug("unregister at nameserver failed", "namesrv", addr, "err", err)
		}
		cancel()
	}
}

// registerSoon asks the registration loop to register now (after a topic change).
func (b *Broker) registerSoon() {
	select {
	case b.regNow <- struct{}{}:
	default:
	}
}

// registrationLoop registers every registerNameServerPeriod (clamped to 10-60 s, as RocketMQ)
// and whenever registerSoon asks.
func (b *Broker) registrationLoop() {
	period := min(max(b.cfg.RegisterNameServerPeriod.D(), 10*time.Second), 60*time.Second)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
		case <-b.regNow:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		b.registerAll(ctx)
		cancel()
	}
}
