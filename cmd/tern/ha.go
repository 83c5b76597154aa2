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

// election returns the broker's Election for --ha etcd (nil for static): the group's replicas
// elect their master through the etcd of --etcd-endpoints, under --etcd-prefix. The etcd
// client is opened when the broker starts the election and closed when it ends.
func (f *serverFlags) election(cfg *broker.Config, log *slog.Logger) (broker.Election, error) {
	switch f.ha {
	case "static", "":
		return nil, nil
	case "etcd":
	default:
		return nil, fmt.Errorf("--ha %q: want static or etcd", f.ha)
	}
	return &electionAdapter{
		endpoints: strings.FieldsFunc(f.etcdEndpoints, func(r rune) bool { return r == ';' || r == ',' }),
		cfg: election.Config{
			Prefix: f.etcdPrefix, Group: cfg.BrokerName, BrokerID: cfg.BrokerID, TTL: f.haTTL,
			// Replicas report their CommitLog end twice a second, and a dead master's lease
			// lasts at least two thirds of the TTL after its death: by the time it expires every
			// live replica's last report is in, so a short settle is enough.
			Settle: min(250*time.Millisecond, f.haTTL/10),
			Logger: log.With("component", "election", "group", cfg.BrokerName),
		},
		events: make(chan broker.ElectionEvent, 16),
	}, nil
}

// electionAdapter runs the etcd election for the broker and turns its events into the
// broker's.
type electionAdapter struct {
	endpoints []string
	cfg       election.Config
	el        atomic.Pointer[election.Elector] // set by Run
	events    chan broker.ElectionEvent
}

// Run starts the election once the broker knows its addresses.
func (a *electionAdapter) Run(ctx context.Context, address, haAddress string) error {
	cli, err := clientv3.New(clientv3.Config{Endpoints: a.endpoints, DialTimeout: 5 * time.Second, Context: ctx, Logger: zap.NewNop()})
	if err != nil {
		return fmt.Errorf("--ha etcd: %w", err)
	}
	defer cli.Close()
	cfg := a.cfg
	cfg.Client, cfg.Address, cfg.HAAddress = cli, address, haAddress
	el, err := election.New(cfg)
	if err != nil {
		return fmt.Errorf("--ha etcd: %w", err)
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
