package host

import (
	"context"

	"github.com/ternmq/tern/sdk/plugin/discovery"
)

// DiscoveryPlugin is a discovery backend as the broker and the NameServer use it. Its calls go
// through the host's middleware (fail fast when down, the per-call timeout, the stats); their
// errors are returned as they are, whatever the failure policy: a registry has no permissive
// answer. Watch is a stream and has no timeout.
type DiscoveryPlugin struct {
	in *instance
}

var _ discovery.Discovery = (*DiscoveryPlugin)(nil)

// Name returns the plugin's manifest name.
func (d *DiscoveryPlugin) Name() string { return d.in.spec.Name }

// Init is the host's business: it ran when the plugin started. Calling it again is a no-op
// that returns the plugin's identity.
func (d *DiscoveryPlugin) Init(context.Context, map[string]any) (discovery.Info, error) {
	d.in.mu.Lock()
	defer d.in.mu.Unlock()
	return discovery.Info{Name: d.in.info.name, Version: d.in.info.version}, nil
}

// Register adds or refreshes a broker.
func (d *DiscoveryPlugin) Register(ctx context.Context, reg discovery.Registration) (discovery.RegisterResult, error) {
	return call(ctx, d.in, func(ctx context.Context, di discovery.Discovery) (discovery.RegisterResult, error) {
		return di.Register(ctx, reg)
	})
}

// Unregister removes a broker.
func (d *DiscoveryPlugin) Unregister(ctx context.Context, broker discovery.BrokerKey) error {
	_, err := call(ctx, d.in, func(ctx context.Context, di discovery.Discovery) (struct{}, error) {
		return struct{}{}, di.Unregister(ctx, broker)
	})
	return err
}

// Route returns a topic's route.
func (d *DiscoveryPlugin) Route(ctx context.Context, topic string) (discovery.Route, error) {
	return call(ctx, d.in, func(ctx context.Context, di discovery.Discovery) (discovery.Route, error) {
		return di.Route(ctx, topic)
	})
}

// Brokers returns every live broker.
func (d *DiscoveryPlugin) Brokers(ctx context.Context) (discovery.ClusterInfo, error) {
	return call(ctx, d.in, func(ctx context.Context, di discovery.Discovery) (discovery.ClusterInfo, error) {
		return di.Brokers(ctx)
	})
}

// Watch streams changes from the plugin's current implementation until ctx ends or the
// stream fails (a restarted plugin needs a new Watch, which starts with a reset).
func (d *DiscoveryPlugin) Watch(ctx context.Context, topicPrefix string, send func(discovery.Event) error) error {
	impl, _, err := d.in.acquire()
	if err != nil {
		return err
	}
	di, ok := impl.(discovery.Discovery)
	if !ok {
		return errNotKind(d.in, impl)
	}
	return di.Watch(ctx, topicPrefix, send)
}
