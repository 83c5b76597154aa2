package discovery

import (
	"context"
	"errors"
	"io"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/ternmq/tern/plugins/proto/pluginv1"
	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/internal/shim"
)

// Plugin is the go-plugin glue of the discovery kind. A plugin binary serves it with Impl set
// (see Serve); the host puts &Plugin{} in its plugin set under string(plugin.KindDiscovery),
// and Dispense then returns a Discovery.
type Plugin struct {
	goplugin.NetRPCUnsupportedPlugin
	// Impl is the implementation served; only the serving side sets it.
	Impl Discovery
}

var _ plugin.GRPCPlugin = (*Plugin)(nil)

// GRPCServer registers the server shim around Impl.
func (p *Plugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	pluginv1.RegisterDiscoveryServer(s, NewGRPCServer(p.Impl))
	return nil
}

// GRPCClient returns the client shim, a Discovery.
func (p *Plugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return NewGRPCClient(c), nil
}

// Serve runs impl as a discovery plugin; call it from the plugin binary's main.
func Serve(impl Discovery) {
	plugin.Serve(plugin.KindDiscovery, &Plugin{Impl: impl})
}

// NewGRPCServer returns the server shim: it calls impl and turns its errors into gRPC status
// codes (plugin.ToStatus).
func NewGRPCServer(impl Discovery) pluginv1.DiscoveryServer {
	return &server{impl: impl}
}

// NewGRPCClient returns the client shim: a Discovery whose calls go over conn and whose
// errors are the plugin's (plugin.FromStatus).
func NewGRPCClient(conn grpc.ClientConnInterface) Discovery {
	return &client{rpc: pluginv1.NewDiscoveryClient(conn)}
}

type server struct {
	pluginv1.UnimplementedDiscoveryServer
	impl Discovery
}

func (s *server) Init(ctx context.Context, req *pluginv1.InitRequest) (*pluginv1.DiscoveryInfo, error) {
	return shim.ServeInit(ctx, req, s.impl.Init, infoToProto)
}

func (s *server) Register(ctx context.Context, req *pluginv1.Registration) (*pluginv1.RegisterResult, error) {
	res, err := s.impl.Register(ctx, registrationFromProto(req))
	if err != nil {
		return nil, plugin.ToStatus(err)
	}
	return &pluginv1.RegisterResult{MasterAddress: res.MasterAddress, HaAddress: res.HAAddress}, nil
}

func (s *server) Unregister(ctx context.Context, req *pluginv1.BrokerKey) (*emptypb.Empty, error) {
	if err := s.impl.Unregister(ctx, brokerKeyFromProto(req)); err != nil {
		return nil, plugin.ToStatus(err)
	}
	return &emptypb.Empty{}, nil
}

func (s *server) Route(ctx context.Context, req *pluginv1.RouteRequest) (*pluginv1.TopicRoute, error) {
	r, err := s.impl.Route(ctx, req.GetTopic())
	if err != nil {
		return nil, plugin.ToStatus(err)
	}
	return routeToProto(r), nil
}

func (s *server) Brokers(ctx context.Context, _ *emptypb.Empty) (*pluginv1.ClusterInfo, error) {
	ci, err := s.impl.Brokers(ctx)
	if err != nil {
		return nil, plugin.ToStatus(err)
	}
	return clusterInfoToProto(ci), nil
}

func (s *server) Watch(req *pluginv1.WatchRequest, stream grpc.ServerStreamingServer[pluginv1.Event]) error {
	err := s.impl.Watch(stream.Context(), req.GetTopicPrefix(), func(e Event) error {
		p, err := eventToProto(e)
		if err != nil {
			return err
		}
		return stream.Send(p)
	})
	return plugin.ToStatus(err)
}

type client struct {
	rpc pluginv1.DiscoveryClient
}

var _ Discovery = (*client)(nil)

func (c *client) Init(ctx context.Context, config map[string]any) (Info, error) {
	return shim.CallInit(ctx, config, c.rpc.Init, infoFromProto)
}

func (c *client) Register(ctx context.Context, reg Registration) (RegisterResult, error) {
	res, err := c.rpc.Register(ctx, registrationToProto(reg))
	if err != nil {
		return RegisterResult{}, plugin.FromStatus(err)
	}
	return RegisterResult{MasterAddress: res.GetMasterAddress(), HAAddress: res.GetHaAddress()}, nil
}

func (c *client) Unregister(ctx context.Context, broker BrokerKey) error {
	_, err := c.rpc.Unregister(ctx, brokerKeyToProto(broker))
	return plugin.FromStatus(err)
}

func (c *client) Route(ctx context.Context, topic string) (Route, error) {
	r, err := c.rpc.Route(ctx, &pluginv1.RouteRequest{Topic: topic})
	if err != nil {
		return Route{}, plugin.FromStatus(err)
	}
	return routeFromProto(r), nil
}

func (c *client) Brokers(ctx context.Context) (ClusterInfo, error) {
	ci, err := c.rpc.Brokers(ctx, &emptypb.Empty{})
	if err != nil {
		return ClusterInfo{}, plugin.FromStatus(err)
	}
	return clusterInfoFromProto(ci), nil
}

// Watch reads the plugin's event stream. It returns nil if the plugin ends the stream
// without an error, so the caller watches again.
func (c *client) Watch(ctx context.Context, topicPrefix string, send func(Event) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the stream when send fails
	stream, err := c.rpc.Watch(ctx, &pluginv1.WatchRequest{TopicPrefix: topicPrefix})
	if err != nil {
		return plugin.FromStatus(err)
	}
	for {
		p, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return plugin.FromStatus(err)
		}
		e, err := eventFromProto(p)
		if err != nil {
			return err
		}
		if err := send(e); err != nil {
			return err
		}
	}
}
