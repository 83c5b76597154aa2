package etcd

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/ternmq/tern/sdk/plugin/discovery"
)

// The key layout under the prefix P (see the package doc). Wire format, never change.
const (
	brokersDir = "/brokers/" // P/brokers/<broker name>/<broker id> → brokerRecord
	queuesDir  = "/queues/"  // P/queues/<broker name>             → queueTable
)

// keys builds and parses the keys under one prefix.
type keys struct {
	prefix string // without a trailing '/'
}

// all is the key every key of the layout starts with: what the cache reads and watches.
func (k keys) all() string { return k.prefix + "/" }

func (k keys) broker(name string, id int64) string {
	return k.prefix + brokersDir + url.PathEscape(name) + "/" + strconv.FormatInt(id, 10)
}

func (k keys) queues(name string) string {
	return k.prefix + queuesDir + url.PathEscape(name)
}

// keyKind says what a key holds.
type keyKind uint8

const (
	keyOther keyKind = iota // not a key of the layout: ignored
	keyBroker
	keyQueues
)

// parse returns what key holds and the broker name (and id) it belongs to.
func (k keys) parse(key string) (kind keyKind, name string, id int64) {
	rest, ok := strings.CutPrefix(key, k.prefix)
	if !ok {
		return keyOther, "", 0
	}
	if r, ok := strings.CutPrefix(rest, brokersDir); ok {
		esc, idText, ok := strings.Cut(r, "/")
		if !ok || strings.Contains(idText, "/") {
			return keyOther, "", 0
		}
		n, err := url.PathUnescape(esc)
		if err != nil || n == "" {
			return keyOther, "", 0
		}
		id, err := strconv.ParseInt(idText, 10, 64)
		if err != nil || id < 0 || strconv.FormatInt(id, 10) != idText {
			return keyOther, "", 0
		}
		return keyBroker, n, id
	}
	if r, ok := strings.CutPrefix(rest, queuesDir); ok {
		n, err := url.PathUnescape(r)
		if err != nil || n == "" || strings.Contains(r, "/") {
			return keyOther, "", 0
		}
		return keyQueues, n, 0
	}
	return keyOther, "", 0
}

// normPrefix trims trailing slashes; "" is the default.
func normPrefix(p string) string {
	p = strings.TrimRight(p, "/")
	if p == "" {
		return DefaultPrefix
	}
	return p
}

// dataVersion is discovery.DataVersion in JSON.
type dataVersion struct {
	Counter   int64 `json:"counter"`
	Timestamp int64 `json:"timestamp"`
}

// brokerRecord is the value of P/brokers/<name>/<id>: one broker process's registration.
// Wire format: JSON, field names never change.
type brokerRecord struct {
	Cluster      string      `json:"cluster"`
	BrokerName   string      `json:"brokerName"`
	BrokerID     int64       `json:"brokerId"`
	Address      string      `json:"address"`
	HAAddress    string      `json:"haAddress,omitempty"`
	DataVersion  dataVersion `json:"dataVersion"`
	RegisterTime int64       `json:"registerTime"` // ms since the epoch
	TTLMs        int64       `json:"ttlMs"`        // the lease's TTL
}

func (r brokerRecord) key() discovery.BrokerKey {
	return discovery.BrokerKey{Cluster: r.Cluster, BrokerName: r.BrokerName, BrokerID: r.BrokerID, Address: r.Address}
}

// sameBroker reports whether r and o differ only in what a refresh changes (register time).
func (r brokerRecord) sameBroker(o brokerRecord) bool {
	r.RegisterTime, o.RegisterTime = 0, 0
	return r == o
}

// queueRecord is one topic's queues on a broker name. Wire format.
type queueRecord struct {
	ReadQueueNums  int32 `json:"readQueueNums"`
	WriteQueueNums int32 `json:"writeQueueNums"`
	Perm           int32 `json:"perm"`
	TopicSysFlag   int32 `json:"topicSysFlag"`
	Order          bool  `json:"order,omitempty"`
}

func queueOf(tc discovery.TopicConfig) queueRecord {
	return queueRecord{ReadQueueNums: tc.ReadQueueNums, WriteQueueNums: tc.WriteQueueNums, Perm: tc.Perm, TopicSysFlag: tc.TopicSysFlag, Order: tc.Order}
}

func (q queueRecord) data(brokerName string) discovery.QueueData {
	return discovery.QueueData{BrokerName: brokerName, ReadQueueNums: q.ReadQueueNums, WriteQueueNums: q.WriteQueueNums, Perm: q.Perm, TopicSysFlag: q.TopicSysFlag}
}

// queueTable is the value of P/queues/<name>: the topics of a broker name as its master last
// registered them. Wire format.
type queueTable struct {
	Cluster     string                 `json:"cluster"`
	Address     string                 `json:"address"` // the master that wrote it
	DataVersion dataVersion            `json:"dataVersion"`
	Topics      map[string]queueRecord `json:"topics"`
}

// maxValueBytes bounds what Register writes in one value, below etcd's default request limit
// (--max-request-bytes, 1.5 MiB).
const maxValueBytes = 1 << 20

func encodeValue(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if len(b) > maxValueBytes {
		return nil, fmt.Errorf("value of %d bytes exceeds %d", len(b), maxValueBytes)
	}
	return b, nil
}
