package namesrv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
	"github.com/ternmq/tern/sdk/plugin"
)

// register wires the NameServer's request codes into m.
func (s *Server) register(m *remoting.Mux) {
	m.HandleFunc(remoting.RegisterBroker, s.handleRegisterBroker)
	m.HandleFunc(remoting.UnregisterBroker, s.handleUnregisterBroker)
	m.HandleFunc(remoting.GetRouteInfoByTopic, s.handleGetRoute)
	m.HandleFunc(remoting.GetBrokerClusterInfo, s.handleClusterInfo)
	m.HandleFunc(remoting.GetAllTopicListFromNameServer, s.handleAllTopics)
	m.HandleFunc(remoting.DeleteTopicInNamesrv, s.handleDeleteTopic)
	m.HandleFunc(remoting.GetTopicsByCluster, s.handleTopicsByCluster)
}

// decodeHeader decodes req's custom header into h, or returns the SYSTEM_ERROR response
// naming the bad field.
func decodeHeader(req *remoting.Command, h interface {
	Decode(protocol.FieldSource) error
}) *remoting.Command {
	if err := h.Decode(req); err != nil {
		return remoting.NewResponse(req, int16(remoting.SystemError), err.Error())
	}
	return nil
}

// errorResponse answers a request the registry failed: REQUEST_CODE_NOT_SUPPORTED when the
// discovery backend cannot do it, SYSTEM_ERROR otherwise, with the error's text.
func errorResponse(req *remoting.Command, err error) *remoting.Command {
	code := remoting.SystemError
	if errors.Is(err, plugin.ErrUnsupported) {
		code = remoting.RequestCodeNotSupported
	}
	return remoting.NewResponse(req, int16(code), err.Error())
}

func success(req *remoting.Command) *remoting.Command {
	return remoting.NewResponse(req, int16(remoting.Success), "")
}

// jsonResponse answers req with v as its JSON body.
func jsonResponse(req *remoting.Command, v any) *remoting.Command {
	b, err := json.Marshal(v)
	if err != nil {
		return remoting.NewResponse(req, int16(remoting.SystemError), fmt.Sprintf("encode response: %v", err))
	}
	resp := success(req)
	resp.Body = b
	return resp
}

// checkBrokerAddr rejects an address the Go client could not use: it cuts brokerAddrs apart
// on ',', ':' and '"' as text (§3.1), so those characters (besides the port's ':') and any
// whitespace would corrupt every route the broker appears in.
func checkBrokerAddr(addr string) error {
	host, port, ok := strings.Cut(addr, ":")
	if !ok || host == "" || port == "" || strings.ContainsAny(addr, " \t\r\n,\"{}") {
		return fmt.Errorf("brokerAddr %q is not host:port", addr)
	}
	return nil
}

// handleRegisterBroker serves REGISTER_BROKER (103).
func (s *Server) handleRegisterBroker(ctx context.Context, conn *remoting.Conn, req *remoting.Command) *remoting.Command {
	var h protocol.RegisterBrokerHeader
	if resp := decodeHeader(req, &h); resp != nil {
		return resp
	}
	if err := checkBrokerAddr(h.BrokerAddr); err != nil {
		return remoting.NewResponse(req, int16(remoting.SystemError), err.Error())
	}
	if h.BodyCRC32 != 0 {
		if crc := protocol.BodyCRC32(req.Body); crc != h.BodyCRC32 {
			s.log.Warn("register broker: body crc32 mismatch", "broker", h.BrokerAddr, "header_crc", h.BodyCRC32, "body_crc", crc)
			return remoting.NewResponse(req, int16(remoting.SystemError), "crc32 not match")
		}
	}
	body, err := protocol.DecodeRegisterBrokerBody(req.Body, h.Compressed)
	if err != nil {
		return remoting.NewResponse(req, int16(remoting.SystemError), err.Error())
	}
	timeoutMs, err := optionalField(req, HeartbeatTimeoutField)
	if err != nil {
		return remoting.NewResponse(req, int16(remoting.SystemError), err.Error())
	}
	epoch, err := optionalField(req, EpochField)
	if err != nil {
		return remoting.NewResponse(req, int16(remoting.SystemError), err.Error())
	}
	timeout := time.Duration(timeoutMs) * time.Millisecond
	changed := req.Field(ChangedField) == "true"
	var c any
	if conn != nil {
		c = conn
	}
	res, err := s.reg.register(ctx, registerRequest{header: &h, body: body, conn: c, timeout: timeout, epoch: epoch, changed: changed, now: s.now()})
	if errors.Is(err, ErrWholeTableNeeded) {
		s.log.Debug("register broker: changed topics refused", "broker", h.BrokerAddr, "err", err)
		return errorResponse(req, err)
	}
	if err != nil {
		s.log.Warn("register broker failed", "broker", h.BrokerAddr, "broker_name", h.BrokerName, "err", err)
		return errorResponse(req, err)
	}
	if res.First {
		s.log.Info("broker registered", "cluster", h.ClusterName, "broker_name", h.BrokerName, "broker_id", h.BrokerID,
			"broker", h.BrokerAddr, "ha_addr", h.HAServerAddr, "topics", len(body.TopicConfigSerializeWrapper.TopicConfigTable),
			"heartbeat_timeout", timeout)
	}
	resp := success(req)
	resp.ExtFields = (&protocol.RegisterBrokerResponseHeader{HAServerAddr: res.HAServerAddr, MasterAddr: res.MasterAddr}).Encode()
	return resp
}

