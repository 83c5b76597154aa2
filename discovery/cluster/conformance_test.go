package cluster

import (
	"testing"
	"time"

	"github.com/ternmq/tern/core/config"
	"github.com/ternmq/tern/discovery/discoverytest"
	"github.com/ternmq/tern/discovery/etcd/etcdtest"
	"github.com/ternmq/tern/discovery/namesrv"
	"github.com/ternmq/tern/sdk/plugin/discovery"
)

// TestConformanceNamesrvOnEtcd runs the discovery conformance suite against a namesrv.Client
// of a stateless NameServer backed by etcd: every registration is forwarded to etcd and every
// read answered from it. A broker process is a Client of its own; killing it stops its
// registrations with its connection open, so it lapses by the NameServer's expiry of its
// heartbeatTimeoutMillis, which unregisters it from etcd. Each case has its own key prefix on
// one embedded etcd.
func TestConformanceNamesrvOnEtcd(t *testing.T) {
	endpoint, _, _ := etcdtest.Start(t)
	discoverytest.Run(t, func(t *testing.T) discoverytest.Harness {
		ec := &etcdCluster{endpoint: endpoint, prefix: "/conformance/" + t.Name(), ttl: 10 * time.Second}
		backend := ec.open(t)
		ns := startNamesrv(t, func(c *namesrv.Config) {
			c.Backend = backend
			c.ScanNotActiveBrokerInterval = config.Millis(50 * time.Millisecond)
		})
		client := func(t *testing.T) *namesrv.Client {
			c := namesrv.NewClient(namesrv.ClientOptions{Addrs: []string{ns.Addr().String()}, Logger: logger()})
			t.Cleanup(func() { c.Close() })
			return c
		}
		return discoverytest.Harness{
			D: client(t),
			Process: func(t *testing.T) (discovery.Discovery, func()) {
				return client(t), func() {}
			},
			MinTTL:     time.Millisecond,
			LapseSlack: 2 * time.Second,
		}
	})
}
