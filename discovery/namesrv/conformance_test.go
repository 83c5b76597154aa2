package namesrv

import (
	"testing"
	"time"

	"github.com/ternmq/tern/core/config"
	"github.com/ternmq/tern/discovery/discoverytest"
	"github.com/ternmq/tern/sdk/plugin/discovery"
)

// TestConformance runs the discovery conformance suite against a Client of an in-memory
// NameServer. A broker process is a Client of its own (its own connection); killing it stops
// its registrations and leaves the connection open, so the registration lapses by the
// NameServer's expiry of its heartbeatTimeoutMillis. (discovery/cluster runs the suite against
// a NameServer backed by etcd.)
func TestConformance(t *testing.T) {
	const scan = 50 * time.Millisecond
	discoverytest.Run(t, func(t *testing.T) discoverytest.Harness {
		s := startServer(t, func(c *Config) { c.ScanNotActiveBrokerInterval = config.Millis(scan) })
		return discoverytest.Harness{
			D: newDiscoveryClient(t, s.Addr().String()),
			Process: func(t *testing.T) (discovery.Discovery, func()) {
				return newDiscoveryClient(t, s.Addr().String()), func() {}
			},
			MinTTL:     time.Millisecond,
			LapseSlack: time.Second,
		}
	})
}
