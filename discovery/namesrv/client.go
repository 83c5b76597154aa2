package namesrv

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/discovery"
)

// DefaultCallTimeout bounds each request a Client sends to one NameServer.
const DefaultCallTimeout = 3 * time.Second

// ClientOptions configures a Client.
type ClientOptions struct {
	// Addrs lists the NameServers ("ip:port"). Init's "namesrvAddr" ("a;b") replaces it.
	Addrs []string
	// CallTimeout bounds each request to one NameServer, within the caller's ctx
	// (DefaultCallTimeout).
	CallTimeout time.Duration
	// Logger receives a warning per NameServer a registration fails at; nil discards.
	Logger *slog.Logger
	// TLS, when set, makes the connections to the NameServers TLS.
	TLS *tls.Config
}

// Client is discovery.Discovery over the NameServer protocol: what a broker and a client do
// with a list of NameServers. Register and Unregister go to every NameServer at once (a broker
// registers everywhere, as RocketMQ's do); Route, Brokers, Topics and TopicsByCluster ask the
// NameServers in order and return the first answer. Watch is unsupported. Registration.TTL
// travels as heartbeatTimeoutMillis, which Tern's NameServer (and RocketMQ 5's) honours.
//
// Methods are safe for concurrent use. Close closes the connections.
type Client struct {
	log     *slog.Logger
	timeout time.Duration
	rc      *remoting.Client

	mu    sync.RWMutex // guards addrs
	addrs []string
}

var _ discovery.Discovery = (*Client)(nil)

// NewClient returns a client of the NameServers in opts.Addrs.
func NewClient(opts ClientOptions) *Client {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = DefaultCallTimeout
	}
	return &Client{
		log: opts.Logger, timeout: opts.CallTimeout, addrs: opts.Addrs,
		rc: remoting.NewClient(remoting.ClientOptions{Logger: opts.Logger, TLS: opts.TLS}),
	}
}

// SplitAddrs splits a ';'-separated NameServer list (RocketMQ's namesrvAddr), dropping blanks.
func SplitAddrs(s string) []string {
	var out []string
	for _, a := range strings.Split(s, ";") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// Init takes "namesrvAddr" (a ';'-separated string) when the config has it; a client without
// any NameServer is refused, and so are other keys.
func (c *Client) Init(_ context.Context, config map[string]any) (discovery.Info, error) {
	for k := range config {
		if k != "namesrvAddr" {
			return discovery.Info{}, fmt.Errorf("%w: namesrv: unknown config key %q", plugin.ErrInvalidArgument, k)
		}
	}
	if v, ok := config["namesrvAddr"]; ok {
		s, ok := v.(string)
		if !ok || len(SplitAddrs(s)) == 0 {
			return discovery.Info{}, fmt.Errorf("%w: namesrv: namesrvAddr %v is not a ';'-separated address list", plugin.ErrInvalidArgument, v)
		}
		c.mu.Lock()
		c.addrs = SplitAddrs(s)
		c.mu.Unlock()
	}
	if len(c.Addrs()) == 0 {
		return discovery.Info{}, fmt.Errorf("%w: namesrv: namesrvAddr is required", plugin.ErrInvalidArgument)
	}
	return discovery.Info{Name: "namesrv", Version: "1"}, nil
}

// Addrs returns the NameServers asked.
func (c *Client) Addrs() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.addrs
}

// Close closes the connections to the NameServers.
func (c *Client) Close() error { return c.rc.Close() }

// invoke sends req to addr within the call timeout and returns the response of any code.
func (c *Client) invoke(ctx context.Context, addr string, req *remoting.Command) (*remoting.Command, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.rc.Invoke(ctx, addr, req)
	if err != nil {
		return nil, fmt.Errorf("namesrv %s: %w", addr, err)
	}
	return resp, nil
}

// each sends a request built by mk to every NameServer at once. It returns the successful
// responses by index, and an error wrapping plugin.ErrUnavailable when none succeeded.
func (c *Client) each(ctx context.Context, what string, mk func() *remoting.Command) ([]*remoting.Command, error) {
	return c.eachCall(what, func(addr string) (*remoting.Command, error) { return c.ask(ctx, addr, mk()) })
}

// eachCall is each with call asking one NameServer, at addr.
func (c *Client) eachCall(what string, call func(addr string) (*remoting.Command, error)) ([]*remoting.Command, error) {
	addrs := c.Addrs()
	if len(addrs) == 0 {
		return nil, fmt.Errorf("%w: namesrv: no NameServer address", plugin.ErrUnavailable)
	}
	resps := make([]*remoting.Command, len(addrs))
	errs := make([]error, len(addrs))
	var wg sync.WaitGroup
	for i, addr := range addrs {
		wg.Go(func() { resps[i], errs[i] = call(addr) })
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		if err != nil {
			resps[i] = nil
			c.log.Warn(what+" at nameserver failed", "namesrv", addrs[i], "err", err)
			continue
		}
		ok++
	}
	if ok == 0 {
		return nil, fmt.Errorf("%w: namesrv: %s: %w", plugin.ErrUnavailable, what, errors.Join(errs...))
	}
	return resps, nil
}

