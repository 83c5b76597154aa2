package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ternmq/tern/core/broker"
	"github.com/ternmq/tern/core/remoting"
)

// replicaRow is one broker process in `tern admin replicas`: its broker.HAStatus, or why it
// could not be asked.
type replicaRow struct {
	Address string           `json:"address"`
	Status  *broker.HAStatus `json:"status,omitempty"`
	Error   string           `json:"error,omitempty"`
}

// replicasCmd shows every broker group's replicas: roles, epochs and replication lag.
func (a *admin) replicasCmd() *cobra.Command {
	var extra []string
	cmd := &cobra.Command{
		Use:   "replicas",
		Short: "Show each broker group's replicas: role, epoch, CommitLog end and replication lag",
		Long: "Ask every broker the NameServer knows (and each --broker) for its replication state\n" +
			"(HA_STATUS): its role (ASYNC_MASTER, SYNC_MASTER, SLAVE, or FENCED for a deposed master),\n" +
			"its epoch, its CommitLog end, and the replication lag: a slave's bytes behind its\n" +
			"master, a master's slaves in sync. A dead master is no longer registered: name it\n" +
			"with --broker to see that it does not answer.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			addrs := slices.Clone(extra)
			if ci, err := a.clusterInfo(ctx); err == nil {
				for _, bd := range ci.BrokerAddrTable {
					for _, addr := range bd.BrokerAddrs {
						addrs = append(addrs, addr)
					}
				}
			} else if len(extra) == 0 {
				return err
			}
			slices.Sort(addrs)
			addrs = slices.Compact(addrs)
			rows := a.replicaRows(ctx, addrs)
			return a.print(rows, func(w *tabwriter.Writer) { printReplicas(w, rows) })
		},
	}
	cmd.Flags().StringSliceVarP(&extra, "broker", "b", nil, "also ask these broker addresses")
	return cmd
}

// replicaRows asks each address for its HA status, sorted by group and broker id.
func (a *admin) replicaRows(ctx context.Context, addrs []string) []replicaRow {
	rows := make([]replicaRow, len(addrs))
	for i, addr := range addrs {
		rows[i].Address = addr
		resp, err := a.call(ctx, addr, remoting.NewRequest(remoting.HAStatus, nil, nil))
		if err != nil {
			rows[i].Error = err.Error()
			continue
		}
		var st broker.HAStatus
		if err := json.Unmarshal(resp.Body, &st); err != nil {
			rows[i].Error = fmt.Sprintf("HA status: %v", err)
			continue
		}
		rows[i].Status = &st
	}
	slices.SortFunc(rows, func(x, y replicaRow) int {
		if x.Status == nil || y.Status == nil {
			return cmp.Or(cmp.Compare(boolInt(x.Status == nil), boolInt(y.Status == nil)), cmp.Compare(x.Address, y.Address))
		}
		return cmp.Or(cmp.Compare(x.Status.BrokerName, y.Status.BrokerName), cmp.Compare(x.Status.BrokerID, y.Status.BrokerID))
	})
	return rows
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func printReplicas(w *tabwriter.Writer, rows []replicaRow) {
	fmt.Fprintln(w, "GROUP\tID\tADDRESS\tROLE\tEPOCH\tMAX OFFSET\tLAG\tREPLICATION")
	for _, r := range rows {
		st := r.Status
		if st == nil {
			fmt.Fprintf(w, "?\t?\t%s\tunreachable\t\t\t\t%s\n", r.Address, r.Error)
			continue
		}
		lag, repl := "-", ""
		switch {
		case st.Master != nil:
			repl = fmt.Sprintf("%d/%d slaves in sync, confirmed to %d", st.InSyncSlaves(), len(st.Master.Slaves), st.Master.ConfirmOffset)
		case st.Slave != nil:
			lag = strconv.FormatInt(max(st.Slave.MasterMaxOffset-st.MaxOffset, 0), 10)
			if st.Slave.Connected {
				repl = "replicating from " + st.Slave.MasterAddr
			} else {
				repl = "no master connection"
				if st.Slave.MasterAddr != "" {
					repl += " (last " + st.Slave.MasterAddr + ")"
				}
			}
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%d\t%d\t%s\t%s\n", st.BrokerName, st.BrokerID, st.Address, st.Role, st.Epoch, st.MaxOffset, lag, repl)
	}
}
