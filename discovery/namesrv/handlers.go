package namesrv

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
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
func decodeHeader(req *remoting.Command, h interface{ Decode(map[string]string) error }) *remoting.Command {
	if err := h.Decode(req.ExtFields); err != nil {
		return remoting.NewResponse(req, int16(remoting.SystemError), err.Error())
	}
	return nil
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
func (s *Server) handleRegisterBroker(_ context.Context, conn *remoting.Conn, req *remoting.Command) *remoting.Command {
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
	var c any
	if conn != nil {
		c = conn
	}
	res := s.routes.RegisterBroker(Registration{
		Cluster: h.ClusterName, BrokerName: h.BrokerName, BrokerAddr: h.BrokerAddr, BrokerID: h.BrokerID,
		HAServerAddr: h.HAServerAddr, Topics: body.TopicConfigSerializeWrapper,
		FilterServers: body.FilterServerList, Conn: c,
	}, s.now())
	if res.First {
		s.log.Info("broker registered", "cluster", h.ClusterName, "broker_name", h.BrokerName, "broker_id", h.BrokerID,
			"broker", h.BrokerAddr, "ha_addr", h.HAServerAddr, "topics", len(body.TopicConfigSerializeWrapper.TopicConfigTable))
	}
	resp := success(req)
	resp.ExtFields = (&protocol.RegisterBrokerResponseHeader{HAServerAddr: res.HAServerAddr, MasterAddr: res.MasterAddr}).Encode()
	return resp
}

// handleUnregisterBroker serves UNREGISTER_BROKER (104).
func (s *Server) handleUnregisterBroker(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	var h protocol.UnregisterBrokerHeader
	if resp := decodeHeader(req, &h); resp != nil {
		return resp
	}
	s.routes.UnregisterBroker(h.BrokerName, h.BrokerAddr, h.BrokerID)
	s.log.Info("broker unregistered", "cluster", h.ClusterName, "broker_name", h.BrokerName, "broker_id", h.BrokerID, "broker", h.BrokerAddr)
	return success(req)
}

// handleGetRoute serves GET_ROUTEINFO_BY_TOPIC (105): the route, or TOPIC_NOT_EXIST. The body
// always has quoted broker ids, which every client version reads.
func (s *Server) handleGetRoute(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	var h protocol.GetRouteInfoHeader
	if resp := decodeHeader(req, &h); resp != nil {
		return resp
	}
	rd, ok := s.routes.Route(h.Topic)
	if !ok {
		return remoting.NewResponse(req, int16(remoting.TopicNotExist), "No topic route info in name server for the topic: "+h.Topic)
	}
	return jsonResponse(req, rd)
}

// handleClusterInfo serves GET_BROKER_CLUSTER_INFO (106).
func (s *Server) handleClusterInfo(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	return jsonResponse(req, s.routes.ClusterInfo())
}

// handleAllTopics serves GET_ALL_TOPIC_LIST_FROM_NAMESERVER (206).
func (s *Server) handleAllTopics(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	return jsonResponse(req, protocol.TopicList{TopicList: s.routes.AllTopics()})
}

// handleDeleteTopic serves DELETE_TOPIC_IN_NAMESRV (216).
func (s *Server) handleDeleteTopic(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	var h protocol.DeleteTopicHeader
	if resp := decodeHeader(req, &h); resp != nil {
		return resp
	}
	s.routes.DeleteTopic(h.Topic, h.ClusterName)
	s.log.Info("topic deleted", "topic", h.Topic, "cluster", h.ClusterName)
	return success(req)
}

// handleTopicsByCluster serves GET_TOPICS_BY_CLUSTER (224).
func (s *Server) handleTopicsByCluster(_ context.Context, _ *remoting.Conn, req *remoting.Command) *remoting.Command {
	var h protocol.GetTopicsByClusterHeader
	if resp := decodeHeader(req, &h); resp != nil {
		return resp
	}
	return jsonResponse(req, protocol.TopicList{TopicList: s.routes.TopicsByCluster(h.Cluster)})
}
