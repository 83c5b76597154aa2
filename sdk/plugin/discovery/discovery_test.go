package discovery_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/discovery"
	"github.com/ternmq/tern/sdk/plugin/plugintest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// memory is a registry in memory, enough to exercise every call. Watchers get events through
// a bounded channel; when it is full, events are dropped.
type memory struct {
	mu       sync.Mutex
	brokers  map[string]discovery.BrokerData           // broker name → set
	queues   map[string]map[string]discovery.QueueData // topic → broker name → queues
	watchers map[chan discovery.Event]struct{}
}

func newMemory() *memory {
	return &memory{brokers: map[string]discovery.BrokerData{}, queues: map[string]map[string]discovery.QueueData{}, watchers: map[chan discovery.Event]struct{}{}}
}

func (m *memory) Init(context.Context, map[string]any) (discovery.Info, error) {
	return discovery.Info{Name: "memory", Version: "1"}, nil
}

func (m *memory) notify(e discovery.Event) { // m.mu held
	for ch := range m.watchers {
		select {
		case ch <- e:
		default:
		}
	}
}

func (m *memory) Register(_ context.Context, reg discovery.Registration) (discovery.RegisterResult, error) {
	if reg.Broker.BrokerName == "" {
		return discovery.RegisterResult{}, fmt.Errorf("%w: no broker name", plugin.ErrInvalidArgument)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	set, ok := m.brokers[reg.Broker.BrokerName]
	if !ok {
		set = discovery.BrokerData{Cluster: reg.Broker.Cluster, BrokerName: reg.Broker.BrokerName, Addresses: map[int64]string{}}
	}
	set.Addresses[reg.Broker.BrokerID] = reg.Broker.Address
	m.brokers[reg.Broker.BrokerName] = set
	m.notify(discovery.Event{Type: discovery.EventBrokerRegistered, Broker: reg.Broker})
	for _, tc := range reg.Topics {
		if m.queues[tc.Name] == nil {
			m.queues[tc.Name] = map[string]discovery.QueueData{}
		}
		m.queues[tc.Name][reg.Broker.BrokerName] = discovery.QueueData{
			BrokerName: reg.Broker.BrokerName, ReadQueueNums: tc.ReadQueueNums, WriteQueueNums: tc.WriteQueueNums, Perm: tc.Perm,
		}
		m.notify(discovery.Event{Type: discovery.EventTopic, Topic: tc.Name})
	}
	if reg.Broker.BrokerID != 0 {
		return discovery.RegisterResult{MasterAddress: set.Addresses[0], HAAddress: reg.HAAddress}, nil
	}
	return discovery.RegisterResult{}, nil
}

func (m *memory) Unregister(_ context.Context, b discovery.BrokerKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if set, ok := m.brokers[b.BrokerName]; ok {
		delete(set.Addresses, b.BrokerID)
		m.notify(discovery.Event{Type: discovery.EventBrokerUnregistered, Broker: b})
	}
	return nil
}

func (m *memory) Route(_ context.Context, topic string) (discovery.Route, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	qs, ok := m.queues[topic]
	if !ok {
		return discovery.Route{}, fmt.Errorf("route of topic %q: %w", topic, plugin.ErrNotFound)
	}
	var r discovery.Route
	for _, name := range slices.Sorted(maps.Keys(qs)) {
		r.Queues = append(r.Queues, qs[name])
		r.Brokers = append(r.Brokers, m.brokers[name])
	}
	return r, nil
}

func (m *memory) Brokers(context.Context) (discovery.ClusterInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ci := discovery.ClusterInfo{Brokers: maps.Clone(m.brokers), Clusters: map[string][]string{}}
	for _, name := range slices.Sorted(maps.Keys(m.brokers)) {
		c := m.brokers[name].Cluster
		ci.Clusters[c] = append(ci.Clusters[c], name)
	}
	return ci, nil
}

func (m *memory) Watch(ctx context.Context, prefix string, send func(discovery.Event) error) error {
	ch := make(chan discovery.Event, 64)
	m.mu.Lock()
	m.watchers[ch] = struct{}{}
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.watchers, ch)
		m.mu.Unlock()
	}()
	if err := send(discovery.Event{Type: discovery.EventReset}); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case e := <-ch:
			if e.Type == discovery.EventTopic && !strings.HasPrefix(e.Topic, prefix) {
				continue
			}
			if err := send(e); err != nil {
				return err
			}
		}
	}
}

var (
	master = discovery.BrokerKey{Cluster: "c", BrokerName: "b", BrokerID: 0, Address: "10.0.0.1:10911"}
	slave  = discovery.BrokerKey{Cluster: "c", BrokerName: "b", BrokerID: 1, Address: "10.0.0.2:10911"}
)

type form struct {
	name string
	new  func(t *testing.T, impl discovery.Discovery) discovery.Discovery
}

var forms = []form{
	{"InProcess", func(_ *testing.T, impl discovery.Discovery) discovery.Discovery { return impl }},
	{"GRPC", func(t *testing.T, impl discovery.Discovery) discovery.Discovery {
		return plugintest.InProcess[discovery.Discovery](t, plugin.KindDiscovery, &discovery.Plugin{Impl: impl})
	}},
}

