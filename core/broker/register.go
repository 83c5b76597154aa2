package broker

import (
	"context"
	"time"

	"github.com/ternmq/tern/core/broker/topics"
	"github.com/ternmq/tern/discovery/namesrv"
	"github.com/ternmq/tern/sdk/plugin/discovery"
)

// Registrar is what the broker needs from a discovery backend: to register its topic table
// and to leave. Every discovery.Discovery is one; without Config.Discovery the broker uses a
// namesrv.Client of Config.NamesrvAddr.
type Registrar interface {
	Register(ctx context.Context, reg discovery.Registration) (discovery.RegisterResult, error)
	Unregister(ctx context.Context, broker discovery.BrokerKey) error
}

var _ Registrar = (discovery.Discovery)(nil)

// registerTimeout bounds one registration or unregistration (a namesrv.Client also bounds each
// NameServer's answer, to 3 s).
const registerTimeout = 5 * time.Second

// newRegistrar returns Config.Discovery, or a client of the NameServers in
// Config.NamesrvAddr, which the broker then owns (closeRegistrar closes it), or, with neither,
// a registrar that registers nowhere.
func (b *Broker) newRegistrar() Registrar {
	if b.cfg.Discovery != nil {
		return b.cfg.Discovery
	}
	if len(b.cfg.NamesrvAddrs()) == 0 {
		b.log.Info("no namesrvAddr and no discovery backend: the broker registers nowhere")
		return nowhere{}
	}
	b.ownRegistrar = namesrv.NewClient(namesrv.ClientOptions{
		Addrs: b.cfg.NamesrvAddrs(), Logger: b.log.With("component", "namesrv-client"), TLS: b.ls.namesrv,
	})
	return b.ownRegistrar
}

// nowhere is the Registrar of a broker without NameServers.
type nowhere struct{}

func (nowhere) Register(context.Context, discovery.Registration) (discovery.RegisterResult, error) {
	return discovery.RegisterResult{}, nil
}

func (nowhere) Unregister(context.Context, discovery.BrokerKey) error { return nil }

// closeRegistrar closes the NameServer client the broker made, if it made one.
func (b *Broker) closeRegistrar() {
	if b.ownRegistrar != nil {
		b.ownRegistrar.Close()
	}
}

func (b *Broker) brokerKey() discovery.BrokerKey {
	return discovery.BrokerKey{Cluster: b.cfg.BrokerClusterName, BrokerName: b.cfg.BrokerName, BrokerID: b.registeredID(), Address: b.cfg.BrokerAddr}
}

// registration is REGISTER_BROKER's content: the whole topic table and its data version.
func (b *Broker) registration() discovery.Registration {
	all, ver := b.topics.All()
	return b.registrationOf(all, ver)
}

// registrationOf is a registration of the topics in table at data version ver.
func (b *Broker) registrationOf(table map[string]topics.Config, ver topics.DataVersion) discovery.Registration {
	return discovery.Registration{
		Broker:      b.brokerKey(),
		HAAddress:   b.haAddr(),
		Topics:      namesrv.TopicsFromTable(table),
		DataVersion: discovery.DataVersion{Counter: ver.Counter, Timestamp: ver.Timestamp},
		TTL:         b.cfg.RegistrationTTL.D(),
		Epoch:       b.registeredEpoch(),
	}
}

// registerAll registers the broker with the discovery backend (every NameServer by default).
func (b *Broker) registerAll(ctx context.Context) {
	b.registerWith(ctx, func(ctx context.Context) (discovery.RegisterResult, error) {
		return b.registrar.Register(ctx, b.registration())
	})
}

// registerWith runs one registration, call, one at a time and bounded by registerTimeout, and
// takes in its result.
func (b *Broker) registerWith(ctx context.Context, call func(context.Context) (discovery.RegisterResult, error)) {
	b.regMu.Lock()
	defer b.regMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, registerTimeout)
	defer cancel()
	res, err := call(ctx)
	if err != nil {
		b.log.Warn("register broker failed", "err", err)
		return
	}
	b.learnMaster(res.MasterAddress, res.HAAddress)
	b.ready.registered.Store(true)
}

// changeRegistrar is a Registrar that takes a registration of changed topics alone
// (namesrv.Client); whole gives the whole table for a NameServer that refuses it.
type changeRegistrar interface {
	RegisterChanged(ctx context.Context, reg discovery.Registration, whole func() discovery.Registration) (discovery.RegisterResult, error)
}

// registerTopic registers the creation or update of topic. With a registrar that takes
// changes, only that topic is sent, as RocketMQ's broker does (registerIncrementBrokerData):
// sending the whole table made each creation cost the broker and the NameServers time in
// proportion to the topics already there (2,500 topics created one after the other took
// about 32 s, 13 ms each on average, most of it encoding and decoding the table). Other
// registrars (etcd, a plugin) get the whole table.
func (b *Broker) registerTopic(ctx context.Context, topic string) {
	cr, ok := b.registrar.(changeRegistrar)
	tc, found := b.topics.Get(topic)
	if !ok || !found {
		b.registerAll(ctx)
		return
	}
	b.registerWith(ctx, func(ctx context.Context) (discovery.RegisterResult, error) {
		reg := b.registrationOf(map[string]topics.Config{topic: tc}, b.topics.DataVersion())
		return cr.RegisterChanged(ctx, reg, b.registration)
	})
}

// unregisterAll tells the discovery backend the broker is leaving.
func (b *Broker) unregisterAll(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, registerTimeout)
	defer cancel()
	if err := b.registrar.Unregister(ctx, b.brokerKey()); err != nil {
		b.log.Debug("unregister broker failed", "err", err)
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
