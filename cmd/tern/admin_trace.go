package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

// traceCmd is `tern admin trace`: the life of a message from the brokers' own records.
func (a *admin) traceCmd() *cobra.Command {
	var h protocol.TraceMessageHeader
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "trace MSGID | trace --key KEY --topic TOPIC",
		Short: "Show the life of a message: stored, delivered, consumed, retried, dead-lettered, transaction, delay",
		Long: "Ask every master broker of the cluster what its records say about a message: where and when it\n" +
			"was stored, which consumer groups consumed it (their committed offset passed it) and which clients\n" +
			"pulled it (as far as the broker has seen since it started), its retries, its dead letter, its\n" +
			"transaction and its delay or delivery time, and the trace id to open in the tracing backend.\n" +
			"MSGID is the message id (UNIQ_KEY) or the offset message id a send printed; --topic narrows the\n" +
			"search. --key traces every message of --topic with that key.",
		Args: func(_ *cobra.Command, args []string) error {
			switch {
			case len(args) > 1:
				return fmt.Errorf("want one MSGID, got %d arguments", len(args))
			case len(args) == 1 && h.Key != "":
				return errors.New("give a MSGID or --key, not both")
			case len(args) == 0 && h.Key == "":
				return errors.New("give a MSGID, or --key KEY --topic TOPIC")
			case h.Key != "" && h.Topic == "":
				return errors.New("--key needs --topic")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				h.MsgID = args[0]
			}
			traces, err := a.traceAll(cmd.Context(), &h)
			if err != nil {
				return err
			}
			if asJSON || a.output == "json" {
				enc := json.NewEncoder(a.out)
				enc.SetIndent("", "  ")
				return enc.Encode(traces)
			}
			w := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
			for _, tr := range traces {
				printTrace(w, tr)
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVar(&h.Key, "key", "", "trace the messages of --topic with this key")
	cmd.Flags().StringVar(&h.Topic, "topic", "", "the message's topic (required with --key)")
	cmd.Flags().Int32Var(&h.MaxNum, "max", 0, "with --key: most messages per broker (default 16)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the brokers' answers as JSON (as -o json)")
	return cmd
}

// traceAll asks every master broker and returns the answers that found something.
func (a *admin) traceAll(ctx context.Context, h *protocol.TraceMessageHeader) ([]protocol.MessageTrace, error) {
	addrs, err := a.masters(ctx, "")
	if err != nil {
		return nil, err
	}
	var out []protocol.MessageTrace
	var misses []string
	for _, addr := range addrs {
		resp, err := a.call(ctx, addr, remoting.NewRequest(remoting.TraceMessage, h.Encode(), nil))
		switch {
		case errors.Is(err, remoting.ErrQueryNotFound):
			misses = append(misses, resp.Remark)
			continue
		case errors.Is(err, remoting.ErrRequestCodeNotSupported):
			misses = append(misses, addr+" cannot trace messages (not a Tern broker?)")
			continue
		case err != nil:
			return nil, err
		}
		var tr protocol.MessageTrace
		if err := json.Unmarshal(resp.Body, &tr); err != nil {
			return nil, fmt.Errorf("%s: trace answer: %w", addr, err)
		}
		out = append(out, tr)
	}
	if len(out) == 0 {
		what := "message " + h.MsgID
		if h.Key != "" {
			what = fmt.Sprintf("messages of %s with key %s", h.Topic, h.Key)
		}
		return nil, fmt.Errorf("%s: not found on any broker (%s)", what, strings.Join(misses, "; "))
	}
	return out, nil
}

// traceTime formats a broker time (ms); 0 is unknown.
func traceTime(ms int64) string {
	if ms == 0 {
		return "?"
	}
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// printTrace writes one broker's answer as a timeline: each record in store order, with the
// consumer groups of the consumable ones under it.
func printTrace(w *tabwriter.Writer, tr protocol.MessageTrace) {
	for _, l := range tr.Messages {
		fmt.Fprintf(w, "MESSAGE %s  topic %s  broker %s (%s)\n", l.MsgID, l.Topic, tr.BrokerName, tr.BrokerAddr)
		if l.TraceID != "" {
			fmt.Fprintf(w, "trace id %s (open it in the tracing backend)\n", l.TraceID)
		}
		for _, r := range l.Records {
			fmt.Fprintf(w, "  %s\t%s\t%s\n", traceTime(r.StoreTime), traceEvent(r), traceDetail(r))
			for _, g := range r.Groups {
				fmt.Fprintf(w, "  \t\tgroup %s: %s\n", g.Group, traceGroupLine(g))
			}
		}
		if tx := l.Transaction; tx != nil {
			fmt.Fprintf(w, "  \ttransaction\t%s (producer group %s, half message offset %d, %d checks)\n", tx.State, tx.ProducerGroup, tx.HalfOffset, tx.Checks)
		}
		fmt.Fprintf(w, "  (pulls as seen by the broker since %s)\n\n", traceTime(tr.PullsSince))
	}
	for _, n := range tr.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

// traceEvent names what a record is.
func traceEvent(r protocol.TracedRecord) string {
	switch r.Role {
	case protocol.TraceRoleMessage:
		if r.TimerOut != 0 {
			return "delivered"
		}
		return "stored"
	case protocol.TraceRoleHalf:
		return "half message"
	case protocol.TraceRoleDelay:
		if r.Wait != nil {
			return fmt.Sprintf("delay level %d", r.Wait.Level)
		}
		return "delayed"
	case protocol.TraceRoleTimer:
		return "scheduled"
	case protocol.TraceRoleRetry:
		return fmt.Sprintf("retry %d", r.ReconsumeTimes)
	case protocol.TraceRoleDeadLetter:
		return "dead-lettered"
	case protocol.TraceRoleDiscarded:
		return "discarded"
	}
	return r.Role
}

// traceDetail describes a record: where it is and, for a waiting copy, when it is due.
func traceDetail(r protocol.TracedRecord) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s queue %d offset %d, CommitLog %d (%s), host %s, %d B", r.Topic, r.QueueID, r.QueueOffset, r.CommitLogOffset, r.OffsetMsgID, r.StoreHost, r.Size)
	if r.Tags != "" {
		fmt.Fprintf(&b, ", tags %s", r.Tags)
	}
	if r.Keys != "" {
		fmt.Fprintf(&b, ", keys %s", r.Keys)
	}
	if r.TimerOut != 0 {
		fmt.Fprintf(&b, ", was due %s", traceTime(r.TimerOut))
	}
	if w := r.Wait; w != nil {
		due := "when the scheduler decides"
		if w.Due != 0 {
			due = "at " + traceTime(w.Due)
		}
		switch w.State {
		case protocol.TraceFired:
			fmt.Fprintf(&b, "; for %s, due %s, fired %s", w.Destination, due, traceTime(w.FiredAt))
		case protocol.TraceCancelled:
			fmt.Fprintf(&b, "; for %s, was due %s: cancelled", w.Destination, due)
		default:
			fmt.Fprintf(&b, "; for %s: waiting, due %s", w.Destination, due)
		}
	}
	return b.String()
}

// traceGroupLine is a consumer group's progress on a record.
func traceGroupLine(g protocol.TraceGroup) string {
	var b strings.Builder
	switch {
	case g.Consumed:
		fmt.Fprintf(&b, "consumed (committed offset %d)", g.CommittedOffset)
	case g.CommittedOffset < 0:
		b.WriteString("not consumed (no committed offset)")
	default:
		fmt.Fprintf(&b, "not consumed (committed offset %d)", g.CommittedOffset)
	}
	if g.Subscription != "" {
		fmt.Fprintf(&b, ", subscribes %s %q", g.ExpressionType, g.Subscription)
	}
	if g.MessageModel == string(protocol.Broadcasting) {
		b.WriteString(", broadcasting (offsets kept by the clients)")
	}
	if len(g.Online) > 0 {
		fmt.Fprintf(&b, ", online %s", strings.Join(g.Online, " "))
	} else {
		b.WriteString(", no client online")
	}
	if g.LockedBy != "" {
		fmt.Fprintf(&b, ", queue locked by %s", g.LockedBy)
	}
	for _, p := range g.Pulls {
		how := "not reached it yet"
		switch {
		case p.Delivered:
			how = "carried it"
		case p.PulledPast:
			how = "past it"
		}
		fmt.Fprintf(&b, "; last pull by %s (%s) %s: offsets %d-%d, %s", p.ClientID, p.RemoteAddr, traceTime(p.At), p.From, p.Next-1, how)
	}
	return b.String()
}
