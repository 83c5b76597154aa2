package protocol

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ternmq/tern/core/remoting"
)

// codec adapts a header type to one decode/encode pair.
type codec struct {
	name     string
	value    any // a fully populated header (pointer)
	decode   func(map[string]string) (any, error)
	encode   func(any) map[string]string
	required []string // keys that must be present
	numeric  []string // keys holding integers
}

// hdr builds a codec for a type with Decode/Encode methods.
func hdr[T any, P interface {
	*T
	Decode(FieldSource) error
	Encode() map[string]string
}](name string, v P, required, numeric string) codec {
	return codec{
		name:  name,
		value: v,
		decode: func(f map[string]string) (any, error) {
			var h T
			err := P(&h).Decode(Map(f))
			return P(&h), err
		},
		encode:   func(v any) map[string]string { return v.(P).Encode() },
		required: strings.Fields(required),
		numeric:  strings.Fields(numeric),
	}
}

func i32p(v int32) *int32 { return &v }

func sendSample() *SendMessageHeader {
	return &SendMessageHeader{
		ProducerGroup: "pg", Topic: "T", DefaultTopic: AutoCreateTopic, DefaultTopicQueueNums: 4, QueueID: 3,
		SysFlag: 4, BornTimestamp: 1700000000123, Flag: -7, Properties: "TAGS\x01a\x02", ReconsumeTimes: 2,
		UnitMode: true, MaxReconsumeTimes: i32p(16), Batch: true, BrokerName: "broker-a",
	}
}

func sendCodec(v2 bool) codec {
	name, req, num := "send v1", "producerGroup topic defaultTopic defaultTopicQueueNums queueId sysFlag bornTimestamp flag",
		"defaultTopicQueueNums queueId sysFlag bornTimestamp flag reconsumeTimes maxReconsumeTimes"
	if v2 {
		name, req, num = "send v2", "a b c d e f g h", "d e f g h j l"
	}
	return codec{
		name:  name,
		value: sendSample(),
		decode: func(f map[string]string) (any, error) {
			h, err := DecodeSendMessage(Map(f), v2)
			return &h, err
		},
		encode:   func(v any) map[string]string { return v.(*SendMessageHeader).Encode(v2) },
		required: strings.Fields(req),
		numeric:  strings.Fields(num),
	}
}

func offsetCodec(update bool) codec {
	c := codec{name: "query consumer offset", value: &ConsumerOffsetHeader{ConsumerGroup: "g", Topic: "T", QueueID: 1},
		required: []string{"consumerGroup", "topic", "queueId"}, numeric: []string{"queueId"}}
	c.decode = func(f map[string]string) (any, error) {
		var h ConsumerOffsetHeader
		return &h, h.DecodeQuery(Map(f))
	}
	c.encode = func(v any) map[string]string { return v.(*ConsumerOffsetHeader).EncodeQuery() }
	if update {
		c.name = "update consumer offset"
		c.value = &ConsumerOffsetHeader{ConsumerGroup: "g", Topic: "T", QueueID: 1, CommitOffset: 1 << 40}
		c.required = append(c.required, "commitOffset")
		c.numeric = append(c.numeric, "commitOffset")
		c.decode = func(f map[string]string) (any, error) {
			var h ConsumerOffsetHeader
			return &h, h.DecodeUpdate(Map(f))
		}
		c.encode = func(v any) map[string]string { return v.(*ConsumerOffsetHeader).EncodeUpdate() }
	}
	return c
}

