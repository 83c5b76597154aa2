package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/ternmq/tern/core/acl"
	"maps"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
	"github.com/ternmq/tern/discovery/etcd"
	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/discovery"
)

// clusterRow is one registered broker process in `tern admin cluster`. JSON field names are
// output format: keep them.
type clusterRow struct {
	Cluster    string `json:"cluster"`
	BrokerName string `json:"brokerName"`
	BrokerID   int64  `json:"brokerId"`
	Role       string `json:"role"` // master or slave
	Address    string `json:"address"`
	Topics     int    `json:"topics"`     // topics whose route has the broker name
	Registered bool   `json:"registered"` // alive for the registry: it lists only live brokers
	Reachable  bool   `json:"reachable"`  // answered a remoting request within the ping timeout
	PingError  string `json:"pingError,omitempty"`
}

// registry is what `admin cluster` reads from a NameServer or from etcd.
type registry struct {
	brokers map[string]discovery.BrokerData // broker name → broker set
	topics  map[string]int                  // broker name → topics with queues on it
}

// withClusterOverview makes `tern admin cluster` itself show every registered broker.
func (a *admin) withClusterOverview(cmd *cobra.Command) {
	var endpoints, prefix string
	var pingTimeout time.Duration
	var asJSON bool
	cmd.Short = "Show every broker of every cluster, its role, topics and liveness (list: addresses only)"
	cmd.Long = "Without a subcommand, show every registered broker: cluster, broker name, id, role, address,\n" +
		"the number of topics routed to its broker name, and whether it is registered (alive for\n" +
		"the registry) and reachable (it answers a remoting request within --ping-timeout).\n" +
		"The registry is the NameServer (--namesrv), or etcd with --etcd."
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if asJSON {
			a.output = "json"
		}
		ctx := cmd.Context()
		var reg registry
		var err error
		if endpoints != "" {
			reg, err = a.etcdRegistry(ctx, endpoints, prefix)
		} else {
			reg, err = a.namesrvRegistry(ctx)
		}
		if err != nil {
			return err
		}
		rows := reg.rows()
		a.ping(ctx, rows, pingTimeout)
		return a.print(rows, func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "CLUSTER\tBROKER\tID\tROLE\tADDRESS\tTOPICS\tREGISTERED\tPING")
			for _, r := range rows {
				ping := "reachable"
				if !r.Reachable {
					ping = "unreachable"
				}
				fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%d\t%s\t%s\n", r.Cluster, r.BrokerName, r.BrokerID, r.Role, r.Address, r.Topics, yesNo(r.Registered), ping)
			}
		})
	}
	f := cmd.Flags()
	f.StringVar(&endpoints, "etcd", "", "read the registry from etcd at these endpoints (';' or ',' separated) instead of the NameServer")
	f.StringVar(&prefix, "etcd-prefix", etcd.DefaultPrefix, "key prefix of the registry in etcd")
	f.DurationVar(&pingTimeout, "ping-timeout", time.Second, "how long each broker has to answer the ping")
	f.BoolVar(&asJSON, "json", false, "print JSON (as -o json)")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// namesrvRegistry reads the brokers (GET_BROKER_CLUSTER_INFO) and counts the topics of each
// broker name from the routes of every topic.
func (a *admin) namesrvRegistry(ctx context.Context) (registry, error) {
	ci, err := a.clusterInfo(ctx)
	if err != nil {
		return registry{}, err
	}
	reg := registry{brokers: make(map[string]discovery.BrokerData), topics: make(map[string]int)}
	for name, bd := range ci.BrokerAddrTable {
		reg.brokers[name] = discovery.BrokerData{Cluster: bd.Cluster, BrokerName: name, Addresses: bd.BrokerAddrs}
	}
	resp, err := a.call(ctx, a.namesrv, remoting.NewRequest(remoting.GetAllTopicListFromNameServer, nil, nil))
	if err != nil {
		return registry{}, err
	}
	var list protocol.TopicList
	if err := json.Unmarshal(resp.Body, &list); err != nil {
		return registry{}, fmt.Errorf("topic list: %w", err)
	}
	for _, topic := range list.TopicList {
		r, err := a.route(ctx, topic)
		if errors.Is(err, remoting.ErrTopicNotExist) {
			continue // deleted meanwhile
		}
		if err != nil {
			return registry{}, err
		}
		for _, q := range r.QueueDatas {
			reg.topics[q.BrokerName]++
		}
	}
	return reg, nil
}

// etcdRegistry reads the brokers and every topic's route from etcd.
func (a *admin) etcdRegistry(ctx context.Context, endpoints, prefix string) (registry, error) {
	b, err := etcd.Open(ctx, etcd.Config{Endpoints: strings.FieldsFunc(endpoints, func(r rune) bool { return r == ';' || r == ',' }), Prefix: prefix, DialTimeout: a.timeout})
	if err != nil {
		return registry{}, err
	}
	defer b.Close()
	ci, err := b.Brokers(ctx)
	if err != nil {
		return registry{}, err
	}
	topics, err := b.Topics(ctx)
	if err != nil {
		return registry{}, err
	}
	reg := registry{brokers: ci.Brokers, topics: make(map[string]int)}
	for _, topic := range topics {
		r, err := b.Route(ctx, topic)
		if errors.Is(err, plugin.ErrNotFound) {
			continue // queues without a registered broker
		}
		if err != nil {
			return registry{}, err
		}
		for _, q := range r.Queues {
			reg.topics[q.BrokerName]++
		}
	}
	return reg, nil
}

// rows lists every broker process, sorted by cluster, broker name and id.
func (reg registry) rows() []clusterRow {
	rows := []clusterRow{}
	for _, name := range slices.Sorted(maps.Keys(reg.brokers)) {
		bd := reg.brokers[name]
		for _, id := range slices.Sorted(maps.Keys(bd.Addresses)) {
			role := "slave"
			if id == protocol.MasterID {
				role = "master"
			}
			rows = append(rows, clusterRow{
				Cluster: bd.Cluster, BrokerName: name, BrokerID: id, Role: role, Address: bd.Addresses[id],
				Topics: reg.topics[name], Registered: true,
			})
		}
	}
	slices.SortStableFunc(rows, func(x, y clusterRow) int { return strings.Compare(x.Cluster, y.Cluster) })
	return rows
}

// ping asks every broker for its runtime info, all at once, and records which answered
// within timeout: any answer, even an error code, shows the broker serves.
func (a *admin) ping(ctx context.Context, rows []clusterRow, timeout time.Duration) {
	var wg sync.WaitGroup
	for i := range rows {
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			_, err := a.client.Invoke(pctx, rows[i].Address, acl.SignRequest(remoting.NewRequest(remoting.GetBrokerRuntimeInfo, nil, nil), a.creds))
			rows[i].Reachable = err == nil
			if err != nil {
				rows[i].PingError = err.Error()
			}
		})
	}
	wg.Wait()
}
