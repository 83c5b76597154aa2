package protocol

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// goHeartbeat is the exact Go v2.1.2 heartbeat of §3.2.
const goHeartbeat = `{"clientID":"10.0.0.1@1234","producerDataSet":[{"groupName":"pg"}],"consumerDataSet":[{"groupName":"cg","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","subscriptionDataSet":[{"classFilterMode":false,"topic":"T","subString":"TagA || TagB","tagsSet":["TagA","TagB"],"codeSet":["2598919","2598920"],"subVersion":1700000000000000000,"expressionType":"TAG"},{"classFilterMode":false,"topic":"%RETRY%cg","subString":"*","tagsSet":[],"codeSet":[],"subVersion":1,"expressionType":"TAG"}],"unitMode":false}]}`

// javaHeartbeat is a Java 4.x client's heartbeat: numeric codeSet, alphabetical keys.
const javaHeartbeat = `{"clientID":"10.0.0.2@5678","consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET","consumeType":"CONSUME_ACTIVELY","groupName":"cg2","messageModel":"BROADCASTING","subscriptionDataSet":[{"classFilterMode":false,"codeSet":[2598919,-1],"expressionType":"TAG","subString":"TagA","subVersion":1700000000000,"tagsSet":["TagA"],"topic":"T"}],"unitMode":false}],"producerDataSet":[{"groupName":"CLIENT_INNER_PRODUCER"}]}`