func allCodecs() []codec {
	return []codec{
		sendCodec(false),
		sendCodec(true),
		hdr("send response", &SendMessageResponseHeader{MsgID: "7F00000100002A9F000000000001E240", QueueID: 2, QueueOffset: 99, TransactionID: "tx", MsgRegion: DefaultRegion, TraceOn: true},
			"msgId queueId queueOffset", "queueId queueOffset"),
		hdr("reply push 326", &ReplyMessageHeader{ProducerGroup: "pg", Topic: "c_REPLY_TOPIC", DefaultTopic: AutoCreateTopic, DefaultTopicQueueNums: 4, QueueID: 1, SysFlag: 1, BornTimestamp: 5, Flag: 6, Properties: "A\x01b", ReconsumeTimes: 1, UnitMode: true, BornHost: "10.0.0.1:5", StoreHost: "10.0.0.2:10911", StoreTimestamp: 7},
			"producerGroup topic defaultTopic defaultTopicQueueNums queueId sysFlag bornTimestamp flag bornHost storeHost storeTimestamp",
			"defaultTopicQueueNums queueId sysFlag bornTimestamp flag reconsumeTimes storeTimestamp"),
		hdr("pull", &PullMessageHeader{ConsumerGroup: "cg", Topic: "T", QueueID: 1, QueueOffset: 10, MaxMsgNums: 32, SysFlag: PullFlagCommitOffset | PullFlagSuspend | PullFlagSubscription, CommitOffset: -1, SuspendTimeoutMillis: 20000, Subscription: "a || b", SubVersion: 1700000000000000000, ExpressionType: ExpressionTag},
			"consumerGroup topic queueId queueOffset maxMsgNums sysFlag commitOffset suspendTimeoutMillis subVersion",
			"queueId queueOffset maxMsgNums sysFlag commitOffset suspendTimeoutMillis subVersion"),
		hdr("pull response", &PullMessageResponseHeader{SuggestWhichBrokerID: 1, NextBeginOffset: 2, MinOffset: 3, MaxOffset: 4},
			"suggestWhichBrokerId nextBeginOffset minOffset maxOffset", "suggestWhichBrokerId nextBeginOffset minOffset maxOffset"),
		offsetCodec(false),
		offsetCodec(true),
		hdr("topic queue (30/31/32)", &TopicQueueHeader{Topic: "T", QueueID: 7}, "topic queueId", "queueId"),
		hdr("search offset", &SearchOffsetHeader{Topic: "T", QueueID: 7, Timestamp: 1700000000000}, "topic queueId timestamp", "queueId timestamp"),
		hdr("offset response", &OffsetResponseHeader{Offset: 42}, "offset", "offset"),
		hdr("earliest msg storetime response", &EarliestMsgStoretimeResponseHeader{Timestamp: 42}, "timestamp", "timestamp"),
		hdr("view message", &ViewMessageHeader{Offset: 1 << 33}, "offset", "offset"),
		hdr("query message", &QueryMessageHeader{Topic: "T", Key: "k1", MaxNum: 32, BeginTimestamp: 1, EndTimestamp: 2, UniqueKeyQuery: true},
			"topic key maxNum beginTimestamp endTimestamp", "maxNum beginTimestamp endTimestamp"),
		hdr("query message response", &QueryMessageResponseHeader{IndexLastUpdateTimestamp: 1, IndexLastUpdatePhyoffset: 2},
			"indexLastUpdateTimestamp indexLastUpdatePhyoffset", "indexLastUpdateTimestamp indexLastUpdatePhyoffset"),
		hdr("unregister client", &UnregisterClientHeader{ClientID: "10.0.0.1@1", ProducerGroup: "pg", ConsumerGroup: "cg"}, "clientID", ""),
		hdr("send back", &ConsumerSendMsgBackHeader{Offset: 12345, Group: "cg", DelayLevel: -1, OriginMsgID: "id", OriginTopic: "T", UnitMode: true, MaxReconsumeTimes: i32p(16)},
			"offset group delayLevel", "offset delayLevel maxReconsumeTimes"),
		hdr("end transaction", &EndTransactionHeader{ProducerGroup: "pg", TranStateTableOffset: 3, CommitLogOffset: 4, CommitOrRollback: TransactionCommit, FromTransactionCheck: true, MsgID: "u", TransactionID: "t"},
			"producerGroup tranStateTableOffset commitLogOffset commitOrRollback msgId", "tranStateTableOffset commitLogOffset commitOrRollback"),
		hdr("check transaction state", &CheckTransactionStateHeader{TranStateTableOffset: 3, CommitLogOffset: 4, MsgID: "u", TransactionID: "u", OffsetMsgID: "o"},
			"tranStateTableOffset commitLogOffset", "tranStateTableOffset commitLogOffset"),
		hdr("consumer group (38/40/203)", &ConsumerGroupHeader{ConsumerGroup: "cg"}, "consumerGroup", ""),
		hdr("register broker", &RegisterBrokerHeader{BrokerName: "broker-a", BrokerAddr: "10.0.0.5:10911", ClusterName: "DefaultCluster", HAServerAddr: "10.0.0.5:10912", BrokerID: 1, Compressed: true, BodyCRC32: 123},
			"brokerName brokerAddr clusterName haServerAddr brokerId", "brokerId bodyCrc32"),
		hdr("register broker response", &RegisterBrokerResponseHeader{HAServerAddr: "10.0.0.5:10912", MasterAddr: "10.0.0.5:10911"}, "", ""),
		hdr("unregister broker", &UnregisterBrokerHeader{BrokerName: "broker-a", BrokerAddr: "10.0.0.5:10911", ClusterName: "c", BrokerID: 2},
			"brokerName brokerAddr clusterName brokerId", "brokerId"),
		hdr("route info", &GetRouteInfoHeader{Topic: "T", AcceptStandardJSONOnly: true}, "topic", ""),
		hdr("delete topic", &DeleteTopicHeader{Topic: "T", ClusterName: "c"}, "topic", ""),
		hdr("topics by cluster", &GetTopicsByClusterHeader{Cluster: "c"}, "cluster", ""),
		hdr("create topic", &CreateTopicHeader{Topic: "T", DefaultTopic: AutoCreateTopic, ReadQueueNums: 8, WriteQueueNums: 8, Perm: 6, TopicFilterType: MultiTag, TopicSysFlag: 1, Order: true},
			"topic defaultTopic readQueueNums writeQueueNums perm topicFilterType order", "readQueueNums writeQueueNums perm topicSysFlag"),
		hdr("consume stats", &GetConsumeStatsHeader{ConsumerGroup: "cg", Topic: "T"}, "consumerGroup", ""),
		hdr("consumer running info", &GetConsumerRunningInfoHeader{ConsumerGroup: "cg", ClientID: "c@1", JstackEnable: true}, "consumerGroup clientId", ""),
		hdr("consume message directly", &ConsumeMessageDirectlyHeader{ConsumerGroup: "cg", ClientID: "c@1", MsgID: "m", BrokerName: "b"}, "consumerGroup clientId", ""),
		hdr("reset offset", &ResetOffsetHeader{Topic: "T", Group: "g", Timestamp: 5, IsForce: true}, "topic group timestamp isForce", "timestamp"),
		hdr("consumer status", &GetConsumerStatusHeader{Topic: "T", Group: "g", ClientAddr: "1.2.3.4:5"}, "topic group", ""),
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	for _, c := range allCodecs() {
		t.Run(c.name, func(t *testing.T) {
			enc := c.encode(c.value)
			got, err := c.decode(enc)
			if err != nil {
				t.Fatalf("decode(%v): %v", enc, err)
			}
			if !reflect.DeepEqual(got, c.value) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, c.value)
			}
			for k, v := range enc {
				if k == "" {
					t.Errorf("empty key with value %q", v)
				}
			}
			// Encoding is stable.
			if again := c.encode(got); !maps.Equal(again, enc) {
				t.Fatalf("re-encode differs:\n got %v\nwant %v", again, enc)
			}
		})
	}
}

