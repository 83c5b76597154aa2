package etcd

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ternmq/tern/discovery/discoverytest"
	"github.com/ternmq/tern/discovery/etcd/etcdtest"
	"github.com/ternmq/tern/sdk/plugin/discovery"
)

// TestConformance runs the discovery conformance suite against a real etcd in the test
// process, each case under its own prefix. A broker "process" is a second Backend: killing it
// closes it without unregistering.
func TestConformance(t *testing.T) {
	ep, _, _ := etcdtest.Start(t)
	n := 0
	discoverytest.Run(t, func(t *testing.T) discoverytest.Harness {
		n++
		cfg := Config{Endpoints: []string{ep}, Prefix: fmt.Sprintf("/conformance/%d", n)}
		return discoverytest.Harness{
			D: openTest(t, cfg),
			Process: func(t *testing.T) (discovery.Discovery, func()) {
				p := openTest(t, cfg)
				return p, func() { _ = p.Close() }
			},
			SupportsWatch: true,
			MinTTL:        2 * time.Second,
		}
	})
}

// TestConformanceExpiry runs the suite on backends that register brokers on their behalf, as
// a stateless NameServer does: with Config.Expiry, a registration not refreshed within its
// TTL lapses although the backend lives on.
func TestConformanceExpiry(t *testing.T) {
	ep, _, _ := etcdtest.Start(t)
	n := 0
	discoverytest.Run(t, func(t *testing.T) discoverytest.Harness {
		n++
		cfg := Config{Endpoints: []string{ep}, Prefix: fmt.Sprintf("/conformance-expiry/%d", n), Expiry: 30 * time.Second}
		return discoverytest.Harness{D: openTest(t, cfg), SupportsWatch: true, MinTTL: 2 * time.Second}
	})
}

// openTest opens a Backend closed at the test's cleanup.
func openTest(t testing.TB, cfg Config) *Backend {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := Open(ctx, cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}