func TestHeartbeatGo(t *testing.T) {
	h, err := DecodeHeartbeat([]byte(goHeartbeat))
	if err != nil {
		t.Fatal(err)
	}
	want := &HeartbeatData{
		ClientID:        "10.0.0.1@1234",
		ProducerDataSet: []ProducerData{{GroupName: "pg"}},
		ConsumerDataSet: []ConsumerData{{
			GroupName: "cg", ConsumeType: ConsumePassively, MessageModel: Clustering, ConsumeFromWhere: ConsumeFromLastOffset,
			SubscriptionDataSet: []SubscriptionData{
				{Topic: "T", SubString: "TagA || TagB", TagsSet: []string{"TagA", "TagB"}, CodeSet: CodeSet{2598919, 2598920}, SubVersion: 1700000000000000000, ExpressionType: ExpressionTag},
				{Topic: "%RETRY%cg", SubString: "*", TagsSet: []string{}, CodeSet: CodeSet{}, SubVersion: 1, ExpressionType: ExpressionTag},
			},
		}},
	}
	if !reflect.DeepEqual(h, want) {
		t.Fatalf("got  %+v\nwant %+v", h, want)
	}
	// The codes the Go client sent equal Java's hash for these ASCII tags.
	if got := NewSubscriptionData("T", "TagA || TagB", "").CodeSet; !reflect.DeepEqual(got, CodeSet{2598919, 2598920}) {
		t.Fatalf("codes = %v", got)
	}
	// Round trip through Tern's encoding (numeric codes, alphabetical keys).
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"codeSet":[2598919,2598920]`) || !strings.Contains(string(b), `"codeSet":[]`) {
		t.Fatalf("encoding: %s", b)
	}
	back, err := DecodeHeartbeat(b)
	if err != nil || !reflect.DeepEqual(back, want) {
		t.Fatalf("round trip: %+v %v", back, err)
	}
}

func TestHeartbeatJava(t *testing.T) {
	h, err := DecodeHeartbeat([]byte(javaHeartbeat))
	if err != nil {
		t.Fatal(err)
	}
	c := h.ConsumerDataSet[0]
	if c.MessageModel != Broadcasting || c.ConsumeType != ConsumeActively || c.ConsumeFromWhere != ConsumeFromFirstOffset {
		t.Fatalf("consumer = %+v", c)
	}
	if s := c.SubscriptionDataSet[0]; !reflect.DeepEqual(s.CodeSet, CodeSet{2598919, -1}) || s.SubVersion != 1700000000000 {
		t.Fatalf("subscription = %+v", s)
	}
}

func TestHeartbeatEmptyNeverNull(t *testing.T) {
	b, err := json.Marshal(HeartbeatData{ClientID: "c", ConsumerDataSet: []ConsumerData{{GroupName: "g", SubscriptionDataSet: []SubscriptionData{{Topic: "T"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "null") {
		t.Fatalf("%s", b)
	}
	if b, _ := json.Marshal(HeartbeatData{ClientID: "c"}); string(b) != `{"clientID":"c","consumerDataSet":[],"producerDataSet":[]}` {
		t.Fatalf("%s", b)
	}
}

func TestCodeSetDecode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want CodeSet
		ok   bool
	}{
		{`["1","-2"]`, CodeSet{1, -2}, true},
		{`[1,-2]`, CodeSet{1, -2}, true},
		{`["1",2]`, CodeSet{1, 2}, true},
		{`[]`, CodeSet{}, true},
		{`null`, nil, true},
		{`["x"]`, nil, false},
		{`[2147483648]`, nil, false},
		{`[1.5]`, nil, false},
		{`[true]`, nil, false},
		{`{}`, nil, false},
	} {
		var c CodeSet
		err := json.Unmarshal([]byte(tc.in), &c)
		if (err == nil) != tc.ok || (tc.ok && !reflect.DeepEqual(c, tc.want)) {
			t.Errorf("%s: %v %v, want %v ok=%v", tc.in, c, err, tc.want, tc.ok)
		}
	}
}

func TestSubscriptionData(t *testing.T) {
	s := NewSubscriptionData("T", "标签 || TagA", "")
	if s.ExpressionType != ExpressionTag || !reflect.DeepEqual(s.TagsSet, []string{"标签", "TagA"}) {
		t.Fatalf("%+v", s)
	}
	// Java String.hashCode("标签") = 26631*31 + 31614 = 857175.
	if s.CodeSet[0] != 857175 || s.CodeSet[1] != 2598919 {
		t.Fatalf("codes %v", s.CodeSet)
	}
	all := NewSubscriptionData("T", "", ExpressionTag)
	if all.SubString != SubAll || len(all.TagsSet) != 0 || len(all.CodeSet) != 0 {
		t.Fatalf("%+v", all)
	}
	sql := NewSubscriptionData("T", "a > 5", ExpressionSQL92)
	if sql.SubString != "a > 5" || len(sql.CodeSet) != 0 || len(sql.TagsSet) != 0 {
		t.Fatalf("%+v", sql)
	}
	// As Java's FilterAPI: " * " is the tag "*", and an expression of separators only is kept
	// as is with no tags (the broker refuses it).
	if star := NewSubscriptionData("T", " * ", ""); !reflect.DeepEqual(star.TagsSet, []string{"*"}) {
		t.Fatalf("%+v", star)
	}
	if bad := NewSubscriptionData("T", "||", ""); bad.SubString != "||" || len(bad.TagsSet) != 0 {
		t.Fatalf("%+v", bad)
	}
}

func TestTopics(t *testing.T) {
	if RetryTopic("g") != "%RETRY%g" || DLQTopic("g") != "%DLQ%g" || ReplyTopic("c") != "c_REPLY_TOPIC" {
		t.Fatal("topic names")
	}
	if GroupOfRetryTopic("%RETRY%g") != "g" || GroupOfRetryTopic("%DLQ%g") != "g" || GroupOfRetryTopic("T") != "" {
		t.Fatal("GroupOfRetryTopic")
	}
	for topic, want := range map[string]bool{
		"TBW102": true, "SCHEDULE_TOPIC_XXXX": true, "RMQ_SYS_TRANS_HALF_TOPIC": true, "RMQ_SYS_TRANS_OP_HALF_TOPIC": true,
		"TRANS_CHECK_MAX_TIME_TOPIC": true, "RMQ_SYS_TRACE_TOPIC": true, "SELF_TEST_TOPIC": true, "OFFSET_MOVED_EVENT": true,
		"BenchmarkTest": true, "DefaultCluster_REPLY_TOPIC": true, "rmq_sys_TRACE_DATA_x": true,
		"T": false, "%RETRY%g": false, "%DLQ%g": false,
	} {
		if IsSystemTopic(topic) != want {
			t.Errorf("IsSystemTopic(%q) != %v", topic, want)
		}
	}
	if !IsNotAllowedSendTopic(ScheduleTopic) || IsNotAllowedSendTopic("T") || IsNotAllowedSendTopic(TraceTopic) {
		t.Error("IsNotAllowedSendTopic")
	}
	for topic, ok := range map[string]bool{"T": true, "%RETRY%g-1_x": true, "a|b": true, "": false, "a b": false, "a.b": false, strings.Repeat("a", 127): true, strings.Repeat("a", 128): false} {
		if err := ValidateTopic(topic); (err == nil) != ok {
			t.Errorf("ValidateTopic(%q) = %v", topic, err)
		}
	}
	if !IsReadable(6) || !IsWriteable(6) || IsInherited(6) || !IsInherited(7) || IsWriteable(PermRead) {
		t.Error("perm")
	}
}

func sampleRegisterBody() RegisterBrokerBody {
	return RegisterBrokerBody{
		FilterServerList: []string{},
		TopicConfigSerializeWrapper: TopicConfigSerializeWrapper{
			DataVersion: DataVersion{Timestamp: 1700000000000, Counter: 3},
			TopicConfigTable: map[string]TopicConfig{
				"T":      {TopicName: "T", ReadQueueNums: 4, WriteQueueNums: 4, Perm: 6, TopicFilterType: SingleTag},
				"TBW102": {TopicName: "TBW102", ReadQueueNums: 8, WriteQueueNums: 8, Perm: 7, TopicFilterType: SingleTag},
			},
		},
	}
}

func TestRegisterBrokerBody(t *testing.T) {
	// The doc's sample body decodes.
	doc := `{"topicConfigSerializeWrapper":{"topicConfigTable":{"T":{"topicName":"T","readQueueNums":4,"writeQueueNums":4,"perm":6,"topicFilterType":"SINGLE_TAG","topicSysFlag":0,"order":false}},"dataVersion":{"timestamp":1700000000000,"counter":3}},"filterServerList":[]}`
	b, err := DecodeRegisterBrokerBody([]byte(doc), false)
	if err != nil {
		t.Fatal(err)
	}
	if tc := b.TopicConfigSerializeWrapper.TopicConfigTable["T"]; tc.WriteQueueNums != 4 || tc.Perm != 6 || b.TopicConfigSerializeWrapper.DataVersion.Counter != 3 {
		t.Fatalf("%+v", b)
	}
	want := sampleRegisterBody()
	for _, compressed := range []bool{false, true} {
		enc, err := want.Encode(compressed)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeRegisterBrokerBody(enc, compressed)
		if err != nil {
			t.Fatalf("compressed=%v: %v", compressed, err)
		}
		if !reflect.DeepEqual(*got, want) {
			t.Fatalf("compressed=%v:\n got %+v\nwant %+v", compressed, *got, want)
		}
	}
	// Empty body: empty table.
	if got, err := DecodeRegisterBrokerBody(nil, false); err != nil || len(got.TopicConfigSerializeWrapper.TopicConfigTable) != 0 {
		t.Fatal(got, err)
	}
	// An empty table encodes as {}.
	enc, _ := (&RegisterBrokerBody{}).Encode(false)
	if string(enc) != `{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":0,"timestamp":0},"topicConfigTable":{}}}` {
		t.Fatalf("%s", enc)
	}
}

