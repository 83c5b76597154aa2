package filter

import (
	"context"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/ternmq/tern/plugins/proto/pluginv1"
	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/internal/shim"
)

// Plugin is the go-plugin glue of the filter kind. A plugin binary serves it with Impl set
// (see Serve); the host puts &Plugin{} in its plugin set under string(plugin.KindFilter), and
// Dispense then returns a Filter.
type Plugin struct {
	goplugin.NetRPCUnsupportedPlugin
	// Impl is the implementation served; only the serving side sets it.
	Impl Filter
}

var _ plugin.GRPCPlugin = (*Plugin)(nil)

// GRPCServer registers the server shim around Impl.
func (p *Plugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	pluginv1.RegisterFilterServer(s, NewGRPCServer(p.Impl))
	return nil
}

// GRPCClient returns the client shim, a Filter.
func (p *Plugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return NewGRPCClient(c), nil
}

// Serve runs impl as a filter plugin; call it from the plugin binary's main.
func Serve(impl Filter) {
	plugin.Serve(plugin.KindFilter, &Plugin{Impl: impl})
}

// NewGRPCServer returns the server shim: it calls impl and turns its errors into gRPC status
// codes (plugin.ToStatus).
func NewGRPCServer(impl Filter) pluginv1.FilterServer {
	return &server{impl: impl}
}

// NewGRPCClient returns the client shim: a Filter whose calls go over conn and whose errors
// are the plugin's (plugin.FromStatus).
func NewGRPCClient(conn grpc.ClientConnInterface) Filter {
	return &client{rpc: pluginv1.NewFilterClient(conn)}
}

type server struct {
	pluginv1.UnimplementedFilterServer
	impl Filter
}

func (s *server) Init(ctx context.Context, req *pluginv1.InitRequest) (*pluginv1.FilterInfo, error) {
	return shim.ServeInit(ctx, req, s.impl.Init, infoToProto)
}

func (s *server) Compile(ctx context.Context, sub *pluginv1.Subscription) (*emptypb.Empty, error) {
	if err := s.impl.Compile(ctx, subFromProto(sub)); err != nil {
		return nil, plugin.ToStatus(err)
	}
	return &emptypb.Empty{}, nil
}

func (s *server) Match(ctx context.Context, req *pluginv1.MatchRequest) (*pluginv1.MatchResponse, error) {
	sub := subFromProto(req.GetSubscription())
	matched, err := shim.ServeBatch(ctx, "filter match", req.GetMessages(), messageFromProto,
		func(ctx context.Context, msgs []Message) ([]bool, error) { return s.impl.Match(ctx, sub, msgs) })
	if err != nil {
		return nil, err
	}
	return &pluginv1.MatchResponse{Matched: matched}, nil
}

type client struct {
	rpc pluginv1.FilterClient
}

var _ Filter = (*client)(nil)

func (c *client) Init(ctx context.Context, config map[string]any) (Info, error) {
	return shim.CallInit(ctx, config, c.rpc.Init, infoFromProto)
}

func (c *client) Compile(ctx context.Context, sub Subscription) error {
	_, err := c.rpc.Compile(ctx, subToProto(sub))
	return plugin.FromStatus(err)
}

func (c *client) Match(ctx context.Context, sub Subscription, msgs []Message) ([]bool, error) {
	resp, err := c.rpc.Match(ctx, &pluginv1.MatchRequest{
		Subscription: subToProto(sub),
		Messages:     shim.ToProto(msgs, messageToProto),
	})
	return shim.CallBatch("filter match", len(msgs), resp.GetMatched(), err)
}
