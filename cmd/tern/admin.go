package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ternmq/tern/core/acl"
	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
	"github.com/ternmq/tern/core/remoting/tlsconf"
)

// admin is the state shared by the admin subcommands.
type admin struct {
	namesrv string
	output  string
	timeout time.Duration
	client  *remoting.Client
	out     io.Writer
	tls     bool
	tlsConf tlsconf.Client
	creds   acl.Credentials // signs every request when set
}

func newAdminCmd() *cobra.Command {
	a := &admin{out: os.Stdout}
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Administer a Tern (or RocketMQ) cluster: topics, messages, consumers",
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if a.output != "table" && a.output != "json" {
				return fmt.Errorf("-o %q: want table or json", a.output)
			}
			opts := remoting.ClientOptions{}
			if a.tls || a.tlsConf != (tlsconf.Client{}) {
				var err error
				if opts.TLS, err = a.tlsConf.Config(); err != nil {
					return err
				}
			}
			a.client = remoting.NewClient(opts)
			a.out = cmd.OutOrStdout()
			return nil
		},
		PersistentPostRun: func(*cobra.Command, []string) {
			if a.client != nil {
				a.client.Close()
			}
		},
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&a.namesrv, "namesrv", "127.0.0.1:9876", "NameServer address")
	pf.StringVarP(&a.output, "output", "o", "table", "output format: table or json")
	pf.DurationVar(&a.timeout, "timeout", 5*time.Second, "timeout of each request")
	pf.StringVar(&a.creds.AccessKey, "access-key", "", "ACL AccessKey: sign every request as RocketMQ ACL 1.0 clients do (with --secret-key)")
	pf.StringVar(&a.creds.SecretKey, "secret-key", "", "ACL SecretKey")
	pf.BoolVar(&a.tls, "tls", false, "connect with TLS (implied by the other --tls-* flags); the servers need tlsMode permissive or enforcing")
	pf.StringVar(&a.tlsConf.TrustCertPath, "tls-ca", "", "CAs that server certificates are verified against, PEM (default: the system's)")
	pf.StringVar(&a.tlsConf.CertPath, "tls-cert", "", "client certificate, PEM, for servers that require one")
	pf.StringVar(&a.tlsConf.KeyPath, "tls-key", "", "client private key, PEM")
	pf.StringVar(&a.tlsConf.ServerName, "tls-server-name", "", "name the server certificates must carry (default: the address's host)")
	cmd.AddCommand(a.topicCmd(), a.sendCmd(), a.consumeCmd(), a.messageCmd(), a.consumerCmd(), a.clusterCmd(), a.timerCmd(), a.traceCmd(), a.replicasCmd())
	return cmd
}

// call sends a request and turns a non-success response into an error.
func (a *admin) call(ctx context.Context, addr string, req *remoting.Command) (*remoting.Command, error) {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	resp, err := a.client.Invoke(ctx, addr, acl.SignRequest(req, a.creds))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	if err := remoting.ResponseErr(resp); err != nil {
		return resp, fmt.Errorf("%s: %w", addr, err)
	}
	return resp, nil
}

func (a *admin) route(ctx context.Context, topic string) (*protocol.TopicRouteData, error) {
	h := protocol.GetRouteInfoHeader{Topic: topic}
	resp, err := a.call(ctx, a.namesrv, remoting.NewRequest(remoting.GetRouteInfoByTopic, h.Encode(), nil))
	if err != nil {
		return nil, err
	}
	var r protocol.TopicRouteData
	if err := json.Unmarshal(resp.Body, &r); err != nil {
		return nil, fmt.Errorf("route of %s: %w", topic, err)
	}
	return &r, nil
}

func (a *admin) clusterInfo(ctx context.Context) (*protocol.ClusterInfo, error) {
	resp, err := a.call(ctx, a.namesrv, remoting.NewRequest(remoting.GetBrokerClusterInfo, nil, nil))
	if err != nil {
		return nil, err
	}
	var ci protocol.ClusterInfo
	if err := json.Unmarshal(resp.Body, &ci); err != nil {
		return nil, fmt.Errorf("cluster info: %w", err)
	}
	return &ci, nil
}

