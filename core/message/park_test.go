package message

import (
	"net/netip"
	"testing"
)

func TestParkUnpark(t *testing.T) {
	props, _ := AppendProperties(nil, map[string]string{"TAGS": "a", "DELAY": "3", PropertyRealTopic: "stale"})
	r := &Record{Topic: "Orders", QueueID: 2, Flag: 7, Body: []byte("b"), Properties: string(props), BornHost: netip.MustParseAddrPort("1.2.3.4:5")}
	if err := Park(r, "SCHEDULE_TOPIC_XXXX", 2, nil, "EXTRA", "x"); err != nil {
		t.Fatal(err)
	}
	got := ParseProperties([]byte(r.Properties))
	if r.Topic != "SCHEDULE_TOPIC_XXXX" || r.QueueID != 2 || got[PropertyRealTopic] != "Orders" || got[PropertyRealQueueID] != "2" || got["EXTRA"] != "x" || got["DELAY"] != "3" {
		t.Fatalf("parked %+v %v", r, got)
	}
	r.StoreHost = netip.MustParseAddrPort("5.6.7.8:9")
	v := View(AppendRecord(nil, r))
	back, err := Unpark(v, []string{"DELAY", PropertyRealTopic, PropertyRealQueueID}, "OUT", "1")
	if err != nil {
		t.Fatal(err)
	}
	p := ParseProperties([]byte(back.Properties))
	if back.Topic != "Orders" || back.QueueID != 2 || back.Flag != 7 || string(back.Body) != "b" || p["DELAY"] != "" || p[PropertyRealTopic] != "" || p["TAGS"] != "a" || p["OUT"] != "1" || p["EXTRA"] != "x" {
		t.Fatalf("unparked %+v %v", back, p)
	}
	noDest := View(AppendRecord(nil, &Record{Topic: "T", Body: []byte("b"), Properties: "TAGS\x01a", StoreHost: r.StoreHost, BornHost: r.BornHost}))
	if _, err := Unpark(noDest, nil); err == nil {
		t.Fatal("Unpark of a record without a destination")
	}
}
