package main

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/core/broker/brokertest"
)

// TestHTTPAddrFlag: --http-addr defaults to 127.0.0.1:8080 on broker and dev, "" and "off"
// turn the port off, and a started port says "starting" on /readyz until the broker exists,
// then follows it.
func TestHTTPAddrFlag(t *testing.T) {
	for _, use := range []string{"broker", "dev"} {
		var f serverFlags
		cmd := &cobra.Command{Use: use}
		f.register(cmd, true, use == "dev")
		if err := cmd.ParseFlags(nil); err != nil {
			t.Fatal(err)
		}
		if f.httpAddr != "127.0.0.1:8080" {
			t.Errorf("%s: --http-addr default %q", use, f.httpAddr)
		}
	}
	for _, addr := range []string{"", "off"} {
		f := serverFlags{httpAddr: addr}
		o, err := f.startHTTP(brokertest.Logger())
		if err != nil || o != nil {
			t.Fatalf("--http-addr %q: %v %v", addr, o, err)
		}
		if o.pluginCalls() != nil || o.addr() != "off" || o.Close(context.Background()) != nil {
			t.Fatalf("--http-addr %q: the nil port does something", addr)
		}
	}

	f := serverFlags{httpAddr: "127.0.0.1:0"}
	o, err := f.startHTTP(brokertest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close(context.Background())
	readyz := func() (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + o.addr() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := readyz(); code != http.StatusServiceUnavailable || !strings.Contains(body, "starting") {
		t.Fatalf("/readyz before the broker: %d %q", code, body)
	}
	c := brokertest.Start(t, func(cfg *broker.Config) { o.configure(cfg) })
	if err := o.observe(c.Broker, nil); err != nil {
		t.Fatal(err)
	}
	if code, body := readyz(); code != http.StatusOK {
		t.Fatalf("/readyz with a started broker: %d %q", code, body)
	}

	// A deposed master's replacement (serve's rejoin): /readyz says "starting" while there is
	// no broker, then follows the new one, and so do the broker gauges, registered once: the
	// store size is the replacement's, which holds a message where the first broker has none.
	o.follow(nil)
	if code, body := readyz(); code != http.StatusServiceUnavailable || !strings.Contains(body, "starting") {
		t.Fatalf("/readyz between two brokers: %d %q", code, body)
	}
	c2 := brokertest.Start(t, func(cfg *broker.Config) { o.configure(cfg) })
	o.follow(c2.Broker)
	if code, body := readyz(); code != http.StatusOK {
		t.Fatalf("/readyz with the replacement: %d %q", code, body)
	}
	ns := "--namesrv=" + c2.NamesrvAddr
	run(t, "admin", ns, "topic", "create", "GaugeTopic", "-q", "1")
	run(t, "admin", ns, "send", "GaugeTopic", "hello")
	want := c2.Broker.Gauges().StoreBytes
	if want == 0 || c.Broker.Gauges().StoreBytes != 0 {
		t.Fatalf("store sizes: first broker %d, replacement %d; want 0 and more", c.Broker.Gauges().StoreBytes, want)
	}
	resp, err := http.Get("http://" + o.addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var series []string
	for line := range strings.Lines(string(b)) {
		if strings.HasPrefix(line, "tern_store_size") {
			series = append(series, strings.TrimSpace(line))
		}
	}
	if len(series) != 1 || !strings.HasSuffix(series[0], " "+strconv.FormatInt(want, 10)) {
		t.Errorf("the store size gauge after the replacement: %q, want one series of %d", series, want)
	}
}