// masters returns every master broker address of the cluster (all clusters when "").
func (a *admin) masters(ctx context.Context, cluster string) ([]string, error) {
	ci, err := a.clusterInfo(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for name, bd := range ci.BrokerAddrTable {
		if cluster != "" && !slices.Contains(ci.ClusterAddrTable[cluster], name) {
			continue
		}
		if addr := bd.BrokerAddrs[protocol.MasterID]; addr != "" {
			out = append(out, addr)
		}
	}
	slices.Sort(out)
	if len(out) == 0 {
		return nil, fmt.Errorf("no master broker registered at %s", a.namesrv)
	}
	return out, nil
}

// print writes v as JSON, or calls table to write it as a table.
func (a *admin) print(v any, table func(w *tabwriter.Writer)) error {
	if a.output == "json" {
		enc := json.NewEncoder(a.out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	w := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	table(w)
	return w.Flush()
}

func (a *admin) topicCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "topic", Short: "Create, update, delete, list topics and show routes"}
	var queues, readQ, writeQ, perm int
	var cluster, brokerAddr string
	create := func(use string) *cobra.Command {
		c := &cobra.Command{
			Use:   use + " TOPIC",
			Short: map[string]string{"create": "Create a topic on the brokers of a cluster", "update": "Update a topic's queues or permissions"}[use],
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				r, w := queues, queues
				if readQ > 0 {
					r = readQ
				}
				if writeQ > 0 {
					w = writeQ
				}
				h := protocol.CreateTopicHeader{Topic: args[0], DefaultTopic: protocol.AutoCreateTopic, ReadQueueNums: int32(r), WriteQueueNums: int32(w),
					Perm: int32(perm), TopicFilterType: protocol.SingleTag}
				addrs := []string{brokerAddr}
				if brokerAddr == "" {
					var err error
					if addrs, err = a.masters(cmd.Context(), cluster); err != nil {
						return err
					}
				}
				for _, addr := range addrs {
					if _, err := a.call(cmd.Context(), addr, remoting.NewRequest(remoting.UpdateAndCreateTopic, h.Encode(), nil)); err != nil {
						return err
					}
					fmt.Fprintf(a.out, "%s %s on %s: %d read / %d write queues, perm %d\n", use, args[0], addr, r, w, perm)
				}
				return nil
			},
		}
		c.Flags().IntVarP(&queues, "queues", "q", 4, "read and write queues")
		c.Flags().IntVar(&readQ, "read", 0, "read queues (default --queues)")
		c.Flags().IntVar(&writeQ, "write", 0, "write queues (default --queues)")
		c.Flags().IntVar(&perm, "perm", int(protocol.PermRead|protocol.PermWrite), "permission bits: 4 read, 2 write")
		c.Flags().StringVarP(&cluster, "cluster", "c", "", "cluster whose masters get the topic (default: every cluster)")
		c.Flags().StringVarP(&brokerAddr, "broker", "b", "", "one broker address instead of a cluster")
		return c
	}
	del := &cobra.Command{
		Use: "delete TOPIC", Short: "Delete a topic from the brokers and the NameServer", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			addrs, err := a.masters(cmd.Context(), cluster)
			if err != nil {
				return err
			}
			for _, addr := range addrs {
				if _, err := a.call(cmd.Context(), addr, remoting.NewRequest(remoting.DeleteTopicInBroker, map[string]string{"topic": args[0]}, nil)); err != nil {
					return err
				}
			}
			if _, err := a.call(cmd.Context(), a.namesrv, remoting.NewRequest(remoting.DeleteTopicInNamesrv, map[string]string{"topic": args[0]}, nil)); err != nil {
				return err
			}
			fmt.Fprintf(a.out, "deleted %s\n", args[0])
			return nil
		},
	}
	del.Flags().StringVarP(&cluster, "cluster", "c", "", "cluster to delete from (default: every cluster)")
	list := &cobra.Command{
		Use: "list", Short: "List the topics the NameServer knows", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			resp, err := a.call(cmd.Context(), a.namesrv, remoting.NewRequest(remoting.GetAllTopicListFromNameServer, nil, nil))
			if err != nil {
				return err
			}
			var tl protocol.TopicList
			if err := json.Unmarshal(resp.Body, &tl); err != nil {
				return err
			}
			slices.Sort(tl.TopicList)
			return a.print(tl.TopicList, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "TOPIC")
				for _, t := range tl.TopicList {
					fmt.Fprintln(w, t)
				}
			})
		},
	}
	route := &cobra.Command{
		Use: "route TOPIC", Short: "Show a topic's route: brokers and queues", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := a.route(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.print(r, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "BROKER\tCLUSTER\tADDRESSES\tREAD\tWRITE\tPERM")
				for _, q := range r.QueueDatas {
					var cl, addrs string
					for _, bd := range r.BrokerDatas {
						if bd.BrokerName == q.BrokerName {
							cl = bd.Cluster
							for _, id := range slices.Sorted(mapsKeys(bd.BrokerAddrs)) {
								addrs += fmt.Sprintf("%d=%s ", id, bd.BrokerAddrs[id])
							}
						}
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%d\n", q.BrokerName, cl, strings.TrimSpace(addrs), q.ReadQueueNums, q.WriteQueueNums, q.Perm)
				}
			})
		},
	}
	cmd.AddCommand(create("create"), create("update"), del, list, route)
	return cmd
}

func mapsKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func (a *admin) sendCmd() *cobra.Command {
	var tags, keys string
	var props []string
	var sched scheduleFlags
	cmd := &cobra.Command{
		Use: "send TOPIC BODY", Short: "Send one message", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			topic := args[0]
			r, err := a.route(cmd.Context(), topic)
			if err != nil {
				return err
			}
			type target struct {
				addr string
				qid  int32
			}
			var targets []target
			for _, q := range r.QueueDatas {
				for _, bd := range r.BrokerDatas {
					if bd.BrokerName == q.BrokerName && bd.BrokerAddrs[protocol.MasterID] != "" && protocol.IsWriteable(q.Perm) {
						for i := int32(0); i < q.WriteQueueNums; i++ {
							targets = append(targets, target{bd.BrokerAddrs[protocol.MasterID], i})
						}
					}
				}
			}
			if len(targets) == 0 {
				return fmt.Errorf("topic %s has no writable queue", topic)
			}
			tg := targets[rand.IntN(len(targets))]
			m := map[string]string{}
			for _, kv := range props {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return fmt.Errorf("--prop %q: want key=value", kv)
				}
				m[k] = v
			}
			if tags != "" {
				m[message.PropertyTags] = tags
			}
			if keys != "" {
				m[message.PropertyKeys] = keys
			}
			if err := sched.apply(m); err != nil {
				return err
			}
			gen := message.NewUniqIDGenerator(netip.MustParseAddr("127.0.0.1"), os.Getpid(), nil)
			m[message.PropertyUniqKey] = gen.Next()
			p, err := message.AppendProperties(nil, m)
			if err != nil {
				return err
			}
			h := protocol.SendMessageHeader{ProducerGroup: "TERN_ADMIN", Topic: topic, DefaultTopic: protocol.AutoCreateTopic, DefaultTopicQueueNums: 4,
				QueueID: tg.qid, BornTimestamp: time.Now().UnixMilli(), Properties: string(p)}
			resp, err := a.call(cmd.Context(), tg.addr, remoting.NewRequest(remoting.SendMessageV2, h.Encode(true), []byte(args[1])))
			if err != nil {
				return err
			}
			var rh protocol.SendMessageResponseHeader
			if err := rh.Decode(resp); err != nil {
				return err
			}
			res := map[string]any{"msgId": m[message.PropertyUniqKey], "offsetMsgId": rh.MsgID, "broker": tg.addr, "queueId": rh.QueueID, "queueOffset": rh.QueueOffset}
			return a.print(res, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "MSG ID\tOFFSET MSG ID\tBROKER\tQUEUE\tQUEUE OFFSET")
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\n", m[message.PropertyUniqKey], rh.MsgID, tg.addr, rh.QueueID, rh.QueueOffset)
			})
		},
	}
	cmd.Flags().StringVar(&tags, "tags", "", "message tag")
	cmd.Flags().StringVar(&keys, "keys", "", "message keys, separated by spaces")
	cmd.Flags().StringArrayVar(&props, "prop", nil, "user property key=value (repeatable)")
	sched.register(cmd)
	return cmd
}

