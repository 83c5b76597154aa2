package message

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

type batchItem struct {
	flag  int32
	body  string
	props string
}

func buildBatch(items ...batchItem) []byte {
	var b []byte
	for _, it := range items {
		b = AppendBatchElement(b, it.flag, []byte(it.body), []byte(it.props))
	}
	return b
}

func collectBatch(body []byte, maxElements int) ([]batchItem, error) {
	var got []batchItem
	err := ParseBatch(body, maxElements, func(i int, e BatchElement) error {
		if i != len(got) {
			return errors.New("index out of order")
		}
		got = append(got, batchItem{e.Flag, string(e.Body), string(e.Properties)})
		return nil
	})
	return got, err
}

var batchOf3 = []batchItem{
	{0, "first", "KEYS\x01k1\x02UNIQ_KEY\x01ID1"},
	{-5, "", ""},
	{7, strings.Repeat("x", 64), "TAGS\x01TagB\x02"},
}

func TestBatchRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		items []batchItem
	}{
		{"empty batch", nil},
		{"one", batchOf3[:1]},
		{"three", batchOf3},
		{"max properties", []batchItem{{1, "b", strings.Repeat("p", MaxPropertiesLen)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := collectBatch(buildBatch(tt.items...), 0)
			if err != nil {
				t.Fatalf("ParseBatch: %v", err)
			}
			if len(got) != len(tt.items) {
				t.Fatalf("got %d elements, want %d", len(got), len(tt.items))
			}
			for i := range got {
				if got[i] != tt.items[i] {
					t.Errorf("element %d = %+v, want %+v", i, got[i], tt.items[i])
				}
			}
		})
	}
}

func TestBatchLayout(t *testing.T) {
	got := AppendBatchElement(nil, 3, []byte("B"), []byte("P\x01V"))
	want := []byte{
		0, 0, 0, 26, // TOTALSIZE = 22 + 1 + 3
		0, 0, 0, 0, // MAGICCODE
		0, 0, 0, 0, // BODYCRC
		0, 0, 0, 3, // FLAG
		0, 0, 0, 1, 'B', // BODYLENGTH + BODY
		0, 3, 'P', 1, 'V', // PROPERTIESLENGTH + PROPERTIES
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("AppendBatchElement =\n% x\nwant\n% x", got, want)
	}
}

func TestBatchIgnoresMagicAndCRC(t *testing.T) {
	b := buildBatch(batchOf3...)
	binary.BigEndian.PutUint32(b[4:], MagicMessage)
	binary.BigEndian.PutUint32(b[8:], 0x12345678)
	if _, err := collectBatch(b, 0); err != nil {
		t.Fatalf("ParseBatch: %v", err)
	}
}

func TestBatchErrors(t *testing.T) {
	good := buildBatch(batchOf3...)
	first := 22 + len(batchOf3[0].body) + len(batchOf3[0].props)
	second := first + 22 // the second element is empty
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	put32 := func(off int, v uint32) []byte {
		return mutate(func(b []byte) []byte { binary.BigEndian.PutUint32(b[off:], v); return b })
	}
	put16 := func(off int, v uint16) []byte {
		return mutate(func(b []byte) []byte { binary.BigEndian.PutUint16(b[off:], v); return b })
	}
	propsLenOff := 20 + len(batchOf3[0].body)

	tests := []struct {
		name      string
		in        []byte
		max       int
		want      error
		wantCount int // elements delivered before the error
	}{
		{"truncated in first header", good[:10], 0, ErrTruncated, 0},
		{"truncated in first body", good[:first-1], 0, ErrTruncated, 0},
		{"truncated in second header", good[:first+5], 0, ErrTruncated, 1},
		{"truncated last byte", good[:len(good)-1], 0, ErrTruncated, 2},
		{"trailing garbage", append(bytes.Clone(good), 1, 2, 3), 0, ErrTruncated, 3},
		{"total below overhead", put32(0, 21), 0, ErrCorrupt, 0},
		{"total negative", put32(0, 0x80000000), 0, ErrCorrupt, 0},
		{"total beyond input", put32(0, uint32(len(good)+1)), 0, ErrTruncated, 0},
		{"total one short", put32(0, uint32(first-1)), 0, ErrCorrupt, 0},
		{"total one long", put32(0, uint32(first+1)), 0, ErrCorrupt, 0},
		{"body length negative", put32(16, 0xFFFFFFFF), 0, ErrCorrupt, 0},
		{"body length beyond total", put32(16, uint32(first)), 0, ErrCorrupt, 0},
		{"body length one less", put32(16, uint32(len(batchOf3[0].body)-1)), 0, ErrCorrupt, 0},
		{"properties length negative", put16(propsLenOff, 0x8000), 0, ErrCorrupt, 0},
		{"properties length one more", put16(propsLenOff, uint16(len(batchOf3[0].props)+1)), 0, ErrCorrupt, 0},
		{"second element corrupt", put32(first+16, 5), 0, ErrCorrupt, 1},
		{"third element total corrupt", put32(second, 3), 0, ErrCorrupt, 2},
		{"too many elements", good, 2, ErrCorrupt, 2},
		{"exactly max elements", good, 3, nil, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := collectBatch(tt.in, tt.max)
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("ParseBatch error = %v, want %v", err, tt.want)
			}
			if len(got) != tt.wantCount {
				t.Errorf("delivered %d elements before the error, want %d", len(got), tt.wantCount)
			}
			if err != nil && !strings.Contains(err.Error(), "batch element") {
				t.Errorf("error %q does not name the element", err)
			}
		})
	}
}

func TestBatchCallbackError(t *testing.T) {
	stop := errors.New("stop")
	var calls int
	err := ParseBatch(buildBatch(batchOf3...), 0, func(i int, e BatchElement) error {
		calls++
		if i == 1 {
			return stop
		}
		return nil
	})
	if err != stop {
		t.Fatalf("ParseBatch = %v, want the callback's error unwrapped", err)
	}
	if calls != 2 {
		t.Errorf("callback ran %d times, want 2", calls)
	}
}

func TestBatchAliasesInput(t *testing.T) {
	b := buildBatch(batchOf3...)
	_ = ParseBatch(b, 0, func(i int, e BatchElement) error {
		if cap(e.Body) != len(e.Body) || cap(e.Properties) != len(e.Properties) {
			t.Errorf("element %d: capacity not clipped", i)
		}
		return nil
	})
	var n int
	fn := func(i int, e BatchElement) error { n += len(e.Body); return nil }
	if a := testing.AllocsPerRun(100, func() { _ = ParseBatch(b, 0, fn) }); a != 0 {
		t.Errorf("ParseBatch: %v allocs/op, want 0", a)
	}
}