func TestRegisterBrokerBodyCompressedErrors(t *testing.T) {
	deflate := func(raw []byte) []byte {
		var b bytes.Buffer
		w := zlib.NewWriter(&b)
		w.Write(raw)
		w.Close()
		return b.Bytes()
	}
	u32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	dv := []byte(`{"counter":1,"timestamp":2}`)
	good := append(append(append(u32(uint32(len(dv))), dv...), u32(1)...), append(u32(13), "T 4 4 6 SINGLE_TAG"[:13]...)...)
	for name, body := range map[string][]byte{
		"not zlib":     []byte("{}"),
		"truncated":    deflate(good[:10]),
		"huge length":  deflate(u32(1 << 30)),
		"bad topic":    deflate(append(append(append(u32(uint32(len(dv))), dv...), u32(1)...), append(u32(3), "T 4"...)...)),
		"no filter sv": deflate(good),
	} {
		if _, err := DecodeRegisterBrokerBody(body, true); !errors.Is(err, ErrBadJSON) {
			t.Errorf("%s: %v, want ErrBadJSON", name, err)
		}
	}
}

func TestBodyCRC32(t *testing.T) {
	// CRC-32 IEEE of "123456789" is 0xCBF43926; masked to 31 bits.
	if got := BodyCRC32([]byte("123456789")); got != 0x4BF43926 {
		t.Fatalf("BodyCRC32 = %#x", got)
	}
}

func TestDataVersionNext(t *testing.T) {
	var d DataVersion
	d.Next(time.UnixMilli(5))
	if d != (DataVersion{Counter: 1, Timestamp: 5}) {
		t.Fatal(d)
	}
}

