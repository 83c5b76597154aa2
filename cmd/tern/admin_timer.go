package main

import (
	"errors"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/remoting/tlsconf"
	"github.com/ternmq/tern/sdk/client"
)

// adminGroup is the producer group of the admin's sends.
const adminGroup = "TERN_ADMIN"

// timerCmd is `tern admin timer`: the messages waiting in the brokers' timing wheels.
func (a *admin) timerCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "timer", Short: "Scheduled messages: cancel one before it is delivered"}
	cancel := &cobra.Command{
		Use:   "cancel TOPIC MSGID",
		Short: "Cancel a scheduled message (sent with a delivery time, or held by a scheduler plugin)",
		Long: "Cancel a message that waits in a broker's timing wheel, by its topic and its message id (the\n" +
			"MSG ID `tern admin send` prints, the SDK's SendResult.MsgID). Once it succeeds the message will\n" +
			"never be delivered. Messages waiting for a DELAY level in SCHEDULE_TOPIC_XXXX cannot be cancelled.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			topic, id := args[0], args[1]
			opts := []client.ProducerOption{client.WithNameServers(a.namesrv), client.WithCallTimeout(a.timeout), client.WithSendTimeout(a.timeout),
				client.WithCredentials(a.creds.AccessKey, a.creds.SecretKey)}
			if a.tls || a.tlsConf != (tlsconf.Client{}) {
				tc, err := a.tlsConf.Config()
				if err != nil {
					return err
				}
				opts = append(opts, client.WithTLS(tc))
			}
			p, err := client.NewProducer(adminGroup, opts...)
			if err != nil {
				return err
			}
			defer p.Close(cmd.Context())
			switch err := p.CancelScheduled(cmd.Context(), topic, id); {
			case errors.Is(err, client.ErrNotScheduled):
				return fmt.Errorf("message %s is not scheduled on %s: no broker holds it in its timing wheel (wrong id or topic, already delivered, or waiting for a DELAY level)", id, topic)
			case err != nil:
				return fmt.Errorf("cancel %s on %s: %w", id, topic, err)
			}
			return a.print(map[string]any{"topic": topic, "msgId": id, "cancelled": true}, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "cancelled %s on %s: it will not be delivered\n", id, topic)
			})
		},
	}
	cmd.AddCommand(cancel)
	return cmd
}

// scheduleFlags are `tern admin send`'s --deliver-at and --delay.
type scheduleFlags struct {
	deliverAt string
	delay     time.Duration
}

func (s *scheduleFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&s.deliverAt, "deliver-at", "", "deliver at this time, RFC 3339 (2026-12-24T09:00:00+01:00): the broker's timing wheel holds it until then")
	cmd.Flags().DurationVar(&s.delay, "delay", 0, "deliver this long after the broker stores it (1m30s, 2h)")
	cmd.MarkFlagsMutuallyExclusive("deliver-at", "delay")
}

// apply sets the timer property the flags ask for (TIMER_DELIVER_MS or TIMER_DELAY_MS) in props.
func (s *scheduleFlags) apply(props map[string]string) error {
	switch {
	case s.deliverAt != "":
		at, err := time.Parse(time.RFC3339Nano, s.deliverAt)
		if err != nil {
			return fmt.Errorf("--deliver-at %q: want an RFC 3339 time like 2026-12-24T09:00:00Z", s.deliverAt)
		}
		props[message.PropertyTimerDeliverMS] = strconv.FormatInt(at.UnixMilli(), 10)
	case s.delay < 0:
		return fmt.Errorf("--delay %v: negative", s.delay)
	case s.delay > 0:
		props[message.PropertyTimerDelayMS] = strconv.FormatInt(s.delay.Milliseconds(), 10)
	}
	return nil
}