// printed is one message as the admin shows it.
type printed struct {
	MsgID          string            `json:"msgId"`
	OffsetMsgID    string            `json:"offsetMsgId"`
	Topic          string            `json:"topic"`
	QueueID        int32             `json:"queueId"`
	QueueOffset    int64             `json:"queueOffset"`
	StoreTime      time.Time         `json:"storeTime"`
	ReconsumeTimes int32             `json:"reconsumeTimes"`
	Properties     map[string]string `json:"properties"`
	Body           string            `json:"body"`
}

func toPrinted(v message.View) printed {
	props := message.ParseProperties(v.Properties())
	id := props[message.PropertyUniqKey]
	off := message.OffsetMsgID(v.StoreHost(), v.PhysicalOffset())
	if id == "" {
		id = off
	}
	return printed{MsgID: id, OffsetMsgID: off, Topic: string(v.Topic()), QueueID: v.QueueID(), QueueOffset: v.QueueOffset(),
		StoreTime: time.UnixMilli(v.StoreTimestamp()), ReconsumeTimes: v.ReconsumeTimes(), Properties: props, Body: string(v.Body())}
}

// records splits a body of concatenated stored records.
func records(body []byte) ([]message.View, error) {
	var out []message.View
	for len(body) > 0 {
		v, err := message.Parse(body)
		if err != nil {
			return out, err
		}
		out = append(out, v)
		body = body[v.Size():]
	}
	return out, nil
}

func (a *admin) printMessages(ms []printed) error {
	return a.print(ms, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "MSG ID\tTOPIC\tQUEUE\tOFFSET\tSTORED\tTAGS\tKEYS\tBODY")
		for _, m := range ms {
			body := m.Body
			if len(body) > 60 {
				body = body[:57] + "..."
			}
			fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t%q\n", m.MsgID, m.Topic, m.QueueID, m.QueueOffset, m.StoreTime.Format(time.RFC3339Nano),
				m.Properties[message.PropertyTags], m.Properties[message.PropertyKeys], body)
		}
	})
}

func (a *admin) consumeCmd() *cobra.Command {
	var from string
	var count int
	var wait time.Duration
	var tags, filterSpec string
	cmd := &cobra.Command{
		Use:   "consume TOPIC",
		Short: "Print a topic's messages from the first or the last offset of each queue, waiting for new ones (no offsets are committed)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			topic := args[0]
			typ, expr := protocol.ExpressionTag, tags
			if filterSpec != "" {
				var ok bool
				if typ, expr, ok = strings.Cut(filterSpec, ":"); !ok || typ == "" {
					return fmt.Errorf("--filter %q: want TYPE:EXPRESSION, e.g. 'SQL92:amount > 100'", filterSpec)
				}
			}
			r, err := a.route(cmd.Context(), topic)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), wait)
			defer cancel()
			var (
				mu   sync.Mutex
				got  []printed
				wg   sync.WaitGroup
				errs []error
			)
			enough := func() bool {
				mu.Lock()
				defer mu.Unlock()
				return count > 0 && len(got) >= count
			}
			for _, q := range r.QueueDatas {
				addr := ""
				for _, bd := range r.BrokerDatas {
					if bd.BrokerName == q.BrokerName {
						addr = bd.BrokerAddrs[protocol.MasterID]
					}
				}
				for qid := int32(0); qid < q.ReadQueueNums && addr != ""; qid++ {
					wg.Go(func() {
						if err := a.tail(ctx, addr, topic, qid, from, typ, expr, enough, func(p printed) {
							mu.Lock()
							got = append(got, p)
							mu.Unlock()
							if enough() {
								cancel()
							}
						}); err != nil && ctx.Err() == nil {
							mu.Lock()
							errs = append(errs, err)
							mu.Unlock()
							cancel()
						}
					})
				}
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				return err
			}
			slices.SortFunc(got, func(x, y printed) int { return x.StoreTime.Compare(y.StoreTime) })
			if count > 0 && len(got) > count {
				got = got[:count]
			}
			return a.printMessages(got)
		},
	}
	cmd.Flags().StringVar(&from, "from", "first", "start at the first or the last offset of each queue")
	cmd.Flags().IntVarP(&count, "count", "n", 100, "stop after this many messages (0: no limit)")
	cmd.Flags().DurationVar(&wait, "wait", 10*time.Second, "stop after this long")
	cmd.Flags().StringVar(&tags, "tags", "*", "tag expression, e.g. 'TagA || TagB'")
	cmd.Flags().StringVar(&filterSpec, "filter", "", "filter by another expression type, TYPE:EXPRESSION, e.g. 'SQL92:amount > 100', 'CEL:int(props.amount) > 100' or a filter plugin's type")
	return cmd
}