func TestConsumerBodies(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{ConsumerListBody{}, `{"consumerIdList":[]}`},
		{ConsumerListBody{ConsumerIDList: []string{"10.0.0.1@1"}}, `{"consumerIdList":["10.0.0.1@1"]}`},
		{LockBatchRequestBody{ConsumerGroup: "cg", ClientID: "c", MQSet: []MessageQueue{{Topic: "T", BrokerName: "broker-a"}}},
			`{"clientId":"c","consumerGroup":"cg","mqSet":[{"brokerName":"broker-a","queueId":0,"topic":"T"}]}`},
		{UnlockBatchRequestBody{ConsumerGroup: "cg", ClientID: "c"}, `{"clientId":"c","consumerGroup":"cg","mqSet":[]}`},
		{LockBatchResponseBody{LockOKMQSet: []MessageQueue{{Topic: "T", BrokerName: "broker-a", QueueID: 1}}},
			`{"lockOKMQSet":[{"brokerName":"broker-a","queueId":1,"topic":"T"}]}`},
		{LockBatchResponseBody{}, `{"lockOKMQSet":[]}`},
		{ConsumerConnection{}, `{"connectionSet":[],"consumeFromWhere":"","consumeType":"","messageModel":"","subscriptionTable":{}}`},
		{SubscriptionGroupWrapper{}, `{"dataVersion":{"counter":0,"timestamp":0},"subscriptionGroupTable":{}}`},
		{KVTable{}, `{"table":{}}`},
	} {
		b, err := json.Marshal(tc.v)
		if err != nil || string(b) != tc.want {
			t.Errorf("%T: got %s %v\nwant %s", tc.v, b, err, tc.want)
		}
	}
	// The Go client's lock request decodes.
	var req LockBatchRequestBody
	if err := Unmarshal([]byte(`{"consumerGroup":"cg","clientId":"c","mqSet":[{"topic":"T","brokerName":"broker-a","queueId":0}]}`), &req); err != nil ||
		!reflect.DeepEqual(req.MQSet, []MessageQueue{{Topic: "T", BrokerName: "broker-a"}}) {
		t.Fatalf("%+v %v", req, err)
	}
	// A consumer connection round trips.
	cc := ConsumerConnection{
		ConnectionSet:     []Connection{{ClientID: "c@1", ClientAddr: "1.2.3.4:5", Language: "GO", Version: 317}},
		ConsumeType:       ConsumePassively,
		MessageModel:      Clustering,
		ConsumeFromWhere:  ConsumeFromLastOffset,
		SubscriptionTable: map[string]SubscriptionData{"T": NewSubscriptionData("T", "a||b", ExpressionTag)},
	}
	b, _ := json.Marshal(cc)
	var back ConsumerConnection
	if err := Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, cc) {
		t.Fatalf("%+v %v", back, err)
	}
	g := NewSubscriptionGroupConfig("g")
	if g.RetryMaxTimes != 16 || g.RetryQueueNums != 1 || !g.ConsumeEnable {
		t.Fatal(g)
	}
}

func TestMessageQueueCompare(t *testing.T) {
	a := MessageQueue{Topic: "A", BrokerName: "b", QueueID: 1}
	for _, b := range []MessageQueue{{Topic: "B"}, {Topic: "A", BrokerName: "c"}, {Topic: "A", BrokerName: "b", QueueID: 2}} {
		if a.Compare(b) >= 0 || b.Compare(a) <= 0 {
			t.Errorf("%v vs %v", a, b)
		}
	}
	if a.Compare(a) != 0 {
		t.Error("self")
	}
}

func TestConsumeStats(t *testing.T) {
	s := ConsumeStats{
		ConsumeTPS: 1.5,
		OffsetTable: map[MessageQueue]OffsetWrapper{
			{Topic: "T", BrokerName: "b", QueueID: 1}: {BrokerOffset: 10, ConsumerOffset: 5, LastTimestamp: 7},
			{Topic: "T", BrokerName: "b", QueueID: 0}: {BrokerOffset: 3},
		},
	}
	enc := s.Encode()
	want := `{"consumeTps":1.5,"offsetTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{"brokerOffset":3,"consumerOffset":0,"lastTimestamp":0},{"brokerName":"b","queueId":1,"topic":"T"}:{"brokerOffset":10,"consumerOffset":5,"lastTimestamp":7}}}`
	if string(enc) != want {
		t.Fatalf("got  %s\nwant %s", enc, want)
	}
	var back ConsumeStats
	if err := back.Decode(enc); err != nil || !reflect.DeepEqual(back, s) {
		t.Fatalf("%+v %v", back, err)
	}
	// Standard JSON with stringified keys decodes too.
	std := `{"consumeTps":1.5,"offsetTable":{"{\"brokerName\":\"b\",\"queueId\":1,\"topic\":\"T\"}":{"brokerOffset":10,"consumerOffset":5,"lastTimestamp":7},"{\"topic\":\"T\",\"brokerName\":\"b\",\"queueId\":0}":{"brokerOffset":3}}}`
	if err := back.Decode([]byte(std)); err != nil || !reflect.DeepEqual(back, s) {
		t.Fatalf("std: %+v %v", back, err)
	}
	// Empty stats are valid JSON; Java writes doubles with a fraction.
	if e := (&ConsumeStats{}).Encode(); string(e) != `{"consumeTps":0.0,"offsetTable":{}}` || !json.Valid(e) {
		t.Fatalf("%s", e)
	}
	if err := back.Decode([]byte(`{"offsetTable":{"T":{}}}`)); !errors.Is(err, ErrBadJSON) {
		t.Fatalf("bad key: %v", err)
	}
}

