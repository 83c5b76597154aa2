package scheduler

import (
	"context"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/ternmq/tern/plugins/proto/pluginv1"
	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/internal/shim"
)

// Plugin is the go-plugin glue of the scheduler kind. A plugin binary serves it with Impl set
// (see Serve); the host puts &Plugin{} in its plugin set under string(plugin.KindScheduler),
// and Dispense then returns a Scheduler.
type Plugin struct {
	goplugin.NetRPCUnsupportedPlugin
	// Impl is the implementation served; only the serving side sets it.
	Impl Scheduler
}

var _ plugin.GRPCPlugin = (*Plugin)(nil)

// GRPCServer registers the server shim around Impl.
func (p *Plugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	pluginv1.RegisterSchedulerServer(s, NewGRPCServer(p.Impl))
	return nil
}

// GRPCClient returns the client shim, a Scheduler.
func (p *Plugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return NewGRPCClient(c), nil
}

// Serve runs impl as a scheduler plugin; call it from the plugin binary's main.
func Serve(impl Scheduler) {
	plugin.Serve(plugin.KindScheduler, &Plugin{Impl: impl})
}

// NewGRPCServer returns the server shim: it calls impl and turns its errors into gRPC status
// codes (plugin.ToStatus).
func NewGRPCServer(impl Scheduler) pluginv1.SchedulerServer {
	return &server{impl: impl}
}

// NewGRPCClient returns the client shim: a Scheduler whose calls go over conn and whose errors
// are the plugin's (plugin.FromStatus).
func NewGRPCClient(conn grpc.ClientConnInterface) Scheduler {
	return &client{rpc: pluginv1.NewSchedulerClient(conn)}
}

type server struct {
	pluginv1.UnimplementedSchedulerServer
	impl Scheduler
}

func (s *server) Init(ctx context.Context, req *pluginv1.InitRequest) (*pluginv1.SchedulerInfo, error) {
	return shim.ServeInit(ctx, req, s.impl.Init, infoToProto)
}

func (s *server) Schedule(ctx context.Context, req *pluginv1.ScheduleRequest) (*pluginv1.ScheduleResponse, error) {
	times, err := shim.ServeBatch(ctx, "scheduler schedule", req.GetMessages(), messageFromProto, s.impl.Schedule)
	if err != nil {
		return nil, err
	}
	return &pluginv1.ScheduleResponse{DeliverTime: times}, nil
}

func (s *server) Backoff(ctx context.Context, req *pluginv1.BackoffRequest) (*pluginv1.BackoffResponse, error) {
	delays, err := shim.ServeBatch(ctx, "scheduler backoff", req.GetRetries(), retryFromProto, s.impl.Backoff)
	if err != nil {
		return nil, err
	}
	return &pluginv1.BackoffResponse{DelayMs: durationsToMillis(delays)}, nil
}

type client struct {
	rpc pluginv1.SchedulerClient
}

var _ Scheduler = (*client)(nil)

func (c *client) Init(ctx context.Context, config map[string]any) (Info, error) {
	return shim.CallInit(ctx, config, c.rpc.Init, infoFromProto)
}

func (c *client) Schedule(ctx context.Context, msgs []Message) ([]int64, error) {
	resp, err := c.rpc.Schedule(ctx, &pluginv1.ScheduleRequest{Messages: shim.ToProto(msgs, messageToProto)})
	return shim.CallBatch("scheduler schedule", len(msgs), resp.GetDeliverTime(), err)
}

func (c *client) Backoff(ctx context.Context, retries []Retry) ([]time.Duration, error) {
	resp, err := c.rpc.Backoff(ctx, &pluginv1.BackoffRequest{Retries: shim.ToProto(retries, retryToProto)})
	delays, err := shim.CallBatch("scheduler backoff", len(retries), resp.GetDelayMs(), err)
	return millisToDurations(delays), err
}