func TestHeaderMissingRequired(t *testing.T) {
	for _, c := range allCodecs() {
		enc := c.encode(c.value)
		for _, key := range c.required {
			t.Run(c.name+"/"+key, func(t *testing.T) {
				f := maps.Clone(enc)
				if _, ok := f[key]; !ok {
					t.Fatalf("Encode does not write required key %q", key)
				}
				delete(f, key)
				_, err := c.decode(f)
				var fe *FieldError
				if !errors.Is(err, ErrMissingField) || !errors.As(err, &fe) || fe.Field != key {
					t.Fatalf("decode without %q = %v, want missing-field error for it", key, err)
				}
				if !strings.Contains(err.Error(), `"`+key+`"`) {
					t.Fatalf("error %q does not name %q", err, key)
				}
			})
		}
		// Every other key is optional.
		for key := range enc {
			if slices.Contains(c.required, key) {
				continue
			}
			f := maps.Clone(enc)
			delete(f, key)
			if _, err := c.decode(f); err != nil {
				t.Errorf("%s: decode without optional %q: %v", c.name, key, err)
			}
		}
	}
}

func TestHeaderInvalidNumber(t *testing.T) {
	for _, c := range allCodecs() {
		enc := c.encode(c.value)
		for _, key := range c.numeric {
			for _, bad := range []string{"x", "1.5", "99999999999999999999", " 1"} {
				t.Run(c.name+"/"+key+"="+bad, func(t *testing.T) {
					f := maps.Clone(enc)
					f[key] = bad
					_, err := c.decode(f)
					var fe *FieldError
					if !errors.Is(err, ErrInvalidField) || !errors.As(err, &fe) || fe.Field != key || fe.Value != bad {
						t.Fatalf("decode with %s=%q = %v, want invalid-field error", key, bad, err)
					}
					if !strings.Contains(err.Error(), `"`+key+`"`) {
						t.Fatalf("error %q does not name %q", err, key)
					}
				})
			}
		}
		// Non-numeric keys accept any text.
		for key := range enc {
			if slices.Contains(c.numeric, key) {
				continue
			}
			f := maps.Clone(enc)
			f[key] = "x"
			if _, err := c.decode(f); err != nil && key != "commitOrRollback" && key != "topicFilterType" {
				t.Errorf("%s: %s=x: %v", c.name, key, err)
			}
		}
	}
}

