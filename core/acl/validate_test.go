package acl

import (
	"errors"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/ternmq/tern/core/remoting"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testFile = `
globalWhiteRemoteAddresses:
  - 10.10.103.*
accounts:
  - accessKey: RocketMQ
    secretKey: 12345678
    whiteRemoteAddress:
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - topicA=DENY
      - topicB=PUB|SUB
      - topicC=SUB
      - topicD=PUB
    groupPerms:
      - groupA=DENY
      - groupB=PUB|SUB
  - accessKey: rocketmq2
    secretKey: 87654321
    whiteRemoteAddress: 192.168.1.*
    admin: true
  - accessKey: pubonly
    secretKey: pubonly-secret
    defaultTopicPerm: PUB
`

func testPolicy(t *testing.T) *Policy {
	t.Helper()
	p, err := Parse([]byte(testFile))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var secrets = map[string]string{"RocketMQ": "12345678", "rocketmq2": "87654321", "pubonly": "pubonly-secret"}

func signed(ak string, code int16, fields map[string]string, body string) Request {
	f := Sign(fields, Credentials{AccessKey: ak, SecretKey: secrets[ak]}, []byte(body))
	return Request{Code: code, Fields: f, Body: []byte(body), RemoteAddr: "127.0.0.1:50000"}
}

func TestValidate(t *testing.T) {
	p := testPolicy(t)
	hb := func(group, topic string) string {
		return `{"clientID":"c","producerDataSet":[],"consumerDataSet":[{"groupName":"` + group + `","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","subscriptionDataSet":[{"topic":"` + topic + `","subString":"*"}],"unitMode":false}]}`
	}
	tests := []struct {
		name   string
		req    Request
		denied string // "" allowed, else a substring of the remark
	}{
		{"send v1 to a PUB|SUB topic", signed("RocketMQ", remoting.SendMessage, map[string]string{"topic": "topicB"}, "x"), ""},
		{"send v2 to a PUB topic", signed("RocketMQ", remoting.SendMessageV2, map[string]string{"a": "pg", "b": "topicD"}, "x"), ""},
		{"batch send to a SUB topic", signed("RocketMQ", remoting.SendBatchMessage, map[string]string{"a": "pg", "b": "topicC"}, "x"), "on topic topicC: PUB permission needed, its permission is SUB"},
		{"send to a DENY topic", signed("RocketMQ", remoting.SendMessage, map[string]string{"topic": "topicA"}, "x"), "on topic topicA: PUB permission needed, its permission is DENY"},
		{"send to an unlisted topic: default DENY", signed("RocketMQ", remoting.SendMessage, map[string]string{"topic": "other"}, ""), "its defaultTopicPerm is DENY"},
		{"send to an unlisted topic: default PUB", signed("pubonly", remoting.SendMessage, map[string]string{"topic": "other"}, ""), ""},
		{"send to the trace topic", signed("RocketMQ", remoting.SendMessage, map[string]string{"topic": "RMQ_SYS_TRACE_TOPIC"}, ""), ""},
		{"send back to a SUB group", signed("RocketMQ", remoting.ConsumerSendMsgBack, map[string]string{"group": "groupX"}, ""), ""},
		{"send to a retry topic of a denied group", signed("RocketMQ", remoting.SendMessage, map[string]string{"topic": "%RETRY%groupA"}, ""), "on group groupA: SUB permission needed"},
		{"pull a SUB topic in a default group", signed("RocketMQ", remoting.PullMessage, map[string]string{"topic": "topicC", "consumerGroup": "g1"}, ""), ""},
		{"pull a PUB-only topic", signed("RocketMQ", remoting.PullMessage, map[string]string{"topic": "topicD", "consumerGroup": "g1"}, ""), "on topic topicD: SUB permission needed, its permission is PUB"},
		{"pull in a denied group", signed("RocketMQ", remoting.PullMessage, map[string]string{"topic": "topicC", "consumerGroup": "groupA"}, ""), "on group groupA"},
		{"default-group consumer cannot pull an unlisted topic", signed("pubonly", remoting.PullMessage, map[string]string{"topic": "other", "consumerGroup": "g"}, ""), "SUB permission needed, its defaultTopicPerm is PUB"},
		{"offset update in a denied group", signed("RocketMQ", remoting.UpdateConsumerOffset, map[string]string{"topic": "topicB", "consumerGroup": "groupA"}, ""), "on group groupA"},
		{"offset query", signed("RocketMQ", remoting.QueryConsumerOffset, map[string]string{"topic": "topicB", "consumerGroup": "groupB"}, ""), ""},
		{"consumer list of a denied group", signed("RocketMQ", remoting.GetConsumerListByGroup, map[string]string{"consumerGroup": "groupA"}, ""), "on group groupA"},
		{"heartbeat subscribing a SUB topic", signed("RocketMQ", remoting.HeartBeat, nil, hb("groupB", "topicC")), ""},
		{"heartbeat subscribing a DENY topic", signed("RocketMQ", remoting.HeartBeat, nil, hb("groupB", "topicA")), "on topic topicA"},
		{"heartbeat in a denied group", signed("RocketMQ", remoting.HeartBeat, nil, hb("groupA", "topicC")), "on group groupA"},
		{"heartbeat with a bad body", signed("RocketMQ", remoting.HeartBeat, nil, "{"), "heartbeat body"},
		{"create topic as a non-admin", signed("RocketMQ", remoting.UpdateAndCreateTopic, map[string]string{"topic": "topicB"}, ""), "admin permission needed"},
		{"delete subscription group as a non-admin", signed("RocketMQ", remoting.DeleteSubscriptionGroup, map[string]string{"groupName": "g"}, ""), "admin permission needed"},
		{"create topic as an admin", signed("rocketmq2", remoting.UpdateAndCreateTopic, map[string]string{"topic": "X"}, ""), ""},
		{"admin without perms may do anything", signed("rocketmq2", remoting.PullMessage, map[string]string{"topic": "X", "consumerGroup": "g"}, ""), ""},
		{"a read-only request needs only a signature", signed("RocketMQ", remoting.GetAllTopicConfig, nil, ""), ""},
		{"unsigned", Request{Code: remoting.SendMessage, Fields: map[string]string{"topic": "topicB"}, RemoteAddr: "127.0.0.1:1"}, "(no AccessKey) denied: the request is not signed"},
		{"unsigned from the global white list", Request{Code: remoting.UpdateAndCreateTopic, Fields: map[string]string{"topic": "T"}, RemoteAddr: "10.10.103.7:1"}, ""},
		{"unknown access key", signed("nobody1", remoting.SendMessage, map[string]string{"topic": "topicB"}, ""), `accessKey "nobody1"`},
		{"no signature", Request{Code: remoting.SendMessage, Fields: map[string]string{"topic": "topicB", "AccessKey": "RocketMQ"}, RemoteAddr: "127.0.0.1:1"}, "has no Signature"},
		{"account white address skips the signature", Request{Code: remoting.UpdateAndCreateTopic, Fields: map[string]string{"AccessKey": "rocketmq2"}, RemoteAddr: "192.168.1.20:1"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.Validate(tt.req)
			if tt.denied == "" {
				if err != nil {
					t.Fatalf("denied: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("allowed, want denied with %q", tt.denied)
			}
			if !strings.Contains(err.Error(), tt.denied) {
				t.Fatalf("remark %q, want it to contain %q", err, tt.denied)
			}
			var de *DeniedError
			if !errors.As(err, &de) || !errors.Is(err, remoting.ErrNoPermission) || de.Code != tt.req.Code {
				t.Fatalf("error %#v is not a DeniedError matching NO_PERMISSION", err)
			}
		})
	}
}

func TestValidateWrongSecret(t *testing.T) {
	p := testPolicy(t)
	r := signed("RocketMQ", remoting.SendMessage, map[string]string{"topic": "topicB"}, "x")
	r.Fields = Sign(r.Fields, Credentials{AccessKey: "RocketMQ", SecretKey: "wrong-secret"}, r.Body)
	err := p.Validate(r)
	if err == nil || !strings.Contains(err.Error(), `accessKey "RocketMQ"`) || !strings.Contains(err.Error(), "signature does not match") {
		t.Fatalf("err = %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, file, want string }{
		{"unknown key", "accounts:\n  - accessKey: abcdefg\n    secretKey: abcdefg\n    topicPerm: [a=PUB]\n", "topicPerm"},
		{"short secret", "accounts:\n  - accessKey: abcdefg\n    secretKey: abc\n", "at least 6"},
		{"bad permission", "accounts:\n  - accessKey: abcdefg\n    secretKey: abcdefg\n    topicPerms: [a=WRITE]\n", `"WRITE"`},
		{"no permission", "accounts:\n  - accessKey: abcdefg\n    secretKey: abcdefg\n    groupPerms: [a]\n", "name=PERM"},
		{"bad default", "accounts:\n  - accessKey: abcdefg\n    secretKey: abcdefg\n    defaultTopicPerm: ALL\n", "defaultTopicPerm"},
		{"duplicate key", "accounts:\n  - {accessKey: abcdefg, secretKey: abcdefg}\n  - {accessKey: abcdefg, secretKey: abcdefh}\n", "twice"},
		{"bad global address", "globalWhiteRemoteAddresses: [1.2.3]\n", "globalWhiteRemoteAddresses"},
		{"bad account address", "accounts:\n  - {accessKey: abcdefg, secretKey: abcdefg, whiteRemoteAddress: 1.2.3.999}\n", "1.2.3.999"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.file))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
	if p, err := Parse(nil); err != nil || p.Accounts() != 0 {
		t.Fatalf("empty file: %v", err)
	}
	if _, err := Parse([]byte("dataVersion:\n  - {counter: 1, timestamp: 2}\naccounts: []\n")); err != nil {
		t.Fatalf("dataVersion: %v", err)
	}
}

func TestPermAllows(t *testing.T) {
	tests := []struct {
		owned, need Perm
		want        bool
	}{
		{Pub, Pub, true}, {Sub, Pub, false}, {Pub | Sub, Sub, true}, {Deny, Pub, false},
		{Deny | Pub, Pub, false}, {Sub, Any, true}, {Deny, Any, false},
	}
	for _, tt := range tests {
		if got := tt.owned.Allows(tt.need); got != tt.want {
			t.Errorf("%v allows %v = %v", tt.owned, tt.need, got)
		}
	}
}

func TestAddrPatterns(t *testing.T) {
	tests := []struct {
		pattern string
		match   []string
		miss    []string
	}{
		{"", nil, []string{"127.0.0.1", "10.0.0.1"}},
		{"*", []string{"127.0.0.1", "::1", "not-an-ip"}, nil},
		{"*.*.*.*", []string{"1.2.3.4"}, nil},
		{"192.168.0.1", []string{"192.168.0.1", "192.168.0.1:4567", "[::ffff:192.168.0.1]:4567"}, []string{"192.168.0.2", "192.168.0.10"}},
		{"192.168.0.*", []string{"192.168.0.0", "192.168.0.255:1"}, []string{"192.168.1.1"}},
		{"10.10.*.*", []string{"10.10.7.9"}, []string{"10.11.0.1"}},
		{"192.168.1.1-10", []string{"192.168.1.1", "192.168.1.10"}, []string{"192.168.1.0", "192.168.1.11", "192.168.2.5"}},
		{"10.1-2.*.*", []string{"10.2.200.3"}, []string{"10.3.0.0"}},
		{"192.168.1.{1,5,9}", []string{"192.168.1.5"}, []string{"192.168.1.6"}},
		{"127.0.0.1,10.0.0.2", []string{"10.0.0.2:9"}, []string{"10.0.0.3"}},
		{"::1", []string{"[::1]:80", "0:0:0:0:0:0:0:1"}, []string{"127.0.0.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			p, err := parseAddrPattern(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range tt.match {
				if !p.match(remoteIP(a)) {
					t.Errorf("%q does not match %s", tt.pattern, a)
				}
			}
			for _, a := range tt.miss {
				if p.match(remoteIP(a)) {
					t.Errorf("%q matches %s", tt.pattern, a)
				}
			}
		})
	}
}

func TestAddrPatternErrors(t *testing.T) {
	for _, s := range []string{"192.168.1", "192.168.1.300", "192.168.1.10-1", "192.168.1.-1", "1.2.3.a", "fe80::1-2", "1.2.3.{1,x}", "host.example", "1.2.3.4,nope"} {
		t.Run(s, func(t *testing.T) {
			if _, err := parseAddrPattern(s); err == nil {
				t.Fatalf("%q accepted", s)
			}
		})
	}
}
