package protocol

// RegisterBrokerHeader is the request header of REGISTER_BROKER (103). Body: RegisterBrokerBody.
type RegisterBrokerHeader struct {
	BrokerName   string // req
	BrokerAddr   string // req, "ip:port"
	ClusterName  string // req
	HAServerAddr string // req ("haServerAddr")
	BrokerID     int64  // req; MasterID (0) for a master
	// Compressed says the body is RegisterBrokerBody's deflated binary form (Java's
	// compressedRegister); brokers normally send false.
	Compressed bool
	// BodyCRC32 is 0 (no check) or BodyCRC32 of the body.
	BodyCRC32 int32
}

// Decode reads the header from extFields.
func (h *RegisterBrokerHeader) Decode(fields FieldSource) error {
	r := fieldReader{fields: fields}
	*h = RegisterBrokerHeader{
		BrokerName:   r.str("brokerName", true),
		BrokerAddr:   r.str("brokerAddr", true),
		ClusterName:  r.str("clusterName", true),
		HAServerAddr: r.str("haServerAddr", true),
		BrokerID:     r.int64("brokerId", true),
		Compressed:   r.bool("compressed", false),
		BodyCRC32:    r.int32("bodyCrc32", false),
	}
	return r.err
}

// Encode returns the header as extFields.
func (h *RegisterBrokerHeader) Encode() map[string]string {
	return map[string]string{
		"brokerName":   h.BrokerName,
		"brokerAddr":   h.BrokerAddr,
		"clusterName":  h.ClusterName,
		"haServerAddr": h.HAServerAddr,
		"brokerId":     i64s(h.BrokerID),
		"compressed":   bools(h.Compressed),
		"bodyCrc32":    i32s(h.BodyCRC32),
	}
}

// RegisterBrokerResponseHeader is the response header of REGISTER_BROKER. Both fields are set
// only for a slave whose master is registered.
type RegisterBrokerResponseHeader struct {
	HAServerAddr string
	MasterAddr   string
}

// Decode reads the header from extFields.
func (h *RegisterBrokerResponseHeader) Decode(fields FieldSource) error {
	r := fieldReader{fields: fields}
	*h = RegisterBrokerResponseHeader{
		HAServerAddr: r.str("haServerAddr", false),
		MasterAddr:   r.str("masterAddr", false),
	}
	return r.err
}

// Encode returns the header as extFields; empty fields are left out, as Java leaves out nulls.
func (h *RegisterBrokerResponseHeader) Encode() map[string]string {
	m := make(map[string]string, 2)
	putOpt(m, "haServerAddr", h.HAServerAddr)
	putOpt(m, "masterAddr", h.MasterAddr)
	return m
}

// UnregisterBrokerHeader is the request header of UNREGISTER_BROKER (104).
type UnregisterBrokerHeader struct {
	BrokerName  string // req
	BrokerAddr  string // req
	ClusterName string // req
	BrokerID    int64  // req
}

// Decode reads the header from extFields.
func (h *UnregisterBrokerHeader) Decode(fields FieldSource) error {
	r := fieldReader{fields: fields}
	*h = UnregisterBrokerHeader{
		BrokerName:  r.str("brokerName", true),
		BrokerAddr:  r.str("brokerAddr", true),
		ClusterName: r.str("clusterName", true),
		BrokerID:    r.int64("brokerId", true),
	}
	return r.err
}

// Encode returns the header as extFields.
func (h *UnregisterBrokerHeader) Encode() map[string]string {
	return map[string]string{
		"brokerName":  h.BrokerName,
		"brokerAddr":  h.BrokerAddr,
		"clusterName": h.ClusterName,
		"brokerId":    i64s(h.BrokerID),
	}
}

// GetRouteInfoHeader is the request header of GET_ROUTEINFO_BY_TOPIC (105).
type GetRouteInfoHeader struct {
	Topic string // req
	// AcceptStandardJSONOnly (4.9.4+) asks for quoted map keys; Tern always writes them.
	AcceptStandardJSONOnly bool
}

// Decode reads the header from extFields.
func (h *GetRouteInfoHeader) Decode(fields FieldSource) error {
	r := fieldReader{fields: fields}
	*h = GetRouteInfoHeader{
		Topic:                  r.str("topic", true),
		AcceptStandardJSONOnly: r.bool("acceptStandardJsonOnly", false),
	}
	return r.err
}

// Encode returns the header as extFields; acceptStandardJsonOnly only when set.
func (h *GetRouteInfoHeader) Encode() map[string]string {
	m := map[string]string{"topic": h.Topic}
	if h.AcceptStandardJSONOnly {
		m["acceptStandardJsonOnly"] = "true"
	}
	return m
}

// DeleteTopicHeader is the request header of DELETE_TOPIC_IN_BROKER (215) and
// DELETE_TOPIC_IN_NAMESRV (216).
type DeleteTopicHeader struct {
	Topic string // req
	// ClusterName (216 only, 5.x) limits the deletion to that cluster's brokers.
	ClusterName string
}

// Decode reads the header from extFields.
func (h *DeleteTopicHeader) Decode(fields FieldSource) error {
	r := fieldReader{fields: fields}
	*h = DeleteTopicHeader{Topic: r.str("topic", true), ClusterName: r.str("clusterName", false)}
	return r.err
}

// Encode returns the header as extFields.
func (h *DeleteTopicHeader) Encode() map[string]string {
	m := map[string]string{"topic": h.Topic}
	putOpt(m, "clusterName", h.ClusterName)
	return m
}

// GetTopicsByClusterHeader is the request header of GET_TOPICS_BY_CLUSTER (224).
type GetTopicsByClusterHeader struct {
	Cluster string // req
}

// Decode reads the header from extFields.
func (h *GetTopicsByClusterHeader) Decode(fields FieldSource) error {
	r := fieldReader{fields: fields}
	h.Cluster = r.str("cluster", true)
	return r.err
}

// Encode returns the header as extFields.
func (h *GetTopicsByClusterHeader) Encode() map[string]string {
	return map[string]string{"cluster": h.Cluster}
}