// tail long-polls one queue until ctx ends or enough reports true, passing each message to emit.
func (a *admin) tail(ctx context.Context, addr, topic string, qid int32, from, typ, expr string, enough func() bool, emit func(printed)) error {
	off := int64(0)
	if from == "last" {
		tq := protocol.TopicQueueHeader{Topic: topic, QueueID: qid}
		resp, err := a.call(ctx, addr, remoting.NewRequest(remoting.GetMaxOffset, tq.Encode(), nil))
		if err != nil {
			return err
		}
		var oh protocol.OffsetResponseHeader
		if err := oh.Decode(resp); err != nil {
			return err
		}
		off = oh.Offset
	}
	for ctx.Err() == nil && !enough() {
		const suspend = 2 * time.Second
		h := protocol.PullMessageHeader{ConsumerGroup: "TERN_ADMIN_TAIL", Topic: topic, QueueID: qid, QueueOffset: off, MaxMsgNums: 32,
			SysFlag: 1<<1 | 1<<2, SuspendTimeoutMillis: suspend.Milliseconds(), Subscription: expr, ExpressionType: typ, CommitOffset: -1}
		pctx, pcancel := context.WithTimeout(ctx, suspend+a.timeout)
		resp, err := a.client.Invoke(pctx, addr, acl.SignRequest(remoting.NewRequest(remoting.PullMessage, h.Encode(), nil), a.creds))
		pcancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		switch remoting.Code(resp.Code) {
		case remoting.Success, remoting.PullNotFound, remoting.PullRetryImmediately, remoting.PullOffsetMoved:
		default:
			return fmt.Errorf("%s: pull %s-%d: %w", addr, topic, qid, remoting.ResponseErr(resp))
		}
		var rh protocol.PullMessageResponseHeader
		if err := rh.Decode(resp); err != nil {
			return err
		}
		if remoting.Code(resp.Code) == remoting.Success {
			vs, err := records(resp.Body)
			for _, v := range vs {
				emit(toPrinted(v))
			}
			if err != nil {
				return err
			}
		}
		off = rh.NextBeginOffset
	}
	return nil
}

func (a *admin) messageCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "message", Short: "Look messages up by id or key"}
	var topic string
	byID := &cobra.Command{
		Use: "id MSGID", Short: "Look a message up by its offset id, or by its client id with --topic", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if topic != "" {
				return a.queryByKey(cmd.Context(), topic, args[0], true)
			}
			host, off, err := message.ParseOffsetMsgID(args[0])
			if err != nil {
				return fmt.Errorf("%w (a client message id needs --topic)", err)
			}
			h := protocol.ViewMessageHeader{Offset: off}
			resp, err := a.call(cmd.Context(), host.String(), remoting.NewRequest(remoting.ViewMessageByID, h.Encode(), nil))
			if err != nil {
				return err
			}
			vs, err := records(resp.Body)
			if err != nil || len(vs) == 0 {
				return fmt.Errorf("message %s: bad record: %v", args[0], err)
			}
			return a.printMessages([]printed{toPrinted(vs[0])})
		},
	}
	byID.Flags().StringVar(&topic, "topic", "", "topic of a client (UNIQ_KEY) message id")
	byKey := &cobra.Command{
		Use: "key TOPIC KEY", Short: "Look messages up by key", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.queryByKey(cmd.Context(), args[0], args[1], false)
		},
	}
	cmd.AddCommand(byID, byKey)
	return cmd
}

