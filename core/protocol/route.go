package protocol

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
)

// TopicRouteData is the body of a GET_ROUTEINFO_BY_TOPIC (105) response (§3.1).
//
// MarshalJSON writes compact JSON with the keys in alphabetical order, as fastjson does, and
// never null: queueDatas and brokerDatas are arrays and filterServerTable an object even when
// empty, and every brokerAddrs is a compact object with quoted integer keys. The Go v2.1.2
// client cuts brokerAddrs apart as text (split on ',' and the first ':', quotes removed), so
// any whitespace there, or a null, breaks or crashes it.
//
// UnmarshalJSON (and Unmarshal) also accept the Java namesrv's fastjson form with unquoted
// keys ({0:"10.0.0.5:10911"}) and the old queue field name topicSynFlag.
type TopicRouteData struct {
	OrderTopicConf    string              // "brokerA:4;brokerB:4", optional
	QueueDatas        []QueueData         // one per broker name hosting the topic
	BrokerDatas       []BrokerData        // the brokers named in QueueDatas
	FilterServerTable map[string][]string // broker address → filter servers; Tern has none
}

// routeWire is TopicRouteData's JSON layout, keys in fastjson's (alphabetical) order.
type routeWire struct {
	BrokerDatas       []BrokerData        `json:"brokerDatas"`
	FilterServerTable map[string][]string `json:"filterServerTable"`
	OrderTopicConf    string              `json:"orderTopicConf,omitempty"`
	QueueDatas        []QueueData         `json:"queueDatas"`
}

// MarshalJSON implements json.Marshaler.
func (r TopicRouteData) MarshalJSON() ([]byte, error) {
	return json.Marshal(routeWire{
		BrokerDatas:       nonNil(r.BrokerDatas),
		FilterServerTable: nonNilMap(r.FilterServerTable),
		OrderTopicConf:    r.OrderTopicConf,
		QueueDatas:        nonNil(r.QueueDatas),
	})
}

// UnmarshalJSON implements json.Unmarshaler; it accepts fastjson's unquoted keys when called
// directly or through Unmarshal.
func (r *TopicRouteData) UnmarshalJSON(data []byte) error {
	var w routeWire
	if err := Unmarshal(data, &w); err != nil {
		return err
	}
	*r = TopicRouteData{
		OrderTopicConf:    w.OrderTopicConf,
		QueueDatas:        nonNil(w.QueueDatas),
		BrokerDatas:       nonNil(w.BrokerDatas),
		FilterServerTable: w.FilterServerTable,
	}
	return nil
}

// Sort orders QueueDatas and BrokerDatas by broker name, so that equal routes encode equally.
func (r *TopicRouteData) Sort() {
	slices.SortFunc(r.QueueDatas, func(a, b QueueData) int { return cmp.Compare(a.BrokerName, b.BrokerName) })
	slices.SortFunc(r.BrokerDatas, func(a, b BrokerData) int { return cmp.Compare(a.BrokerName, b.BrokerName) })
}

// QueueData is one broker's queues of a topic.
type QueueData struct {
	BrokerName     string `json:"brokerName"`
	Perm           int32  `json:"perm"`
	ReadQueueNums  int32  `json:"readQueueNums"`
	TopicSysFlag   int32  `json:"topicSysFlag"`
	WriteQueueNums int32  `json:"writeQueueNums"`
}

// UnmarshalJSON implements json.Unmarshaler, accepting topicSynFlag (the pre-4.9 Java name,
// still used by the Go client) for topicSysFlag.
func (q *QueueData) UnmarshalJSON(data []byte) error {
	type plain QueueData
	var w struct {
		plain
		TopicSysFlag *int32 `json:"topicSysFlag"` // shadows plain's
		TopicSynFlag *int32 `json:"topicSynFlag"`
	}
	if err := Unmarshal(data, &w); err != nil {
		return err
	}
	*q = QueueData(w.plain)
	switch {
	case w.TopicSysFlag != nil:
		q.TopicSysFlag = *w.TopicSysFlag
	case w.TopicSynFlag != nil:
		q.TopicSysFlag = *w.TopicSynFlag
	}
	return nil
}

// BrokerData is a broker set: a master (id 0) and its slaves, under one broker name.
//
// MarshalJSON writes {"brokerAddrs":{"0":"ip:port",...},"brokerName":...,"cluster":...}
// with the ids in ascending order and no whitespace; brokerAddrs is {} when empty, never null.
type BrokerData struct {
	Cluster     string
	BrokerName  string
	BrokerAddrs map[int64]string // broker id → "ip:port"
}

