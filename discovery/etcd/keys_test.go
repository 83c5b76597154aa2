package etcd

import "testing"

func TestKeysRoundTrip(t *testing.T) {
	for _, name := range []string{"broker-a", "a/b", "%41", "名前", "a b"} {
		k := keys{prefix: "/tern"}
		kind, n, id := k.parse(k.broker(name, 3))
		if kind != keyBroker || n != name || id != 3 {
			t.Errorf("parse(broker(%q, 3)) = %v %q %d", name, kind, n, id)
		}
		kind, n, _ = k.parse(k.queues(name))
		if kind != keyQueues || n != name {
			t.Errorf("parse(queues(%q)) = %v %q", name, kind, n)
		}
	}
}

func TestKeysParse(t *testing.T) {
	k := keys{prefix: "/tern"}
	cases := []struct {
		key  string
		kind keyKind
		name string
		id   int64
	}{
		{"/tern/brokers/a/0", keyBroker, "a", 0},
		{"/tern/brokers/a%2Fb/12", keyBroker, "a/b", 12},
		{"/tern/queues/a", keyQueues, "a", 0},
		{"/tern/brokers/a", keyOther, "", 0},
		{"/tern/brokers/a/", keyOther, "", 0},
		{"/tern/brokers/a/-1", keyOther, "", 0},
		{"/tern/brokers/a/01", keyOther, "", 0},
		{"/tern/brokers/a/1/2", keyOther, "", 0},
		{"/tern/brokers//1", keyOther, "", 0},
		{"/tern/brokers/%zz/1", keyOther, "", 0},
		{"/tern/queues/", keyOther, "", 0},
		{"/tern/queues/a/b", keyOther, "", 0},
		{"/tern/other", keyOther, "", 0},
		{"/ternx/queues/a", keyOther, "", 0},
		{"/other/queues/a", keyOther, "", 0},
	}
	for _, c := range cases {
		kind, name, id := k.parse(c.key)
		if kind != c.kind || name != c.name || id != c.id {
			t.Errorf("parse(%q) = %v %q %d, want %v %q %d", c.key, kind, name, id, c.kind, c.name, c.id)
		}
	}
}

func TestNormPrefix(t *testing.T) {
	for in, want := range map[string]string{"": "/tern", "/": "/tern", "/x/": "/x", "/x": "/x", "x": "x"} {
		if got := normPrefix(in); got != want {
			t.Errorf("normPrefix(%q) = %q, want %q", in, got, want)
		}
	}
}
