package protocol

import (
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// goldenRoute is the doc's recommended route body (§3.1), byte for byte.
const goldenRoute = `{"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.5:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}`

func sampleRoute() TopicRouteData {
	return TopicRouteData{
		QueueDatas:  []QueueData{{BrokerName: "broker-a", Perm: 6, ReadQueueNums: 4, WriteQueueNums: 4}},
		BrokerDatas: []BrokerData{{Cluster: "DefaultCluster", BrokerName: "broker-a", BrokerAddrs: map[int64]string{0: "10.0.0.5:10911"}}},
	}
}

func TestRouteGolden(t *testing.T) {
	r := sampleRoute()
	for name, enc := range map[string]func() ([]byte, error){
		"value":   func() ([]byte, error) { return json.Marshal(r) },
		"pointer": func() ([]byte, error) { return json.Marshal(&r) },
	} {
		got, err := enc()
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != goldenRoute {
			t.Fatalf("%s:\n got %s\nwant %s", name, got, goldenRoute)
		}
	}
	var back TopicRouteData
	if err := Unmarshal([]byte(goldenRoute), &back); err != nil {
		t.Fatal(err)
	}
	r.FilterServerTable = map[string][]string{}
	if !reflect.DeepEqual(back, r) {
		t.Fatalf("decode:\n got %+v\nwant %+v", back, r)
	}
}

func TestRouteNeverNull(t *testing.T) {
	for name, r := range map[string]TopicRouteData{
		"zero":           {},
		"nil brokerAddr": {QueueDatas: []QueueData{{BrokerName: "b"}}, BrokerDatas: []BrokerData{{BrokerName: "b", Cluster: "c"}}},
	} {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "null") {
			t.Errorf("%s: %s contains null", name, b)
		}
		if name == "zero" && string(b) != `{"brokerDatas":[],"filterServerTable":{},"queueDatas":[]}` {
			t.Errorf("zero route = %s", b)
		}
		if name == "nil brokerAddr" && !strings.Contains(string(b), `"brokerAddrs":{}`) {
			t.Errorf("%s: %s", name, b)
		}
	}
}

// goClientDecode mimics how rocketmq-client-go v2.1.2 (internal/route.go) reads brokerAddrs,
// as described in §3.1: take the raw object text, drop the braces, split on ',', cut each
// piece at the first ':', strip '"' from both sides and parse the key as an int64.
func goClientDecode(t *testing.T, body []byte) []map[int64]string {
	t.Helper()
	var w struct {
		QueueDatas  json.RawMessage `json:"queueDatas"`
		BrokerDatas []struct {
			BrokerAddrs json.RawMessage `json:"brokerAddrs"`
		} `json:"brokerDatas"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		t.Fatalf("route is not JSON: %v", err)
	}
	var qds []map[string]any
	if err := json.Unmarshal(w.QueueDatas, &qds); err != nil || qds == nil {
		t.Fatalf("queueDatas %s does not decode to an array: %v", w.QueueDatas, err)
	}
	var out []map[int64]string
	for _, bd := range w.BrokerDatas {
		addrs := string(bd.BrokerAddrs)
		if len(addrs) < 2 || addrs[0] != '{' {
			t.Fatalf("brokerAddrs %q would crash the Go client", addrs)
		}
		m := map[int64]string{}
		for _, piece := range strings.Split(addrs[1:len(addrs)-1], ",") {
			i := strings.Index(piece, ":")
			if i < 0 {
				continue
			}
			id, _ := strconv.ParseInt(strings.ReplaceAll(piece[:i], `"`, ""), 10, 64)
			m[id] = strings.ReplaceAll(piece[i+1:], `"`, "")
		}
		out = append(out, m)
	}
	return out
}

func TestRouteReadableByGoClient(t *testing.T) {
	r := TopicRouteData{
		QueueDatas: []QueueData{{BrokerName: "a", Perm: 6, ReadQueueNums: 8, WriteQueueNums: 8}, {BrokerName: "b", Perm: 4, ReadQueueNums: 1, WriteQueueNums: 1}},
		BrokerDatas: []BrokerData{
			{Cluster: "c", BrokerName: "a", BrokerAddrs: map[int64]string{0: "10.0.0.1:10911", 1: "10.0.0.2:10911", 12: "10.0.0.3:10911"}},
			{Cluster: "c", BrokerName: "b", BrokerAddrs: map[int64]string{}},
		},
	}
	body, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	got := goClientDecode(t, body)
	for i, bd := range r.BrokerDatas {
		if !reflect.DeepEqual(got[i], bd.BrokerAddrs) {
			t.Errorf("broker %s: Go client would read %v, want %v (body %s)", bd.BrokerName, got[i], bd.BrokerAddrs, body)
		}
	}
	// Ids ascending, numerically.
	if !strings.Contains(string(body), `{"0":"10.0.0.1:10911","1":"10.0.0.2:10911","12":"10.0.0.3:10911"}`) {
		t.Errorf("brokerAddrs not compact and ordered: %s", body)
	}
}