func (a *admin) queryByKey(ctx context.Context, topic, key string, unique bool) error {
	r, err := a.route(ctx, topic)
	if err != nil {
		return err
	}
	var got []printed
	for _, bd := range r.BrokerDatas {
		addr := bd.BrokerAddrs[protocol.MasterID]
		h := protocol.QueryMessageHeader{Topic: topic, Key: key, MaxNum: 32, BeginTimestamp: 0, EndTimestamp: time.Now().Add(time.Hour).UnixMilli(), UniqueKeyQuery: unique}
		resp, err := a.call(ctx, addr, remoting.NewRequest(remoting.QueryMessage, h.Encode(), nil))
		if errors.Is(err, remoting.ErrQueryNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		vs, err := records(resp.Body)
		if err != nil {
			return err
		}
		for _, v := range vs {
			got = append(got, toPrinted(v))
		}
	}
	if len(got) == 0 {
		return fmt.Errorf("no message of %s with key %q", topic, key)
	}
	return a.printMessages(got)
}

func (a *admin) consumerCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "consumer", Short: "Consumer groups"}
	var topic string
	progress := &cobra.Command{
		Use: "progress GROUP", Short: "Show a consumer group's offsets and lag per queue", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			addrs, err := a.masters(cmd.Context(), "")
			if err != nil {
				return err
			}
			type row struct {
				Topic          string `json:"topic"`
				BrokerName     string `json:"brokerName"`
				QueueID        int32  `json:"queueId"`
				BrokerOffset   int64  `json:"brokerOffset"`
				ConsumerOffset int64  `json:"consumerOffset"`
				Lag            int64  `json:"lag"`
			}
			var rows []row
			var total int64
			for _, addr := range addrs {
				h := protocol.GetConsumeStatsHeader{ConsumerGroup: args[0], Topic: topic}
				resp, err := a.call(cmd.Context(), addr, remoting.NewRequest(remoting.GetConsumeStats, h.Encode(), nil))
				if err != nil {
					return err
				}
				var stats protocol.ConsumeStats
				if err := stats.Decode(resp.Body); err != nil {
					return fmt.Errorf("%s: consume stats: %w", addr, err)
				}
				for mq, o := range stats.OffsetTable {
					r := row{Topic: mq.Topic, BrokerName: mq.BrokerName, QueueID: mq.QueueID, BrokerOffset: o.BrokerOffset,
						ConsumerOffset: o.ConsumerOffset, Lag: o.BrokerOffset - o.ConsumerOffset}
					rows = append(rows, r)
					total += r.Lag
				}
			}
			slices.SortFunc(rows, func(x, y row) int {
				return protocol.MessageQueue{Topic: x.Topic, BrokerName: x.BrokerName, QueueID: x.QueueID}.Compare(
					protocol.MessageQueue{Topic: y.Topic, BrokerName: y.BrokerName, QueueID: y.QueueID})
			})
			return a.print(map[string]any{"group": args[0], "queues": rows, "lag": total}, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "TOPIC\tBROKER\tQUEUE\tBROKER OFFSET\tCONSUMER OFFSET\tLAG")
				for _, r := range rows {
					fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%d\n", r.Topic, r.BrokerName, r.QueueID, r.BrokerOffset, r.ConsumerOffset, r.Lag)
				}
				fmt.Fprintf(w, "total lag\t\t\t\t\t%d\n", total)
			})
		},
	}
	progress.Flags().StringVar(&topic, "topic", "", "only this topic")
	cmd.AddCommand(progress)
	return cmd
}

func (a *admin) clusterCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "cluster", Short: "Clusters and brokers"}
	list := &cobra.Command{
		Use: "list", Short: "List clusters, brokers and their addresses", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ci, err := a.clusterInfo(cmd.Context())
			if err != nil {
				return err
			}
			return a.print(ci, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "CLUSTER\tBROKER\tID\tADDRESS")
				for _, cl := range slices.Sorted(mapsKeys(ci.ClusterAddrTable)) {
					names := slices.Clone(ci.ClusterAddrTable[cl])
					slices.Sort(names)
					for _, name := range names {
						bd := ci.BrokerAddrTable[name]
						for _, id := range slices.Sorted(mapsKeys(bd.BrokerAddrs)) {
							fmt.Fprintf(w, "%s\t%s\t%d\t%s\n", cl, name, id, bd.BrokerAddrs[id])
						}
					}
				}
			})
		},
	}
	cmd.AddCommand(list)
	a.withClusterOverview(cmd) // admin_cluster.go
	return cmd
}