// ask sends req to the NameServer at addr; a response other than SUCCESS is an error.
func (c *Client) ask(ctx context.Context, addr string, req *remoting.Command) (*remoting.Command, error) {
	resp, err := c.invoke(ctx, addr, req)
	if err == nil {
		if err = remoting.ResponseErr(resp); err != nil {
			err = fmt.Errorf("namesrv %s: %w", addr, err)
		}
	}
	return resp, err
}

// Register sends REGISTER_BROKER to every NameServer. It fails only when no NameServer took
// it (each failure is logged); the result is a slave's master as any NameServer knows it.
func (c *Client) Register(ctx context.Context, reg discovery.Registration) (discovery.RegisterResult, error) {
	mk, err := registerMaker(reg, false)
	if err != nil {
		return discovery.RegisterResult{}, err
	}
	resps, err := c.each(ctx, "register", mk)
	if err != nil {
		return discovery.RegisterResult{}, err
	}
	return registerResult(resps), nil
}

// RegisterChanged registers a change of some topics: reg lists only them. Each NameServer
// merges them into the broker's route (ChangedField), so a topic's creation costs the
// NameServers one topic's decoding, not the whole table's, as with RocketMQ's brokers
// (registerIncrementBrokerData). A NameServer that refuses or fails it is sent whole(), the
// whole table (built once), instead. It fails only when no NameServer took either.
func (c *Client) RegisterChanged(ctx context.Context, reg discovery.Registration, whole func() discovery.Registration) (discovery.RegisterResult, error) {
	mk, err := registerMaker(reg, true)
	if err != nil {
		return discovery.RegisterResult{}, err
	}
	wholeMaker := sync.OnceValues(func() (func() *remoting.Command, error) { return registerMaker(whole(), false) })
	resps, err := c.eachCall("register", func(addr string) (*remoting.Command, error) {
		resp, err := c.ask(ctx, addr, mk())
		if err == nil {
			return resp, nil
		}
		c.log.Debug("register changed topics at nameserver failed; registering the whole table", "namesrv", addr, "err", err)
		wmk, err := wholeMaker()
		if err != nil {
			return nil, err
		}
		return c.ask(ctx, addr, wmk())
	})
	if err != nil {
		return discovery.RegisterResult{}, err
	}
	return registerResult(resps), nil
}

// registerMaker returns a maker of REGISTER_BROKER requests for reg; changed marks a
// registration of changed topics (ChangedField).
func registerMaker(reg discovery.Registration, changed bool) (func() *remoting.Command, error) {
	body := protocol.RegisterBrokerBody{
		FilterServerList: []string{},
		TopicConfigSerializeWrapper: protocol.TopicConfigSerializeWrapper{
			TopicConfigTable: tableFromTopics(reg.Topics),
			DataVersion:      protocol.DataVersion{Counter: reg.DataVersion.Counter, Timestamp: reg.DataVersion.Timestamp},
		},
	}
	b, err := body.Encode(false)
	if err != nil {
		return nil, fmt.Errorf("namesrv: encode registration: %w", err)
	}
	h := protocol.RegisterBrokerHeader{
		BrokerName: reg.Broker.BrokerName, BrokerAddr: reg.Broker.Address, ClusterName: reg.Broker.Cluster,
		HAServerAddr: reg.HAAddress, BrokerID: reg.Broker.BrokerID, BodyCRC32: protocol.BodyCRC32(b),
	}
	return func() *remoting.Command {
		fields := h.Encode()
		if ms := reg.TTL.Milliseconds(); ms > 0 {
			fields[HeartbeatTimeoutField] = strconv.FormatInt(ms, 10)
		}
		if reg.Epoch > 0 {
			fields[EpochField] = strconv.FormatInt(reg.Epoch, 10)
		}
		if changed {
			fields[ChangedField] = "true"
		}
		return remoting.NewRequest(remoting.RegisterBroker, fields, b)
	}, nil
}

// registerResult is a slave's master as any of the NameServers' answers (nil: failed) knows it.
func registerResult(resps []*remoting.Command) discovery.RegisterResult {
	var res discovery.RegisterResult
	for _, resp := range resps {
		var rh protocol.RegisterBrokerResponseHeader
		if resp == nil || rh.Decode(resp) != nil || rh.MasterAddr == "" {
			continue
		}
		res = discovery.RegisterResult{MasterAddress: rh.MasterAddr, HAAddress: rh.HAServerAddr}
	}
	return res
}

