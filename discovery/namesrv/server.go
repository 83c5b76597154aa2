package namesrv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/ternmq/tern/core/config"
	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

// Config configures a NameServer (RocketMQ names where they exist).
type Config struct {
	// ListenAddr is the address to listen on (default 127.0.0.1:9876).
	ListenAddr string `yaml:"listenAddr"`
	// BrokerChannelExpiredTime drops a broker that has not registered for this long (120 s).
	BrokerChannelExpiredTime config.Millis `yaml:"brokerChannelExpiredTime"`
	// ScanNotActiveBrokerInterval is how often silent brokers are looked for (10 s).
	ScanNotActiveBrokerInterval config.Millis `yaml:"scanNotActiveBrokerInterval"`
	// Now is the clock (nil: time.Now).
	Now func() time.Time `yaml:"-"`
}

// DefaultConfig returns RocketMQ's defaults.
func DefaultConfig() Config {
	return Config{
		ListenAddr:                  "127.0.0.1:9876",
		BrokerChannelExpiredTime:    config.Millis(120 * time.Second),
		ScanNotActiveBrokerInterval: config.Millis(10 * time.Second),
	}
}

// Server is a NameServer: the route registry behind the remoting protocol.
type Server struct {
	cfg    Config
	log    *slog.Logger
	routes *RouteInfo
	srv    *remoting.Server
	ln     net.Listener

	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// New returns a NameServer; Start listens and serves.
func New(cfg Config, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, log: logger, routes: NewRouteInfo(), stop: make(chan struct{})}
	m := remoting.NewMux()
	m.HandleFunc(remoting.RegisterBroker, s.handleRegister)
	m.HandleFunc(remoting.UnregisterBroker, s.handleUnregister)
	m.HandleFunc(remoting.GetRouteInfoByTopic, s.handleRoute)
	m.HandleFunc(remoting.GetBrokerClusterInfo, s.handleClusterInfo)
	m.HandleFunc(remoting.GetAllTopicListFromNameServer, s.handleAllTopics)
	m.HandleFunc(remoting.DeleteTopicInNamesrv, s.handleDeleteTopic)
	m.HandleFunc(remoting.GetTopicsByCluster, s.handleTopicsByCluster)
	s.srv = remoting.NewServer(remoting.ServerOptions{
		Logger: logger,
		OnDisconnect: func(c *remoting.Conn) {
			for _, addr := range s.routes.ConnClosed(c) {
				s.log.Info("broker connection closed: removed", "broker", addr)
			}
		},
	}, m)
	return s
}

// Routes exposes the registry (tests and tools).
func (s *Server) Routes() *RouteInfo { return s.routes }

// Start listens on ListenAddr and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("namesrv: listen %s: %w", s.cfg.ListenAddr, err)
	}
	s.ln = ln
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, remoting.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			s.log.Error("namesrv stopped serving", "err", err)
		}
	}()
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(s.cfg.ScanNotActiveBrokerInterval.D())
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				for _, addr := range s.routes.ExpireSilent(s.cfg.Now(), s.cfg.BrokerChannelExpiredTime.D()) {
					s.log.Warn("broker expired: no registration", "broker", addr, "after", s.cfg.BrokerChannelExpiredTime)
				}
			}
		}
	}()
	return nil
}

// Addr returns the listening address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops serving and waits for the background work.
func (s *Server) Close(ctx context.Context) error {
	var err error
	s.once.Do(func() {
		close(s.stop)
		err = s.srv.Close(ctx)
		if s.ln != nil {
			s.ln.Close()
		}
		s.wg.Wait()
	})
	return err
}

func ok(req *remoting.Command) *remoting.Command {
	return remoting.NewResponse(req, int16(remoting.Success), "")
}

func (s *Server) handleRegister(_ context.Context, conn *remoting.Conn, req *remoting.Command) *remoting.Command {
	var h protocol.RegisterBrokerHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return remoting.ErrorResponse(req, fmt.Errorf("%w: %w", remoting.ErrSystemError, err))
	}
	if h.BodyCRC32 != 0 && protocol.BodyCRC32(req.Body) != h.BodyCRC32 {
		return remoting.NewResponse(req, int16(remoting.SystemError), fmt.Sprintf("crc32 not match: header %d, body %d", h.BodyCRC32, protocol.BodyCRC32(req.Body)))
	}
	var topics protocol.TopicConfigSerializeWrapper
	if len(req.Body) > 0 {
		body, err := protocol.DecodeRegisterBrokerBody(req.Body, h.Compressed)
		if err != nil {
			return remoting.ErrorResponse(req, fmt.Errorf("%w: register body: %w", remoting.ErrSystemError, err))
		}
		topics = body.TopicConfigSerializeWrapper
	}
	master, ha := s.routes.Register(Registration{
		Cluster: h.ClusterName, BrokerName: h.BrokerName, BrokerAddr: h.BrokerAddr, HAAddr: h.HAServerAddr, BrokerID: h.BrokerID,
		Topics: topics, Conn: conn,
	}, s.cfg.Now())
	resp := ok(req)
	rh := protocol.RegisterBrokerResponseHeader{MasterAddr: master, HAServerAddr: ha}
	resp.ExtFields = rh.Encode()
	return resp
}

func (s *Server) handleUnregister(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	var h protocol.UnregisterBrokerHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return remoting.ErrorResponse(req, fmt.Errorf("%w: %w", remoting.ErrSystemError, err))
	}
	s.routes.Unregister(h.BrokerName, h.BrokerID)
	s.log.Info("broker unregistered", "broker", h.BrokerAddr, "name", h.BrokerName, "id", h.BrokerID)
	return ok(req)
}

func (s *Server) handleRoute(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	var h protocol.GetRouteInfoHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return remoting.ErrorResponse(req, fmt.Errorf("%w: %w", remoting.ErrSystemError, err))
	}
	rd, found := s.routes.Route(h.Topic)
	if !found {
		return remoting.NewResponse(req, int16(remoting.TopicNotExist), "No topic route info in name server for the topic: "+h.Topic)
	}
	return jsonResponse(req, rd)
}

func (s *Server) handleClusterInfo(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	return jsonResponse(req, s.routes.ClusterInfo())
}

func (s *Server) handleAllTopics(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	return jsonResponse(req, protocol.TopicList{TopicList: s.routes.Topics()})
}

func (s *Server) handleTopicsByCluster(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	var h protocol.GetTopicsByClusterHeader
	if err := h.Decode(req.ExtFields); err != nil {
		return remoting.ErrorResponse(req, fmt.Errorf("%w: %w", remoting.ErrSystemError, err))
	}
	return jsonResponse(req, protocol.TopicList{TopicList: s.routes.TopicsOfCluster(h.Cluster)})
}

func (s *Server) handleDeleteTopic(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	topic := req.Field("topic")
	if topic == "" {
		return remoting.NewResponse(req, int16(remoting.SystemError), "missing required header field \"topic\"")
	}
	s.routes.DeleteTopic(topic)
	return ok(req)
}

func jsonResponse(req *remoting.Command, v any) *remoting.Command {
	b, err := json.Marshal(v)
	if err != nil {
		return remoting.ErrorResponse(req, fmt.Errorf("%w: %w", remoting.ErrSystemError, err))
	}
	resp := ok(req)
	resp.Body = b
	return resp
}
