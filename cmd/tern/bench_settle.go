package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

// settleTimeout bounds how long a run waits for the brokers to dispatch what they stored (a
// variable for the tests).
var settleTimeout = 2 * time.Minute

// settlePoll is how often a broker still dispatching is asked again.
const settlePoll = 50 * time.Millisecond

// settle waits until every master of the cluster has dispatched everything in its CommitLog
// (its runtime info's dispatchBehindBytes is 0), so that a timed run does not share the broker
// with the work left by what ran before it: a warm-up's first messages to 10,000 queues leave
// the broker creating their ConsumeQueue files for seconds, and a stored backlog its queue
// entries. A broker whose runtime info has no such figure is not waited for. When one is still
// behind at settleTimeout, settle says which and stops waiting.
func settle(ctx context.Context, f benchFlags) (lagging string, err error) {
	a := benchAdmin(f)
	defer a.client.Close()
	addrs, err := a.masters(ctx, "")
	if err != nil {
		return "", err
	}
	tick := time.NewTicker(settlePoll)
	defer tick.Stop()
	late := time.NewTimer(settleTimeout)
	defer late.Stop()
	for {
		lagging = ""
		for _, addr := range addrs {
			behind, err := dispatchBehind(ctx, a, addr)
			if err != nil {
				return "", err
			}
			if behind > 0 {
				lagging = fmt.Sprintf("%s is still %d bytes behind after %v", addr, behind, settleTimeout)
				break
			}
		}
		if lagging == "" {
			return "", nil
		}
		select {
		case <-tick.C:
		case <-late.C:
			return lagging, nil
		case <-ctx.Done():
			return "", context.Cause(ctx)
		}
	}
}

// dispatchBehind returns the broker's dispatchBehindBytes, or 0 when it reports none.
func dispatchBehind(ctx context.Context, a *admin, addr string) (int64, error) {
	info, err := runtimeInfo(ctx, a, addr)
	if err != nil {
		return 0, err
	}
	v, ok := info["dispatchBehindBytes"]
	if !ok {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("runtime info of %s: dispatchBehindBytes %q: %w", addr, v, err)
	}
	return n, nil
}

// runtimeInfo returns the broker's GET_BROKER_RUNTIME_INFO table.
func runtimeInfo(ctx context.Context, a *admin, addr string) (map[string]string, error) {
	resp, err := a.call(ctx, addr, remoting.NewRequest(remoting.GetBrokerRuntimeInfo, nil, nil))
	if err != nil {
		return nil, fmt.Errorf("runtime info: %w", err)
	}
	var t protocol.KVTable
	if err := json.Unmarshal(resp.Body, &t); err != nil {
		return nil, fmt.Errorf("runtime info of %s: %w", addr, err)
	}
	return t.Table, nil
}
