package election

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/ternmq/tern/core/broker"
)

// ForBroker returns a broker.Election (core/broker's Config.Election) that runs this election
// for the broker's group through the etcd at endpoints. cfg's Client, Address and HAAddress are
// filled in when the broker starts the election: the etcd client is opened then and closed when
// it ends.
func ForBroker(endpoints []string, cfg Config) broker.Election {
	return &electionAdapter{endpoints: endpoints, cfg: cfg, events: make(chan broker.ElectionEvent, 16)}
}

// electionAdapter runs the etcd election for the broker and turns its events into the
// broker's.
type electionAdapter struct {
	endpoints []string
	cfg       Config
	el        atomic.Pointer[Elector] // set by Run
	events    chan broker.ElectionEvent
}

// Run starts the election once the broker knows its addresses.
func (a *electionAdapter) Run(ctx context.Context, address, haAddress string) error {
	cli, err := clientv3.New(clientv3.Config{Endpoints: a.endpoints, DialTimeout: 5 * time.Second, Context: ctx, Logger: zap.NewNop()})
	if err != nil {
		return fmt.Errorf("election: %w", err)
	}
	defer cli.Close()
	cfg := a.cfg
	cfg.Client, cfg.Address, cfg.HAAddress = cli, address, haAddress
	el, err := New(cfg)
	if err != nil {
		return fmt.Errorf("election: %w", err)
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
				case EventElected:
					out.Kind = broker.Elected
				case EventLeader:
					out.Kind = broker.LeaderIs
				case EventDeposed:
					out.Kind = broker.Deposed
				case EventNoLeader:
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
