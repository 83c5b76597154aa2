package brokertest

import (
	"context"
	"testing"
	"time"

	"github.com/ternmq/tern/discovery/namesrv"
)

// WaitRegistered waits until the NameServer at namesrvAddr lists a broker at brokerAddr, as
// master or slave, and fails t after limit. A broker process accepts connections before its
// first registration has reached the NameServer (the kernel queues them as soon as the port is
// bound), so a test that waited only for the port and then asked the NameServer for routes, as
// `tern admin topic create` does, failed on a loaded host with "no master broker registered".
func WaitRegistered(t testing.TB, limit time.Duration, namesrvAddr, brokerAddr string) {
	t.Helper()
	ns := namesrv.NewClient(namesrv.ClientOptions{Addrs: []string{namesrvAddr}})
	defer ns.Close()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond) // polling another process: nothing to wait on
	defer tick.Stop()
	var last error
	for {
		ci, err := ns.Brokers(ctx)
		if err != nil {
			last = err
		}
		for _, bd := range ci.Brokers {
			for _, addr := range bd.Addresses {
				if addr == brokerAddr {
					return
				}
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("broker %s not registered at NameServer %s within %v (last error: %v)", brokerAddr, namesrvAddr, limit, last)
		case <-tick.C:
		}
	}
}