func TestRouteUnmarshalFastJSON(t *testing.T) {
	for name, body := range map[string]string{
		"unquoted keys": `{"brokerDatas":[{"brokerAddrs":{0:"10.0.0.5:10911",1:"10.0.0.6:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}`,
		"whitespace":    "{ \"brokerDatas\" : [ { \"brokerAddrs\" : { 0 : \"10.0.0.5:10911\" , 1 : \"10.0.0.6:10911\" } ,\n \"brokerName\":\"broker-a\",\"cluster\":\"DefaultCluster\"}],\"queueDatas\":[{\"brokerName\":\"broker-a\",\"perm\":6,\"readQueueNums\":4,\"topicSynFlag\":0,\"writeQueueNums\":4}]}",
		"quoted keys":   `{"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.5:10911","1":"10.0.0.6:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}],"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"writeQueueNums":4}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			var r TopicRouteData
			// Both entry points: Unmarshal, and the method called directly.
			if err := Unmarshal([]byte(body), &r); err != nil {
				t.Fatal(err)
			}
			var r2 TopicRouteData
			if err := r2.UnmarshalJSON([]byte(body)); err != nil {
				t.Fatal(err)
			}
			want := map[int64]string{0: "10.0.0.5:10911", 1: "10.0.0.6:10911"}
			for _, got := range []TopicRouteData{r, r2} {
				if len(got.BrokerDatas) != 1 || !reflect.DeepEqual(got.BrokerDatas[0].BrokerAddrs, want) || got.BrokerDatas[0].MasterAddr() != "10.0.0.5:10911" {
					t.Fatalf("brokerDatas = %+v", got.BrokerDatas)
				}
				if len(got.QueueDatas) != 1 || got.QueueDatas[0].WriteQueueNums != 4 || got.QueueDatas[0].Perm != 6 {
					t.Fatalf("queueDatas = %+v", got.QueueDatas)
				}
			}
		})
	}
}

func TestRouteUnmarshalErrors(t *testing.T) {
	for name, body := range map[string]string{
		"bad id":    `{"brokerDatas":[{"brokerAddrs":{"x":"a:1"}}],"queueDatas":[]}`,
		"truncated": `{"brokerDatas":[{"brokerAddrs":{0:"a:1"`,
		"garbage":   `{brokerDatas`,
	} {
		var r TopicRouteData
		if err := Unmarshal([]byte(body), &r); !errors.Is(err, ErrBadJSON) {
			t.Errorf("%s: %v, want ErrBadJSON", name, err)
		}
	}
	// null and missing brokerAddrs / queueDatas decode as empty.
	var r TopicRouteData
	if err := Unmarshal([]byte(`{"brokerDatas":[{"brokerAddrs":null,"brokerName":"b"}],"queueDatas":null}`), &r); err != nil {
		t.Fatal(err)
	}
	if r.QueueDatas == nil || r.BrokerDatas[0].BrokerAddrs == nil {
		t.Fatalf("got %+v", r)
	}
}

func TestQueueDataTopicSysFlagNames(t *testing.T) {
	for body, want := range map[string]int32{
		`{"topicSysFlag":3}`:                  3,
		`{"topicSynFlag":2}`:                  2,
		`{"topicSynFlag":2,"topicSysFlag":3}`: 3,
		`{}`:                                  0,
	} {
		var q QueueData
		if err := json.Unmarshal([]byte(body), &q); err != nil || q.TopicSysFlag != want {
			t.Errorf("%s: %d %v, want %d", body, q.TopicSysFlag, err, want)
		}
	}
}

func TestClusterInfoJSON(t *testing.T) {
	ci := ClusterInfo{
		BrokerAddrTable:  map[string]BrokerData{"broker-a": {Cluster: "c", BrokerName: "broker-a", BrokerAddrs: map[int64]string{0: "1.1.1.1:10911", 1: "1.1.1.2:10911"}}},
		ClusterAddrTable: map[string][]string{"c": {"broker-a"}, "empty": nil},
	}
	b, err := json.Marshal(ci)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"brokerAddrTable":{"broker-a":{"brokerAddrs":{"0":"1.1.1.1:10911","1":"1.1.1.2:10911"},"brokerName":"broker-a","cluster":"c"}},"clusterAddrTable":{"c":["broker-a"],"empty":[]}}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	var back ClusterInfo
	java := strings.ReplaceAll(strings.ReplaceAll(want, `"0":`, `0:`), `"1":`, `1:`)
	if err := Unmarshal([]byte(java), &back); err != nil {
		t.Fatal(err)
	}
	ci.ClusterAddrTable["empty"] = []string{}
	if !reflect.DeepEqual(back, ci) {
		t.Fatalf("decode:\n got %+v\nwant %+v", back, ci)
	}
	if b, _ := json.Marshal(ClusterInfo{}); string(b) != `{"brokerAddrTable":{},"clusterAddrTable":{}}` {
		t.Fatalf("empty cluster info = %s", b)
	}
}

func TestTopicListJSON(t *testing.T) {
	for _, tc := range []struct {
		in   TopicList
		want string
	}{
		{TopicList{}, `{"topicList":[]}`},
		{TopicList{TopicList: []string{"a", "b"}, BrokerAddr: "1.1.1.1:10911"}, `{"topicList":["a","b"],"brokerAddr":"1.1.1.1:10911"}`},
	} {
		b, err := json.Marshal(tc.in)
		if err != nil || string(b) != tc.want {
			t.Errorf("got %s %v, want %s", b, err, tc.want)
		}
	}
	// The Java form with brokerAddr null.
	var tl TopicList
	if err := Unmarshal([]byte(`{"topicList":["T1","T2"],"brokerAddr":null}`), &tl); err != nil || len(tl.TopicList) != 2 {
		t.Fatalf("%+v %v", tl, err)
	}
}