// handleUnregisterBroker serves UNREGISTER_BROKER (104).
func (s *Server) handleUnregisterBroker(ctx context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	var h protocol.UnregisterBrokerHeader
	if resp := decodeHeader(req, &h); resp != nil {
		return resp
	}
	if err := s.reg.unregister(ctx, &h); err != nil {
		s.log.Warn("unregister broker failed", "broker", h.BrokerAddr, "broker_name", h.BrokerName, "err", err)
		return errorResponse(req, err)
	}
	s.log.Info("broker unregistered", "cluster", h.ClusterName, "broker_name", h.BrokerName, "broker_id", h.BrokerID, "broker", h.BrokerAddr)
	return success(req)
}

// handleGetRoute serves GET_ROUTEINFO_BY_TOPIC (105): the route, or TOPIC_NOT_EXIST. The body
// always has quoted broker ids, which every client version reads.
func (s *Server) handleGetRoute(ctx context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	var h protocol.GetRouteInfoHeader
	if resp := decodeHeader(req, &h); resp != nil {
		return resp
	}
	rd, ok, err := s.reg.route(ctx, h.Topic)
	if err != nil {
		return errorResponse(req, err)
	}
	if !ok {
		return remoting.NewResponse(req, int16(remoting.TopicNotExist), "No topic route info in name server for the topic: "+h.Topic)
	}
	return jsonResponse(req, rd)
}

// handleClusterInfo serves GET_BROKER_CLUSTER_INFO (106).
func (s *Server) handleClusterInfo(ctx context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	ci, err := s.reg.clusterInfo(ctx)
	if err != nil {
		return errorResponse(req, err)
	}
	return jsonResponse(req, ci)
}

// handleAllTopics serves GET_ALL_TOPIC_LIST_FROM_NAMESERVER (206).
func (s *Server) handleAllTopics(ctx context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	ts, err := s.reg.allTopics(ctx)
	if err != nil {
		return errorResponse(req, err)
	}
	return jsonResponse(req, protocol.TopicList{TopicList: ts})
}

// handleDeleteTopic serves DELETE_TOPIC_IN_NAMESRV (216).
func (s *Server) handleDeleteTopic(ctx context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	var h protocol.DeleteTopicHeader
	if resp := decodeHeader(req, &h); resp != nil {
		return resp
	}
	if err := s.reg.deleteTopic(ctx, h.Topic, h.ClusterName); err != nil {
		return errorResponse(req, err)
	}
	s.log.Info("topic deleted", "topic", h.Topic, "cluster", h.ClusterName)
	return success(req)
}

// handleTopicsByCluster serves GET_TOPICS_BY_CLUSTER (224).
func (s *Server) handleTopicsByCluster(ctx context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	var h protocol.GetTopicsByClusterHeader
	if resp := decodeHeader(req, &h); resp != nil {
		return resp
	}
	ts, err := s.reg.topicsByCluster(ctx, h.Cluster)
	if err != nil {
		return errorResponse(req, err)
	}
	return jsonResponse(req, protocol.TopicList{TopicList: ts})
}
