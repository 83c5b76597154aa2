package lru

import (
	"fmt"
	"sync"
	"testing"
)

func TestCache(t *testing.T) {
	type op struct {
		add   bool
		key   string
		value int
		want  int // for a Get; -1 = absent
	}
	tests := []struct {
		name     string
		capacity int
		ops      []op
		wantLen  int
	}{
		{"empty", 2, []op{{key: "a", want: -1}}, 0},
		{"add and get", 2, []op{{add: true, key: "a", value: 1}, {key: "a", want: 1}}, 1},
		{"replace", 2, []op{{add: true, key: "a", value: 1}, {add: true, key: "a", value: 2}, {key: "a", want: 2}}, 1},
		{"evicts least recently added", 2, []op{
			{add: true, key: "a", value: 1}, {add: true, key: "b", value: 2}, {add: true, key: "c", value: 3},
			{key: "a", want: -1}, {key: "b", want: 2}, {key: "c", want: 3},
		}, 2},
		{"get refreshes", 2, []op{
			{add: true, key: "a", value: 1}, {add: true, key: "b", value: 2}, {key: "a", want: 1},
			{add: true, key: "c", value: 3}, {key: "b", want: -1}, {key: "a", want: 1},
		}, 2},
		{"re-add refreshes", 2, []op{
			{add: true, key: "a", value: 1}, {add: true, key: "b", value: 2}, {add: true, key: "a", value: 9},
			{add: true, key: "c", value: 3}, {key: "b", want: -1}, {key: "a", want: 9},
		}, 2},
		{"capacity zero holds one", 0, []op{
			{add: true, key: "a", value: 1}, {add: true, key: "b", value: 2}, {key: "a", want: -1}, {key: "b", want: 2},
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New[string, int](tt.capacity)
			for i, o := range tt.ops {
				if o.add {
					c.Add(o.key, o.value)
					continue
				}
				got, ok := c.Get(o.key)
				if !ok {
					got = -1
				}
				if got != o.want {
					t.Errorf("op %d: Get(%q) = %d, want %d", i, o.key, got, o.want)
				}
			}
			if c.Len() != tt.wantLen {
				t.Errorf("Len = %d, want %d", c.Len(), tt.wantLen)
			}
		})
	}
}

func TestCacheConcurrent(t *testing.T) {
	c := New[string, int](16)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				k := fmt.Sprint((g + i) % 32)
				if _, ok := c.Get(k); !ok {
					c.Add(k, i)
				}
			}
		})
	}
	wg.Wait()
	if n := c.Len(); n > 16 {
		t.Errorf("Len = %d, over capacity 16", n)
	}
}
