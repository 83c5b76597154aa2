package message

import (
	"bytes"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/ternmq/tern/core/internal/fuzzcorpus"
)

// Seed corpora live in testdata/fuzz/<FuzzName>/seed-*. Regenerate them after
// changing the seeds below with:
//
//	go test ./core/message/ -run '^TestFuzzCorpus$' -update-corpus
//
// Other files in those directories are inputs the fuzzer found; keep them.
//
// Each target matches others by prefix, so anchor the name when fuzzing:
//
//	go test ./core/message/ -run '^$' -fuzz '^FuzzParse$' -fuzztime 20s

// fuzzSeeds returns the seed inputs of every fuzz target by name; each input
// is the argument list of one call.
func fuzzSeeds() map[string]map[string][]any {
	v4 := sampleRecord()
	v6 := sampleRecord()
	v6.BornHost, v6.StoreHost = hostV6, storeV6
	mixed := sampleRecord()
	mixed.StoreHost = mappedV4V6
	mixed.Body, mixed.Properties = nil, ""
	rec4 := AppendRecord(nil, &v4)
	rec6 := AppendRecord(nil, &v6)
	recMixed := AppendRecord(nil, &mixed)
	v2 := bytes.Clone(rec4)
	v2[7] = 0xAB // 5.x v2 magic

	return map[string]map[string][]any{
		"FuzzParse": {
			"ipv4":          {rec4},
			"ipv6":          {rec6},
			"mixed-empty":   {recMixed},
			"blank":         {AppendBlank(nil, 4096)},
			"truncated":     {rec4[:len(rec4)-3]},
			"header-only":   {rec4[:8]},
			"two-records":   {append(bytes.Clone(rec4), rec6...)},
			"record-blank":  {AppendBlank(bytes.Clone(rec4), 64)},
			"v2-magic":      {v2},
			"zero-filled":   {make([]byte, 128)},
			"min-ipv4-size": {rec4[:MinRecordSize]},
		},
		"FuzzParseProperties": {
			"java":       {[]byte("KEYS\x01k1 k2\x02TAGS\x01TagA\x02UNIQ_KEY\x01C0A8011400002A9F0000000000000001")},
			"go":         {[]byte("TAGS\x01TagA\x02KEYS\x01k1\x02")},
			"edge":       {[]byte("\x02\x02\x01v\x02k\x01\x02a\x01b\x01c\x02A\x011\x02A\x012")},
			"utf8":       {[]byte("TAGS\x01标签\x02KEYS\x01😀")},
			"empty":      {[]byte("")},
			"separators": {[]byte("\x01\x02\x01\x02")},
		},
		"FuzzParseBatch": {
			"three":     {buildBatch(batchOf3...)},
			"one":       {buildBatch(batchOf3[0])},
			"empty":     {[]byte{}},
			"truncated": {buildBatch(batchOf3...)[:40]},
			"corrupt":   {AppendBatchElement(nil, 1, []byte("body"), []byte("A\x011"))[:25]},
		},
		"FuzzParseOffsetMsgID": {
			"doc":       {"7F00000100002A9F000000000001E240"},
			"lower":     {"7f00000100002a9f000000000001e240"},
			"ipv6":      {"20010DB800000000000000000000000100002A9F0000000000000001"},
			"short":     {"7F00000100002A9F"},
			"bad-hex":   {"7F00000100002A9F000000000001E24Z"},
			"uniq-like": {"C00002023065000000006ccab5400001"},
		},
		"FuzzUniqIDTime": {
			"java-v4": {"0A0000010001ABCDEF0100ABCDEF0042", int64(1709251200000)},
			"go-v4":   {"C00002023065000000006ccab5400001", int64(1711843200000)},
			"java-v6": {"20010DB80000000000000000000000010001ABCDEF019FA523FF0000", int64(1706745600000)},
			"bad":     {"xyz", int64(0)},
		},
		"FuzzTagsCode": {
			"ascii":     {"TagA"},
			"cjk":       {"标签"},
			"emoji":     {"😀 x"},
			"wrap":      {"polygenelubricants"},
			"invalid":   {"\xff\xfe"},
			"surrogate": {"\xed\xa0\x80"},
		},
	}
}

// TestFuzzCorpus checks that the seed files match fuzzSeeds, or rewrites them
// with -update-corpus.
func TestFuzzCorpus(t *testing.T) {
	for target, seeds := range fuzzSeeds() {
		files := make(map[string][]byte, len(seeds))
		for name, vals := range seeds {
			files[name] = fuzzcorpus.Marshal(vals...)
		}
		fuzzcorpus.Check(t, target, files)
	}
}

