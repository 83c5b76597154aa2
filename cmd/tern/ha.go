package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/discovery/etcd/election"
)

// errFenced is what a broker that lost its election while it was the master exits with.
var errFenced = errors.New("deposed master: restart the broker to rejoin its group as a slave")

// openElection sets cfg.Election for --ha etcd: the group's replicas elect their master through
// the etcd of --etcd-endpoints, under --etcd-prefix. It returns what closes the etcd client.
func (f *serverFlags) openElection(ctx context.Context, cfg *broker.Config, log *slog.Logger) (func(context.Context) error, error) {
	none := func(context.Context) error { return nil }
	switch f.ha {
	case "static", "":
		return none, nil
	case "etcd":
	default:
		return none, fmt.Errorf("--ha %q: want static or etcd", f.ha)
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   strings.FieldsFunc(f.etcdEndpoints, func(r rune) bool { return r == ';' || r == ',' }),
		DialTimeout: 5 * time.Second,
		Context:     ctx,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return none, fmt.Errorf("--ha etcd: %w", err)
	}
	cfg.Election = &electionAdapter{
		cfg: election.Config{
			Client: cli, Prefix: f.etcdPrefix, Group: cfg.BrokerName, BrokerID: cfg.BrokerID, TTL: f.haTTL,
			Logger: log.With("component", "election", "group", cfg.BrokerName),
		},
		events: make(chan broker.ElectionEvent, 16),
	}
	return func(context.Context) error { return cli.Close() }, nil
}

// electionAdapter runs the etcd election for the broker and turns its events into the
// broker's.
type electionAdapter struct {
	cfg    election.Config
	el     atomic.Pointer[election.Elector] // set by Run
	events chan broker.ElectionEvent
}

// Run starts the election once the broker knows its addresses.
func (a *electionAdapter) Run(ctx context.Context, address, haAddress string) error {
	cfg := a.cfg
	cfg.Address, cfg.HAAddress = address, haAddress
	el, err := election.New(cfg)
	if err != nil {
		return err
	}
	a.el.Store(el)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-el.Changes():
				if !ok {
					return // Run ended
				}
				out := broker.ElectionEvent{Address: ev.Leader.Address, HAAddress: ev.Leader.HAAddress, Epoch: ev.Leader.Epoch}
				switch ev.Kind {
				case election.EventElected:
					out.Kind = broker.Elected
				case election.EventLeader:
					out.Kind = broker.LeaderIs
				case election.EventDeposed:
					out.Kind = broker.Deposed
				case election.EventNoLeader:
					out.Kind = broker.NoLeader
				default:
					continue
				}
				select {
				case a.events <- out:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	err = el.Run(ctx)
	<-done
	return err
}

// Report passes the replica's state on (before Run it is dropped: the broker reports again).
func (a *electionAdapter) Report(maxOffset, epoch int64) {
	if el := a.el.Load(); el != nil {
		el.Report(maxOffset, epoch)
	}
}

func (a *electionAdapter) Events() <-chan broker.ElectionEvent { return a.events }