// Unregister sends UNREGISTER_BROKER to every NameServer; it fails only when none took it.
func (c *Client) Unregister(ctx context.Context, k discovery.BrokerKey) error {
	h := protocol.UnregisterBrokerHeader{BrokerName: k.BrokerName, BrokerAddr: k.Address, ClusterName: k.Cluster, BrokerID: k.BrokerID}
	_, err := c.each(ctx, "unregister", func() *remoting.Command {
		return remoting.NewRequest(remoting.UnregisterBroker, h.Encode(), nil)
	})
	return err
}

// first asks the NameServers in order, with a request built by mk for each, and returns the first answer: a success, or an error
// the NameServer gave (TOPIC_NOT_EXIST becomes plugin.ErrNotFound). When none answers it
// returns an error wrapping plugin.ErrUnavailable.
func (c *Client) first(ctx context.Context, mk func() *remoting.Command) (*remoting.Command, error) {
	addrs := c.Addrs()
	var errs []error
	for _, addr := range addrs {
		resp, err := c.invoke(ctx, addr, mk())
		if err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		switch err := remoting.ResponseErr(resp); {
		case err == nil:
			return resp, nil
		case errors.Is(err, remoting.ErrTopicNotExist):
			return nil, fmt.Errorf("%w: namesrv %s: %w", plugin.ErrNotFound, addr, err)
		default:
			return nil, fmt.Errorf("namesrv %s: %w", addr, err)
		}
	}
	if len(errs) == 0 {
		errs = append(errs, errors.New("no NameServer address"))
	}
	return nil, fmt.Errorf("%w: namesrv: %w", plugin.ErrUnavailable, errors.Join(errs...))
}

// Route asks GET_ROUTEINFO_BY_TOPIC; an unknown topic is an error wrapping plugin.ErrNotFound.
func (c *Client) Route(ctx context.Context, topic string) (discovery.Route, error) {
	h := protocol.GetRouteInfoHeader{Topic: topic}
	resp, err := c.first(ctx, func() *remoting.Command {
		return remoting.NewRequest(remoting.GetRouteInfoByTopic, h.Encode(), nil)
	})
	if err != nil {
		return discovery.Route{}, fmt.Errorf("route %s: %w", topic, err)
	}
	var rd protocol.TopicRouteData
	if err := protocol.Unmarshal(resp.Body, &rd); err != nil {
		return discovery.Route{}, fmt.Errorf("route %s: decode: %w", topic, err)
	}
	return routeFromWire(rd), nil
}

// Brokers asks GET_BROKER_CLUSTER_INFO.
func (c *Client) Brokers(ctx context.Context) (discovery.ClusterInfo, error) {
	resp, err := c.first(ctx, func() *remoting.Command { return remoting.NewRequest(remoting.GetBrokerClusterInfo, nil, nil) })
	if err != nil {
		return discovery.ClusterInfo{}, fmt.Errorf("cluster info: %w", err)
	}
	var ci protocol.ClusterInfo
	if err := protocol.Unmarshal(resp.Body, &ci); err != nil {
		return discovery.ClusterInfo{}, fmt.Errorf("cluster info: decode: %w", err)
	}
	return clusterInfoFromWire(ci), nil
}

// Topics asks GET_ALL_TOPIC_LIST_FROM_NAMESERVER.
func (c *Client) Topics(ctx context.Context) ([]string, error) {
	return c.topicList(ctx, func() *remoting.Command {
		return remoting.NewRequest(remoting.GetAllTopicListFromNameServer, nil, nil)
	})
}

// TopicsByCluster asks GET_TOPICS_BY_CLUSTER.
func (c *Client) TopicsByCluster(ctx context.Context, cluster string) ([]string, error) {
	h := protocol.GetTopicsByClusterHeader{Cluster: cluster}
	return c.topicList(ctx, func() *remoting.Command {
		return remoting.NewRequest(remoting.GetTopicsByCluster, h.Encode(), nil)
	})
}

func (c *Client) topicList(ctx context.Context, mk func() *remoting.Command) ([]string, error) {
	resp, err := c.first(ctx, mk)
	if err != nil {
		return nil, fmt.Errorf("topic list: %w", err)
	}
	var tl protocol.TopicList
	if err := protocol.Unmarshal(resp.Body, &tl); err != nil {
		return nil, fmt.Errorf("topic list: decode: %w", err)
	}
	return tl.TopicList, nil
}

// Watch is not part of the NameServer protocol: it returns plugin.ErrUnsupported.
func (c *Client) Watch(context.Context, string, func(discovery.Event) error) error {
	return fmt.Errorf("%w: namesrv: watch", plugin.ErrUnsupported)
}