func TestHeaderInt32Range(t *testing.T) {
	f := (&TopicQueueHeader{Topic: "T"}).Encode()
	f["queueId"] = "2147483648"
	var h TopicQueueHeader
	if err := h.Decode(Map(f)); !errors.Is(err, ErrInvalidField) {
		t.Fatalf("queueId 2^31: %v", err)
	}
	f["queueId"] = "-2147483648"
	if err := h.Decode(Map(f)); err != nil || h.QueueID != -2147483648 {
		t.Fatalf("queueId -2^31: %v %d", err, h.QueueID)
	}
}

// The Go v2.1.2 client's exact send header (internal/request.go) decodes.
func TestSendHeaderFromGoClient(t *testing.T) {
	v1 := map[string]string{
		"producerGroup": "pg", "topic": "T", "queueId": "1", "sysFlag": "0", "bornTimestamp": "1700000000000",
		"flag": "0", "reconsumeTimes": "0", "unitMode": "false", "maxReconsumeTimes": "0",
		"defaultTopic": "TBW102", "defaultTopicQueueNums": "4", "batch": "false", "properties": "UNIQ_KEY\x01X\x02",
	}
	h, err := DecodeSendMessage(Map(v1), false)
	if err != nil {
		t.Fatal(err)
	}
	want := SendMessageHeader{ProducerGroup: "pg", Topic: "T", DefaultTopic: "TBW102", DefaultTopicQueueNums: 4, QueueID: 1,
		BornTimestamp: 1700000000000, Properties: "UNIQ_KEY\x01X\x02", MaxReconsumeTimes: i32p(0)}
	if !reflect.DeepEqual(h, want) {
		t.Fatalf("got %+v\nwant %+v", h, want)
	}
	if got := h.Encode(false); !maps.Equal(got, v1) {
		t.Fatalf("re-encode differs from the Go client's:\n got %q\nwant %q", got, v1)
	}
	// The batch form with one-letter keys.
	v2 := map[string]string{"a": "pg", "b": "T", "c": "TBW102", "d": "4", "e": "1", "f": "0", "g": "1700000000000",
		"h": "0", "i": "", "j": "0", "k": "false", "l": "0", "m": "true"}
	h, err = DecodeSendMessage(Map(v2), true)
	if err != nil || !h.Batch || h.Topic != "T" || h.Properties != "" {
		t.Fatalf("v2: %+v %v", h, err)
	}
	// v1 keys are not v2 keys.
	if _, err := DecodeSendMessage(Map(v1), true); !errors.Is(err, ErrMissingField) || !strings.Contains(err.Error(), `"a" (producerGroup)`) {
		t.Fatalf("v1 fields decoded as v2: %v", err)
	}
}

func TestHeaderLenientValues(t *testing.T) {
	// Optional numbers may be empty; booleans parse like Java.
	f := sendSample().Encode(false)
	f["reconsumeTimes"], f["maxReconsumeTimes"], f["unitMode"], f["batch"] = "", "", "TRUE", "yes"
	h, err := DecodeSendMessage(Map(f), false)
	if err != nil {
		t.Fatal(err)
	}
	if h.ReconsumeTimes != 0 || h.MaxReconsumeTimes != nil || !h.UnitMode || h.Batch {
		t.Fatalf("got %+v", h)
	}
	// An empty required number is an error; an empty required string is not.
	f = sendSample().Encode(false)
	f["queueId"] = ""
	if _, err := DecodeSendMessage(Map(f), false); !errors.Is(err, ErrInvalidField) {
		t.Fatalf("empty queueId: %v", err)
	}
	f = sendSample().Encode(false)
	f["topic"] = ""
	if h, err := DecodeSendMessage(Map(f), false); err != nil || h.Topic != "" {
		t.Fatalf("empty topic: %v", err)
	}
}