// MasterAddr returns the master's address, or "" if the master is not registered.
func (b *BrokerData) MasterAddr() string { return b.BrokerAddrs[MasterID] }

// Clone returns a deep copy.
func (b *BrokerData) Clone() BrokerData {
	c := *b
	c.BrokerAddrs = make(map[int64]string, len(b.BrokerAddrs))
	for id, addr := range b.BrokerAddrs {
		c.BrokerAddrs[id] = addr
	}
	return c
}

// MarshalJSON implements json.Marshaler.
func (b BrokerData) MarshalJSON() ([]byte, error) {
	ids := make([]int64, 0, len(b.BrokerAddrs))
	for id := range b.BrokerAddrs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := append(make([]byte, 0, 64+40*len(ids)), `{"brokerAddrs":{`...)
	for i, id := range ids {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = strconv.AppendInt(out, id, 10)
		out = append(out, '"', ':')
		out = appendJSONString(out, b.BrokerAddrs[id])
	}
	out = append(out, `},"brokerName":`...)
	out = appendJSONString(out, b.BrokerName)
	out = append(out, `,"cluster":`...)
	out = appendJSONString(out, b.Cluster)
	return append(out, '}'), nil
}

// UnmarshalJSON implements json.Unmarshaler. It accepts quoted and fastjson's unquoted
// integer keys in brokerAddrs; a null or missing brokerAddrs decodes as empty.
func (b *BrokerData) UnmarshalJSON(data []byte) error {
	var w struct {
		BrokerAddrs map[string]string `json:"brokerAddrs"`
		BrokerName  string            `json:"brokerName"`
		Cluster     string            `json:"cluster"`
	}
	if err := Unmarshal(data, &w); err != nil {
		return err
	}
	addrs := make(map[int64]string, len(w.BrokerAddrs))
	for k, v := range w.BrokerAddrs {
		id, err := strconv.ParseInt(k, 10, 64)
		if err != nil {
			return fmt.Errorf("%w: brokerAddrs key %q of broker %q is not a broker id", ErrBadJSON, k, w.BrokerName)
		}
		addrs[id] = v
	}
	*b = BrokerData{Cluster: w.Cluster, BrokerName: w.BrokerName, BrokerAddrs: addrs}
	return nil
}

// ClusterInfo is the body of a GET_BROKER_CLUSTER_INFO (106) response.
type ClusterInfo struct {
	BrokerAddrTable  map[string]BrokerData // broker name → broker set
	ClusterAddrTable map[string][]string   // cluster → broker names
}

type clusterInfoWire struct {
	BrokerAddrTable  map[string]BrokerData `json:"brokerAddrTable"`
	ClusterAddrTable map[string][]string   `json:"clusterAddrTable"`
}

// MarshalJSON implements json.Marshaler: both tables are objects, never null.
func (c ClusterInfo) MarshalJSON() ([]byte, error) {
	w := clusterInfoWire{BrokerAddrTable: nonNilMap(c.BrokerAddrTable), ClusterAddrTable: make(map[string][]string, len(c.ClusterAddrTable))}
	for k, v := range c.ClusterAddrTable {
		w.ClusterAddrTable[k] = nonNil(v)
	}
	return json.Marshal(w)
}

// UnmarshalJSON implements json.Unmarshaler, accepting fastjson's unquoted broker ids.
func (c *ClusterInfo) UnmarshalJSON(data []byte) error {
	var w clusterInfoWire
	if err := Unmarshal(data, &w); err != nil {
		return err
	}
	*c = ClusterInfo{BrokerAddrTable: nonNilMap(w.BrokerAddrTable), ClusterAddrTable: nonNilMap(w.ClusterAddrTable)}
	return nil
}

// TopicList is the body of GET_ALL_TOPIC_LIST_FROM_NAMESERVER (206), GET_TOPICS_BY_CLUSTER
// (224) and the broker's topic list.
type TopicList struct {
	TopicList  []string `json:"topicList"`
	BrokerAddr string   `json:"brokerAddr,omitempty"`
}

// MarshalJSON implements json.Marshaler: topicList is an array, never null.
func (t TopicList) MarshalJSON() ([]byte, error) {
	type plain TopicList
	p := plain(t)
	p.TopicList = nonNil(p.TopicList)
	return json.Marshal(p)
}

// nonNil returns s, or an empty slice for nil, so that it encodes as [] instead of null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// nonNilMap returns m, or an empty map for nil, so that it encodes as {} instead of null.
func nonNilMap[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return map[K]V{}
	}
	return m
}
