package brokertest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

// WaitRegistered waits until the NameServer at namesrvAddr lists a broker at brokerAddr, as
// master or slave, and fails t after limit. A broker process accepts connections before its
// first registration has reached the NameServer (the kernel queues them as soon as the port is
// bound), so a test that waited only for the port and then asked the NameServer for routes, as
// `tern admin topic create` does, failed on a loaded host with "no master broker registered".
func WaitRegistered(t testing.TB, limit time.Duration, namesrvAddr, brokerAddr string) {
	t.Helper()
	cl := remoting.NewClient(remoting.ClientOptions{})
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond) // polling another process: nothing to wait on
	defer tick.Stop()
	var last error
	for {
		ok, err := registered(ctx, cl, namesrvAddr, brokerAddr)
		if ok {
			return
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			t.Fatalf("broker %s not registered at NameServer %s within %v (last error: %v)", brokerAddr, namesrvAddr, limit, last)
		case <-tick.C:
		}
	}
}

// registered tells whether the NameServer's cluster info lists brokerAddr.
func registered(ctx context.Context, cl *remoting.Client, namesrvAddr, brokerAddr string) (bool, error) {
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	resp, err := cl.Invoke(rctx, namesrvAddr, remoting.NewRequest(remoting.GetBrokerClusterInfo, nil, nil))
	if err != nil {
		return false, err
	}
	if remoting.Code(resp.Code) != remoting.Success {
		return false, fmt.Errorf("cluster info: code %d: %s", resp.Code, resp.Remark)
	}
	var ci protocol.ClusterInfo
	if err := json.Unmarshal(resp.Body, &ci); err != nil {
		return false, fmt.Errorf("cluster info: %w", err)
	}
	for _, bd := range ci.BrokerAddrTable {
		for _, addr := range bd.BrokerAddrs {
			if addr == brokerAddr {
				return true, nil
			}
		}
	}
	return false, nil
}