// goClientResetOffsets mimics the Go v2.1.2 client's parser of a non-JSON reset-offset body
// (internal/model.go parseFastJsonFormat): strip "{{" and "}", split on ",{", then on "}:".
func goClientResetOffsets(t *testing.T, body []byte) map[MessageQueue]int64 {
	t.Helper()
	s := string(body)
	s = strings.TrimPrefix(s, `{"offsetTable":`)
	s = strings.TrimSuffix(s, "}")
	out := map[MessageQueue]int64{}
	for _, v := range strings.Split(s[2:len(s)-1], ",{") {
		tuple := strings.Split(v, "}:")
		var q MessageQueue
		if err := json.Unmarshal([]byte("{"+tuple[0]+"}"), &q); err != nil {
			t.Fatalf("queue %q: %v", tuple[0], err)
		}
		var off int64
		if err := json.Unmarshal([]byte(tuple[1]), &off); err != nil {
			t.Fatalf("offset %q: %v", tuple[1], err)
		}
		out[q] = off
	}
	return out
}

func TestResetOffsetBody(t *testing.T) {
	b := ResetOffsetBody{OffsetTable: map[MessageQueue]int64{{Topic: "T", BrokerName: "b", QueueID: 0}: 5, {Topic: "T", BrokerName: "b", QueueID: 1}: 6}}
	enc := b.Encode()
	if json.Valid(enc) {
		t.Fatal("the Go client only parses the fastjson form when the body is not valid JSON")
	}
	if got := goClientResetOffsets(t, enc); !reflect.DeepEqual(got, b.OffsetTable) {
		t.Fatalf("Go client reads %v from %s", got, enc)
	}
	var back ResetOffsetBody
	if err := back.Decode(enc); err != nil || !reflect.DeepEqual(back, b) {
		t.Fatalf("%+v %v", back, err)
	}
}

func TestNormalizeFastJSON(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{0:"a:1"}`, `{"0":"a:1"}`},
		{`{ -1 : "x" , abc:[1, 2]}`, `{"-1":"x","abc":[1,2]}`},
		{`{{"a":1}:2}`, `{"{\"a\":1}":2}`},
		{`{{"a":{0:"x"}}:2}`, `{"{\"a\":{\"0\":\"x\"}}":2}`},
		{`{[1,2]:3}`, `{"[1,2]":3}`},
		{`{"s":"a\"b\\","t":true,"n":null}`, `{"s":"a\"b\\","t":true,"n":null}`},
		{`[]`, `[]`},
		{` {} `, `{}`},
	} {
		got, err := NormalizeFastJSON([]byte(tc.in))
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: got %s %v, want %s", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{``, `{`, `{0}`, `{0:}`, `{"a":1,}`, `[1 2]`, `{"a":1}x`, `"abc`, `{:1}`, `{0:"a"`, strings.Repeat("[", 1000) + strings.Repeat("]", 1000), `{"a":tru}`} {
		if _, err := NormalizeFastJSON([]byte(bad)); !errors.Is(err, ErrBadJSON) {
			t.Errorf("%q: %v, want ErrBadJSON", bad, err)
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\`, "\n\r\t\x00\x1f", "<&>", "标签😀", "\u2028\u2029", "\xff"} {
		got := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%q -> %s: %v", s, got, err)
		}
		if want := strings.ToValidUTF8(s, "\uFFFD"); back != want {
			t.Errorf("%q -> %s -> %q", s, got, back)
		}
	}
}
