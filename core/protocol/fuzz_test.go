package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"strings"
	"testing"

	"github.com/ternmq/tern/core/internal/fuzzcorpus"
)

// Seed corpora live in testdata/fuzz/<FuzzName>/seed-*. Regenerate them after changing the
// seeds below with:
//
//	go test ./core/protocol/ -run '^TestFuzzCorpus$' -update-corpus
//
// Other files in those directories are inputs the fuzzer found; keep them. Anchor the name
// when fuzzing:
//
//	go test ./core/protocol/ -run '^$' -fuzz '^FuzzUnmarshalRoute$' -fuzztime 20s

func fuzzSeeds() map[string]map[string][]any {
	compressed, _ := func() ([]byte, error) { b := sampleRegisterBody(); return b.Encode(true) }()
	plain, _ := func() ([]byte, error) { b := sampleRegisterBody(); return b.Encode(false) }()
	stats := (&ConsumeStats{ConsumeTPS: 2, OffsetTable: map[MessageQueue]OffsetWrapper{{Topic: "T", BrokerName: "b"}: {BrokerOffset: 1}}}).Encode()
	send := func(v2 bool) string {
		var b strings.Builder
		m := sendSample().Encode(v2)
		for _, k := range sortedKeys(m) {
			b.WriteString(k + "=" + m[k] + "\n")
		}
		return b.String()
	}
	return map[string]map[string][]any{
		"FuzzUnmarshalRoute": {
			"golden":     {[]byte(goldenRoute)},
			"unquoted":   {[]byte(`{"brokerDatas":[{"brokerAddrs":{0:"10.0.0.5:10911",1:"10.0.0.6:10911"},"brokerName":"broker-a","cluster":"c"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSynFlag":0,"writeQueueNums":4}]}`)},
			"null-addrs": {[]byte(`{"brokerDatas":[{"brokerAddrs":null}],"queueDatas":null,"orderTopicConf":"a:4"}`)},
			"empty":      {[]byte(`{}`)},
			"truncated":  {[]byte(goldenRoute[:40])},
			"bad-id":     {[]byte(`{"brokerDatas":[{"brokerAddrs":{x:"a"}}]}`)},
		},
		"FuzzDecodeHeartbeat": {
			"go":        {[]byte(goHeartbeat)},
			"java":      {[]byte(javaHeartbeat)},
			"empty":     {[]byte(`{"clientID":"c"}`)},
			"bad-code":  {[]byte(`{"consumerDataSet":[{"subscriptionDataSet":[{"codeSet":["x"]}]}]}`)},
			"truncated": {[]byte(goHeartbeat[:100])},
		},
		"FuzzNormalizeFastJSON": {
			"keys":       {[]byte(`{0:"a",{"b":1}:[1,{2:3}],"s":"x\"y"}`)},
			"plain":      {[]byte(`{"a":[true,false,null,1.5e3]}`)},
			"stats":      {stats},
			"bad":        {[]byte(`{"a":}`)},
			"deep":       {[]byte(strings.Repeat("[", 300))},
			"whitespace": {[]byte(" { a : 1 } ")},
		},
		"FuzzDecodeRegisterBrokerBody": {
			"json":       {plain, false},
			"compressed": {compressed, true},
			"corrupt":    {compressed[:len(compressed)/2], true},
			"not-zlib":   {plain, true},
		},
		"FuzzDecodeConsumeStats": {
			"tern":  {stats},
			"empty": {[]byte(`{"consumeTps":0.0,"offsetTable":{}}`)},
			"std":   {[]byte(`{"offsetTable":{"{\"topic\":\"T\"}":{"brokerOffset":1}}}`)},
		},
		"FuzzDecodeSendMessage": {
			"v1":      {send(false), false},
			"v2":      {send(true), true},
			"missing": {"a=g\nb=T\n", true},
			"bad-num": {"a=g\nb=T\nc=TBW102\nd=x\n", true},
		},
	}
}

func TestFuzzCorpus(t *testing.T) {
	for target, seeds := range fuzzSeeds() {
		files := make(map[string][]byte, len(seeds))
		for name, vals := range seeds {
			files[name] = fuzzcorpus.Marshal(vals...)
		}
		fuzzcorpus.Check(t, target, files)
	}
}

