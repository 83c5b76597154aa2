package integration

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/core/broker/brokertest"
	"github.com/ternmq/tern/plugins/builtin"
	"github.com/ternmq/tern/plugins/host"
	"github.com/ternmq/tern/plugins/manifest"
	"github.com/ternmq/tern/sdk/plugin/plugintest"
)

// jsonfieldBin builds plugin-examples/jsonfield-filter once per test binary.
var jsonfieldBin = sync.OnceValues(func() (string, error) {
	return buildInto(binDir, "github.com/ternmq/tern/plugin-examples/jsonfield-filter")
})

// startHost starts a plugin host with the built-ins and the given manifest text (a YAML list of
// plugin entries; {{bin}} stands for the jsonfield binary, {{sha256}} for its sha256).
func startHost(t testing.TB, entries string) *host.Host {
	t.Helper()
	bin, err := jsonfieldBin()
	if err != nil {
		t.Fatal(err)
	}
	sum, err := plugintest.Checksum(bin)
	if err != nil {
		t.Fatal(err)
	}
	text := "plugins:\n" + strings.NewReplacer("{{bin}}", bin, "{{sha256}}", fmt.Sprintf("%x", sum)).Replace(entries)
	m, err := manifest.Parse([]byte(text), "test-manifest.yaml")
	if err != nil {
		t.Fatalf("manifest: %v\n%s", err, text)
	}
	h := host.New(m, host.Options{
		Logger:   brokertest.Logger().With("component", "plugins"),
		Builtins: builtin.Registry(),
		Backoff:  host.Backoff{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := h.Start(ctx); err != nil {
		t.Fatalf("start plugins: %v", err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h
}

// startCluster starts a NameServer and a broker whose filters are h's.
func startCluster(t testing.TB, h *host.Host) *brokertest.Cluster {
	t.Helper()
	return brokertest.Start(t, func(cfg *broker.Config) { cfg.Filters = broker.FiltersOf(h.Filter) })
}