func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Parse(data)
		// CheckHeader agrees with Parse on a valid record, and on every header it refuses.
		if herr := CheckHeader(data); err == nil && len(v) == len(data) && herr != nil {
			t.Fatalf("CheckHeader refuses a record Parse accepts: %v", herr)
		} else if herr == nil && err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("CheckHeader accepts a header Parse refuses with %v", err)
		}
		if err != nil {
			if v != nil {
				t.Fatal("view returned with an error")
			}
			switch {
			case errors.Is(err, ErrBlank):
				if BlankSize(data) < BlankHeaderSize {
					t.Fatalf("ErrBlank but BlankSize = %d", BlankSize(data))
				}
			case errors.Is(err, ErrTruncated), errors.Is(err, ErrBadMagic), errors.Is(err, ErrCorrupt):
			default:
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		n := v.Size()
		if n > len(data) || n != len(v) || n < MinRecordSize || &v[0] != &data[0] {
			t.Fatalf("Size %d, len %d, input %d", n, len(v), len(data))
		}
		_ = v.CheckCRC()
		r := v.Record() // runs every accessor
		if err := r.Validate(); err != nil {
			t.Fatalf("parsed record does not validate: %v", err)
		}
		if r.Size() != n {
			t.Fatalf("Record().Size() = %d, view %d", r.Size(), n)
		}
		if again := AppendRecord(nil, &r); !bytes.Equal(again, v) {
			t.Fatalf("re-encoding differs:\n got % x\nwant % x", again, []byte(v))
		}
		// A stream reader that has only part of the record must be told to wait.
		for _, k := range []int{n - 1, n / 2, BlankHeaderSize} {
			if _, err := Parse(data[:k]); !errors.Is(err, ErrTruncated) {
				t.Fatalf("Parse of %d/%d bytes = %v, want ErrTruncated", k, n, err)
			}
		}
		_ = ParseProperties(v.Properties())
	})
}

func FuzzParseProperties(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		m := ParseProperties(data)
		for k, val := range m {
			if k == "" || val == "" || strings.ContainsRune(k, NameValueSeparator) || strings.ContainsRune(k, PropertySeparator) ||
				strings.ContainsRune(val, PropertySeparator) {
				t.Fatalf("bad pair %q=%q", k, val)
			}
			if got, ok := Property(data, k); !ok || string(got) != val {
				t.Fatalf("Property(%q) = %q, %v; ParseProperties has %q", k, got, ok, val)
			}
		}
		enc, err := AppendProperties(nil, m)
		if err != nil {
			if !errors.Is(err, ErrBadProperty) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if again := ParseProperties(enc); !maps.Equal(again, m) {
			t.Fatalf("re-parse = %q, want %q", again, m)
		}
	})
}

func FuzzParseBatch(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var rebuilt []byte
		var consumed int
		err := ParseBatch(data, 1000, func(i int, e BatchElement) error {
			rebuilt = AppendBatchElement(rebuilt, e.Flag, e.Body, e.Properties)
			consumed += BatchElementOverhead + len(e.Body) + len(e.Properties)
			return nil
		})
		if err != nil {
			if !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if consumed != len(data) {
			t.Fatalf("elements cover %d of %d bytes", consumed, len(data))
		}
		// Equal to the input except for the ignored MAGICCODE and BODYCRC.
		want := bytes.Clone(data)
		for p := 0; p < len(want); {
			clear(want[p+4 : p+12])
			p += int(int32(uint32(want[p])<<24 | uint32(want[p+1])<<16 | uint32(want[p+2])<<8 | uint32(want[p+3])))
		}
		if !bytes.Equal(rebuilt, want) {
			t.Fatalf("re-encoding differs")
		}
	})
}

func FuzzParseOffsetMsgID(f *testing.F) {
	f.Fuzz(func(t *testing.T, id string) {
		host, off, err := ParseOffsetMsgID(id)
		if err != nil {
			if !errors.Is(err, ErrBadMsgID) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if got := OffsetMsgID(host, off); got != strings.ToUpper(id) {
			t.Fatalf("re-encoding %v/%d = %s, want %s", host, off, got, strings.ToUpper(id))
		}
	})
}

func FuzzUniqIDTime(f *testing.F) {
	f.Fuzz(func(t *testing.T, id string, refMs int64) {
		ref := time.UnixMilli(refMs % (1 << 45)).UTC() // within ±1100 years
		got, ok := UniqIDTime(id, ref)
		if !ok {
			return
		}
		if got.After(ref) {
			t.Fatalf("UniqIDTime = %v after ref %v", got, ref)
		}
		// The id's span is at most 2^32 ms (~49.7 days) past the start of the
		// month before ref's.
		y, m, _ := ref.Date()
		if floor := time.Date(y, m-1, 1, 0, 0, 0, 0, time.UTC); got.Before(floor) {
			t.Fatalf("UniqIDTime = %v before %v", got, floor)
		}
	})
}

func FuzzTagsCode(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		want := javaHashCode(s)
		if got := TagsCode(s); got != want {
			t.Fatalf("TagsCode(%q) = %d, want %d", s, got, want)
		}
		if got := TagsCodeBytes([]byte(s)); got != want {
			t.Fatalf("TagsCodeBytes(%q) = %d, want %d", s, got, want)
		}
	})
}
