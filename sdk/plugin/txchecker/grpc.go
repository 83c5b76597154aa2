package txchecker

import (
	"context"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/ternmq/tern/plugins/proto/pluginv1"
	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/internal/shim"
)

// Plugin is the go-plugin glue of the txchecker kind. A plugin binary serves it with Impl set
// (see Serve); the host puts &Plugin{} in its plugin set under string(plugin.KindTxChecker),
// and Dispense then returns a TxChecker.
type Plugin struct {
	goplugin.NetRPCUnsupportedPlugin
	// Impl is the implementation served; only the serving side sets it.
	Impl TxChecker
}

var _ plugin.GRPCPlugin = (*Plugin)(nil)

// GRPCServer registers the server shim around Impl.
func (p *Plugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	pluginv1.RegisterTxCheckerServer(s, NewGRPCServer(p.Impl))
	return nil
}

// GRPCClient returns the client shim, a TxChecker.
func (p *Plugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return NewGRPCClient(c), nil
}

// Serve runs impl as a transaction checker plugin; call it from the plugin binary's main.
func Serve(impl TxChecker) {
	plugin.Serve(plugin.KindTxChecker, &Plugin{Impl: impl})
}

// NewGRPCServer returns the server shim: it calls impl and turns its errors into gRPC status
// codes (plugin.ToStatus).
func NewGRPCServer(impl TxChecker) pluginv1.TxCheckerServer {
	return &server{impl: impl}
}

// NewGRPCClient returns the client shim: a TxChecker whose calls go over conn and whose errors
// are the plugin's (plugin.FromStatus).
func NewGRPCClient(conn grpc.ClientConnInterface) TxChecker {
	return &client{rpc: pluginv1.NewTxCheckerClient(conn)}
}

type server struct {
	pluginv1.UnimplementedTxCheckerServer
	impl TxChecker
}

func (s *server) Init(ctx context.Context, req *pluginv1.InitRequest) (*pluginv1.TxCheckerInfo, error) {
	return shim.ServeInit(ctx, req, s.impl.Init, infoToProto)
}

func (s *server) Check(ctx context.Context, req *pluginv1.CheckRequest) (*pluginv1.CheckResponse, error) {
	res, err := shim.ServeBatch(ctx, "txchecker check", req.GetMessages(), messageFromProto, s.impl.Check)
	if err != nil {
		return nil, err
	}
	wire, err := resolutionsToProto(res)
	if err != nil {
		return nil, plugin.ToStatus(err)
	}
	return &pluginv1.CheckResponse{Resolutions: wire}, nil
}

type client struct {
	rpc pluginv1.TxCheckerClient
}

var _ TxChecker = (*client)(nil)

func (c *client) Init(ctx context.Context, config map[string]any) (Info, error) {
	return shim.CallInit(ctx, config, c.rpc.Init, infoFromProto)
}

func (c *client) Check(ctx context.Context, msgs []HalfMessage) ([]Resolution, error) {
	resp, err := c.rpc.Check(ctx, &pluginv1.CheckRequest{Messages: shim.ToProto(msgs, messageToProto)})
	wire, err := shim.CallBatch("txchecker check", len(msgs), resp.GetResolutions(), err)
	if err != nil {
		return nil, err
	}
	return resolutionsFromProto(wire)
}