func TestRegistry(t *testing.T) {
	for _, f := range forms {
		t.Run(f.name, func(t *testing.T) {
			d := f.new(t, newMemory())
			ctx := t.Context()
			if info, err := d.Init(ctx, nil); err != nil || info.Name != "memory" {
				t.Fatalf("Init = %+v, %v", info, err)
			}
			topics := []discovery.TopicConfig{{Name: "orders", ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6}}
			if res, err := d.Register(ctx, discovery.Registration{Broker: master, Topics: topics}); err != nil || res != (discovery.RegisterResult{}) {
				t.Fatalf("Register master = %+v, %v", res, err)
			}
			res, err := d.Register(ctx, discovery.Registration{Broker: slave, HAAddress: "10.0.0.1:10912"})
			if err != nil || res != (discovery.RegisterResult{MasterAddress: master.Address, HAAddress: "10.0.0.1:10912"}) {
				t.Errorf("Register slave = %+v, %v", res, err)
			}
			route, err := d.Route(ctx, "orders")
			want := discovery.Route{
				Queues:  []discovery.QueueData{{BrokerName: "b", ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6}},
				Brokers: []discovery.BrokerData{{Cluster: "c", BrokerName: "b", Addresses: map[int64]string{0: master.Address, 1: slave.Address}}},
			}
			if err != nil || !reflect.DeepEqual(route, want) {
				t.Errorf("Route = %+v, %v; want %+v", route, err, want)
			}
			if _, err := d.Route(ctx, "nope"); !errors.Is(err, plugin.ErrNotFound) || !strings.Contains(err.Error(), `route of topic "nope"`) {
				t.Errorf("Route of an unknown topic: %v", err)
			}
			ci, err := d.Brokers(ctx)
			if err != nil || !reflect.DeepEqual(ci.Clusters, map[string][]string{"c": {"b"}}) || len(ci.Brokers["b"].Addresses) != 2 {
				t.Errorf("Brokers = %+v, %v", ci, err)
			}
			if err := d.Unregister(ctx, slave); err != nil {
				t.Errorf("Unregister: %v", err)
			}
			if ci, _ := d.Brokers(ctx); len(ci.Brokers["b"].Addresses) != 1 {
				t.Errorf("after Unregister: %+v", ci)
			}
			if _, err := d.Register(ctx, discovery.Registration{}); !errors.Is(err, plugin.ErrInvalidArgument) {
				t.Errorf("Register without a name: %v", err)
			}
		})
	}
}

func TestWatch(t *testing.T) {
	for _, f := range forms {
		t.Run(f.name, func(t *testing.T) {
			d := f.new(t, newMemory())
			ctx, cancel := context.WithCancel(t.Context())
			events := make(chan discovery.Event, 16)
			var watchErr error
			var wg sync.WaitGroup
			wg.Go(func() {
				watchErr = d.Watch(ctx, "ord", func(e discovery.Event) error {
					select {
					case events <- e:
						return nil
					case <-ctx.Done():
						return ctx.Err()
					}
				})
			})
			defer func() { cancel(); wg.Wait() }() // on failure too
			if e := <-events; e.Type != discovery.EventReset {
				t.Fatalf("first event %+v, want a reset", e)
			}
			topics := []discovery.TopicConfig{{Name: "other"}, {Name: "orders"}}
			if _, err := d.Register(t.Context(), discovery.Registration{Broker: master, Topics: topics}); err != nil {
				t.Fatal(err)
			}
			// "other" does not match the prefix.
			for _, want := range []discovery.Event{
				{Type: discovery.EventBrokerRegistered, Broker: master},
				{Type: discovery.EventTopic, Topic: "orders"},
			} {
				if e := <-events; e != want {
					t.Errorf("event %+v, want %+v", e, want)
				}
			}
			cancel()
			wg.Wait()
			if !errors.Is(watchErr, context.Canceled) {
				t.Errorf("Watch after cancel: %v, want context.Canceled", watchErr)
			}
		})
	}
}

func TestWatchSendError(t *testing.T) {
	errStop := errors.New("stop")
	for _, f := range forms {
		t.Run(f.name, func(t *testing.T) {
			d := f.new(t, newMemory())
			err := d.Watch(t.Context(), "", func(discovery.Event) error { return errStop })
			if !errors.Is(err, errStop) {
				t.Errorf("Watch = %v, want send's error", err)
			}
		})
	}
}

// noWatch cannot watch.
type noWatch struct{ *memory }

func (noWatch) Watch(context.Context, string, func(discovery.Event) error) error {
	return fmt.Errorf("%w: memory backend without watches", plugin.ErrUnsupported)
}

func TestWatchUnsupported(t *testing.T) {
	d := forms[1].new(t, noWatch{newMemory()})
	err := d.Watch(t.Context(), "", func(discovery.Event) error { return nil })
	if !errors.Is(err, plugin.ErrUnsupported) || !strings.Contains(err.Error(), "without watches") {
		t.Errorf("Watch = %v, want ErrUnsupported", err)
	}
}