// checkNoNull fails if an encoded body holds a JSON null (clients need [] and {}).
func checkNoNull(t *testing.T, b []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("encoding is not JSON: %v: %s", err, b)
	}
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case nil:
			t.Fatalf("null in %s", b)
		case map[string]any:
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(v)
}

func FuzzUnmarshalRoute(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var r TopicRouteData
		if err := Unmarshal(data, &r); err != nil {
			if !errors.Is(err, ErrBadJSON) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		enc, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		checkNoNull(t, enc)
		var again TopicRouteData
		if err := Unmarshal(enc, &again); err != nil {
			t.Fatalf("re-decode of %s: %v", enc, err)
		}
		if enc2, _ := json.Marshal(again); !bytes.Equal(enc, enc2) {
			t.Fatalf("unstable:\n%s\n%s", enc, enc2)
		}
		for _, bd := range again.BrokerDatas {
			if bd.BrokerAddrs == nil {
				t.Fatal("nil brokerAddrs")
			}
		}
	})
}

func FuzzDecodeHeartbeat(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := DecodeHeartbeat(data)
		if err != nil {
			if h != nil {
				t.Fatal("result with an error")
			}
			return
		}
		enc, err := json.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		checkNoNull(t, enc)
		again, err := DecodeHeartbeat(enc)
		if err != nil {
			t.Fatalf("re-decode of %s: %v", enc, err)
		}
		if enc2, _ := json.Marshal(again); !bytes.Equal(enc, enc2) {
			t.Fatalf("unstable:\n%s\n%s", enc, enc2)
		}
		for _, c := range again.ConsumerDataSet {
			for _, s := range c.SubscriptionDataSet {
				_ = NewSubscriptionData(s.Topic, s.SubString, s.ExpressionType)
			}
		}
	})
}

func FuzzNormalizeFastJSON(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := NormalizeFastJSON(data)
		if err != nil {
			if !errors.Is(err, ErrBadJSON) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid output %s", out)
		}
		again, err := NormalizeFastJSON(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %s -> %s (%v)", out, again, err)
		}
		if json.Valid(data) {
			// Valid JSON keeps its meaning. Numbers compare as their text: a float64 cannot
			// hold every valid JSON number (1E700), and the normalizer copies numbers verbatim.
			a, aerr := decodeUseNumber(data)
			b, berr := decodeUseNumber(out)
			if aerr != nil || berr != nil || !reflect.DeepEqual(a, b) {
				t.Fatalf("meaning changed: %s -> %s (%v, %v)", data, out, aerr, berr)
			}
		}
	})
}

func decodeUseNumber(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}

func FuzzDecodeRegisterBrokerBody(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, compressed bool) {
		b, err := DecodeRegisterBrokerBody(data, compressed)
		if err != nil {
			if !errors.Is(err, ErrBadJSON) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		enc, err := b.Encode(false)
		if err != nil {
			t.Fatal(err)
		}
		again, err := DecodeRegisterBrokerBody(enc, false)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if enc2, _ := again.Encode(false); !bytes.Equal(enc, enc2) {
			t.Fatalf("unstable:\n%s\n%s", enc, enc2)
		}
	})
}

func FuzzDecodeConsumeStats(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var s ConsumeStats
		if err := s.Decode(data); err != nil {
			return
		}
		enc := s.Encode()
		var again ConsumeStats
		if err := again.Decode(enc); err != nil {
			t.Fatalf("re-decode of %s: %v", enc, err)
		}
		if enc2 := again.Encode(); !bytes.Equal(enc, enc2) {
			t.Fatalf("unstable:\n%s\n%s", enc, enc2)
		}
	})
}

func FuzzDecodeSendMessage(f *testing.F) {
	f.Fuzz(func(t *testing.T, lines string, v2 bool) {
		fields := map[string]string{}
		for l := range strings.SplitSeq(lines, "\n") {
			if k, v, ok := strings.Cut(l, "="); ok {
				fields[k] = v
			}
		}
		h, err := DecodeSendMessage(Map(fields), v2)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), fe.Field) {
				t.Fatalf("error %v", err)
			}
			return
		}
		enc := h.Encode(v2)
		again, err := DecodeSendMessage(Map(enc), v2)
		if err != nil || !reflect.DeepEqual(again, h) {
			t.Fatalf("round trip %+v -> %v -> %+v (%v)", h, enc, again, err)
		}
		if !maps.Equal(again.Encode(v2), enc) {
			t.Fatal("unstable encoding")
		}
	})
}
