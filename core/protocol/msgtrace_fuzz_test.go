package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/ternmq/tern/core/internal/fuzzcorpus"
)

// The seeds of FuzzTraceMessageHeader and FuzzMessageTrace, kept as testdata/fuzz files like
// the others of this package (see fuzz_test.go). Regenerate them with:
//
//	go test ./core/protocol/ -run '^TestMsgTraceFuzzCorpus$' -update-corpus

func msgTraceFuzzSeeds() map[string]map[string][]any {
	trace := MessageTrace{
		BrokerName: "broker-a", BrokerAddr: "127.0.0.1:10911", Now: 1_700_000_000_500, PullsSince: 1_700_000_000_000,
		Messages: []MessageLife{{
			MsgID: "7F0000015B63DCC10A856D55BB040000", Topic: "Orders", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
			Records: []TracedRecord{{
				Role: TraceRoleTimer, Topic: "rmq_sys_wheel_timer", QueueOffset: 3, CommitLogOffset: 4096, OffsetMsgID: "7F00000100002A9F0000000000001000",
				StoreHost: "127.0.0.1:10911", StoreTime: 1, BornHost: "127.0.0.1:5000", BornTime: 1, Size: 200, Tags: "TagA", Keys: "k1 k2",
				Wait: &TraceWait{Destination: "Orders", Due: 5, State: TraceFired, FiredAt: 6},
			}, {
				Role: TraceRoleMessage, Topic: "Orders", QueueID: 2, TimerOut: 5,
				Groups: []TraceGroup{{Group: "g", Subscription: "*", ExpressionType: "TAG", MessageModel: "CLUSTERING", Online: []string{"c1"},
					CommittedOffset: -1, LockedBy: "c1", Pulls: []TracePull{{ClientID: "c1", RemoteAddr: "1.2.3.4:5", At: 9, From: 0, Next: 4, Delivered: true, PulledPast: true}}}},
			}},
			Transaction: &TraceTransaction{ProducerGroup: "p", HalfOffset: 1, Checks: 2, State: TraceTxCommitted},
		}},
		Notes: []string{"the message index is disabled"},
	}
	golden, _ := json.Marshal(trace)
	return map[string]map[string][]any{
		"FuzzTraceMessageHeader": {
			"msg-id":     {"msgId=7F0000015B63DCC10A856D55BB040000\n"},
			"key":        {"key=order-1\ntopic=Orders\nmaxNum=3\n"},
			"both":       {"msgId=ID\nkey=K\ntopic=T\n"},
			"no-topic":   {"key=K\n"},
			"bad-max":    {"key=K\ntopic=T\nmaxNum=99999999999\n"},
			"neg-max":    {"key=K\ntopic=T\nmaxNum=-1\n"},
			"empty-vals": {"msgId=\nkey=\ntopic=\nmaxNum=0\n"},
		},
		"FuzzMessageTrace": {
			"golden":    {golden},
			"empty":     {[]byte(`{}`)},
			"nulls":     {[]byte(`{"messages":null,"notes":[],"brokerName":null}`)},
			"truncated": {golden[:len(golden)/2]},
			"types":     {[]byte(`{"now":"1","messages":[{"records":[{"size":1e3}]}]}`)},
			"fastjson":  {[]byte(`{brokerName:"b",messages:[{msgId:"x",records:[]}]}`)},
			"unicode":   {[]byte(`{"brokerName":"\ud800\u00e9","notes":["\u2028"]}`)},
		},
	}
}

func TestMsgTraceFuzzCorpus(t *testing.T) {
	for target, seeds := range msgTraceFuzzSeeds() {
		files := make(map[string][]byte, len(seeds))
		for name, vals := range seeds {
			files[name] = fuzzcorpus.Marshal(vals...)
		}
		fuzzcorpus.Check(t, target, files)
	}
}

// FuzzTraceMessageHeader decodes arbitrary extFields (key=value lines): an error is a
// FieldError naming its field; a header that decodes encodes to fields that decode to it,
// and it is one a broker can act on (exactly one of msgId and key, a topic with a key, a
// non-negative maxNum).
func FuzzTraceMessageHeader(f *testing.F) {
	f.Fuzz(func(t *testing.T, lines string) {
		fields := map[string]string{}
		for l := range strings.SplitSeq(lines, "\n") {
			if k, v, ok := strings.Cut(l, "="); ok {
				fields[k] = v
			}
		}
		var h TraceMessageHeader
		if err := h.Decode(Map(fields)); err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), fe.Field) {
				t.Fatalf("error %v", err)
			}
			return
		}
		if (h.MsgID == "") == (h.Key == "") || h.Key != "" && h.Topic == "" || h.MaxNum < 0 {
			t.Fatalf("accepted %+v", h)
		}
		enc := h.Encode()
		var again TraceMessageHeader
		if err := again.Decode(Map(enc)); err != nil || again != h {
			t.Fatalf("round trip %+v -> %v -> %+v (%v)", h, enc, again, err)
		}
		if !maps.Equal(again.Encode(), enc) {
			t.Fatal("unstable encoding")
		}
	})
}

// FuzzMessageTrace decodes arbitrary bytes as the TRACE_MESSAGE answer, as `tern admin
// trace` does (encoding/json) and as the fastjson-tolerant Unmarshal does. Whatever decodes
// re-encodes to JSON that decodes and encodes the same; the two decoders agree on valid JSON.
func FuzzMessageTrace(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var std MessageTrace
		stdErr := json.Unmarshal(data, &std)
		var tol MessageTrace
		tolErr := Unmarshal(data, &tol)
		if tolErr != nil && !errors.Is(tolErr, ErrBadJSON) {
			t.Fatalf("Unmarshal: unexpected error %v", tolErr)
		}
		if stdErr == nil {
			if tolErr != nil {
				t.Fatalf("json.Unmarshal accepts %q, Unmarshal does not: %v", data, tolErr)
			}
			a, _ := json.Marshal(std)
			b, _ := json.Marshal(tol)
			if !bytes.Equal(a, b) {
				t.Fatalf("the decoders disagree:\n%s\n%s", a, b)
			}
		}
		if tolErr != nil {
			return
		}
		enc, err := json.Marshal(tol)
		if err != nil {
			t.Fatal(err)
		}
		var again MessageTrace
		if err := json.Unmarshal(enc, &again); err != nil {
			t.Fatalf("re-decode of %s: %v", enc, err)
		}
		if enc2, _ := json.Marshal(again); !bytes.Equal(enc, enc2) {
			t.Fatalf("unstable:\n%s\n%s", enc, enc2)
		}
	})
}