func TestEndTransactionCommitOrRollback(t *testing.T) {
	for _, tc := range []struct {
		v  string
		ok bool
	}{{"0", true}, {"8", true}, {"12", true}, {"4", false}, {"-1", false}} {
		f := (&EndTransactionHeader{ProducerGroup: "pg", MsgID: "m"}).Encode()
		f["commitOrRollback"] = tc.v
		var h EndTransactionHeader
		err := h.Decode(Map(f))
		if (err == nil) != tc.ok {
			t.Errorf("commitOrRollback=%s: %v", tc.v, err)
		}
		if err != nil && (!errors.Is(err, ErrInvalidField) || !strings.Contains(err.Error(), "commitOrRollback")) {
			t.Errorf("commitOrRollback=%s: error %v", tc.v, err)
		}
	}
}

func TestCreateTopicFilterType(t *testing.T) {
	f := (&CreateTopicHeader{Topic: "T", DefaultTopic: "TBW102", TopicFilterType: "NOPE"}).Encode()
	var h CreateTopicHeader
	if err := h.Decode(Map(f)); !errors.Is(err, ErrInvalidField) || !strings.Contains(err.Error(), "topicFilterType") {
		t.Fatalf("bad filter type: %v", err)
	}
}

func TestRegisterBrokerResponseOmitsEmpty(t *testing.T) {
	if m := (&RegisterBrokerResponseHeader{}).Encode(); len(m) != 0 {
		t.Fatalf("master response header = %v, want empty", m)
	}
}

func TestFieldErrorText(t *testing.T) {
	_, err := DecodeSendMessage(Map(map[string]string{"a": "g", "b": "T", "c": "TBW102", "d": "4", "e": "x"}), true)
	if want := `protocol: header field "e" (queueId) is not an int32: "x"`; err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	var h PullMessageHeader
	err = h.Decode(Map(map[string]string{}))
	if want := `protocol: missing required header field "consumerGroup"`; err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

// TestHotHeadersWriteSortedKeys: the headers of every send and pull, and of their answers,
// write their keys in strictly increasing order, which lets a receiver's Command.Lookup stop
// at the first match. The order is read from the JSON encoding of a frame.
func TestHotHeadersWriteSortedKeys(t *testing.T) {
	maxRe := int32(16)
	send := benchSendHeader
	send.MaxReconsumeTimes, send.BrokerName = &maxRe, "broker-a"
	for _, tc := range []struct {
		name string
		w    remoting.FieldWriter
	}{
		{"send v2", send.Fields(true)},
		{"send response", &SendMessageResponseHeader{MsgID: "m", QueueID: 1, QueueOffset: 2, TransactionID: "t", MsgRegion: "r", TraceOn: true}},
		{"pull", &PullMessageHeader{ConsumerGroup: "g", Topic: "T", Subscription: "*", ExpressionType: "TAG"}},
		{"pull response", &PullMessageResponseHeader{}},
	} {
		c := remoting.NewRequest(1, nil, nil)
		c.Fields = tc.w
		frame, err := remoting.AppendFrame(nil, c)
		if err != nil {
			t.Fatal(err)
		}
		hlen := int(binary.BigEndian.Uint32(frame[4:]) & 0xFFFFFF)
		var hdr struct{ ExtFields json.RawMessage }
		if err := json.Unmarshal(frame[8:8+hlen], &hdr); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		// The object's tokens: '{', then key and value in turn (every value a string), '}'.
		dec := json.NewDecoder(bytes.NewReader(hdr.ExtFields))
		var strs []string
		for i := 0; dec.More() || i == 0; i++ {
			tok, err := dec.Token()
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if s, ok := tok.(string); ok {
				strs = append(strs, s)
			}
		}
		var names []string // the keys: every other string
		for i := 0; i < len(strs); i += 2 {
			names = append(names, strs[i])
		}
		if len(names) < 4 || !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
			t.Errorf("%s writes its keys in the order %q, want strictly increasing", tc.name, names)
		}
	}
}
