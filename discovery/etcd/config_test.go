package etcd

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/ternmq/tern/sdk/plugin"
)

func TestConfigFromMap(t *testing.T) {
	cases := []struct {
		name string
		in   map[string]any
		want Config
		bad  bool
	}{
		{name: "list", in: map[string]any{"endpoints": []any{"a:1", "b:2"}}, want: Config{Endpoints: []string{"a:1", "b:2"}}},
		{name: "semicolons", in: map[string]any{"endpoints": "a:1; b:2;"}, want: Config{Endpoints: []string{"a:1", "b:2"}}},
		{name: "all keys", in: map[string]any{"endpoints": "a:1", "prefix": "/p", "ttl": "3s", "dialTimeout": "1s", "expiry": "2m", "deleteTopicWithBrokerRegistration": true},
			want: Config{Endpoints: []string{"a:1"}, Prefix: "/p", TTL: 3 * time.Second, DialTimeout: time.Second, Expiry: 2 * time.Minute, DeleteTopicWithBrokerRegistration: true}},
		{name: "no endpoints", in: map[string]any{}, bad: true},
		{name: "empty endpoints", in: map[string]any{"endpoints": ";"}, bad: true},
		{name: "endpoint not a string", in: map[string]any{"endpoints": []any{1}}, bad: true},
		{name: "ttl not a duration", in: map[string]any{"endpoints": "a:1", "ttl": 10}, bad: true},
		{name: "ttl unparsable", in: map[string]any{"endpoints": "a:1", "ttl": "ten"}, bad: true},
		{name: "negative ttl", in: map[string]any{"endpoints": "a:1", "ttl": "-1s"}, bad: true},
		{name: "negative expiry", in: map[string]any{"endpoints": "a:1", "expiry": "-1s"}, bad: true},
		{name: "unknown key", in: map[string]any{"endpoints": "a:1", "ttl_ms": "1"}, bad: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := configFromMap(c.in)
			if c.bad {
				if !errors.Is(err, plugin.ErrInvalidArgument) {
					t.Fatalf("configFromMap = %+v, %v; want an error wrapping ErrInvalidArgument", got, err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, c.want) {
				t.Fatalf("configFromMap = %+v, %v; want %+v", got, err, c.want)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{Endpoints: []string{"a:1,b:2"}}.withDefaults()
	if !reflect.DeepEqual(c.Endpoints, []string{"a:1", "b:2"}) || c.Prefix != DefaultPrefix || c.TTL != DefaultTTL || c.DialTimeout != DefaultDialTimeout || c.Logger == nil {
		t.Fatalf("withDefaults = %+v", c)
	}
}

func TestLeaseSeconds(t *testing.T) {
	for in, want := range map[time.Duration]int64{0: 1, time.Millisecond: 1, time.Second: 1, 1500 * time.Millisecond: 2, 10 * time.Second: 10} {
		if got := leaseSeconds(in); got != want {
			t.Errorf("leaseSeconds(%v) = %d, want %d", in, got, want)
		}
	}
}
