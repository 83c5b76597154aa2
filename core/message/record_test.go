package message

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

var (
	hostV4     = netip.MustParseAddrPort("192.168.1.20:53211")
	storeV4    = netip.MustParseAddrPort("127.0.0.1:10911")
	hostV6     = netip.MustParseAddrPort("[2001:db8::1]:40000")
	storeV6    = netip.MustParseAddrPort("[fe80::1234:5678]:10911")
	mappedV4V6 = netip.MustParseAddrPort("[::ffff:10.0.0.1]:10911")
)

// sampleRecord returns a record with every field set to a distinct value.
func sampleRecord() Record {
	body := []byte("hello, tern")
	return Record{
		QueueID:                   3,
		Flag:                      -7,
		QueueOffset:               42,
		PhysicalOffset:            1 << 40,
		SysFlag:                   TxCommit | SysFlagMultiTags,
		BornTimestamp:             1_700_000_000_123,
		BornHost:                  hostV4,
		StoreTimestamp:            1_700_000_000_456,
		StoreHost:                 storeV4,
		ReconsumeTimes:            2,
		PreparedTransactionOffset: 987654321,
		BodyCRC:                   BodyCRC(body),
		Body:                      body,
		Topic:                     "TopicTest",
		Properties:                "KEYS\x01k1 k2\x02TAGS\x01TagA\x02UNIQ_KEY\x017F0000010001000000000000000000000",
	}
}

func encode(t testing.TB, r Record) []byte {
	t.Helper()
	if err := r.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	b := AppendRecord(nil, &r)
	if len(b) != r.Size() {
		t.Fatalf("encoded %d bytes, Size() = %d", len(b), r.Size())
	}
	return b
}

// wantSysFlag is r.SysFlag with the IPv6 bits the encoder derives.
func wantSysFlag(r Record) int32 {
	f := r.SysFlag &^ (SysFlagBornHostV6 | SysFlagStoreHostV6)
	if r.BornHost.Addr().Is6() {
		f |= SysFlagBornHostV6
	}
	if r.StoreHost.Addr().Is6() {
		f |= SysFlagStoreHostV6
	}
	return f
}

func checkView(t *testing.T, v View, r Record) {
	t.Helper()
	checks := []struct {
		name      string
		got, want any
	}{
		{"Size", v.Size(), r.Size()},
		{"BodyCRC", v.BodyCRC(), r.BodyCRC},
		{"QueueID", v.QueueID(), r.QueueID},
		{"Flag", v.Flag(), r.Flag},
		{"QueueOffset", v.QueueOffset(), r.QueueOffset},
		{"PhysicalOffset", v.PhysicalOffset(), r.PhysicalOffset},
		{"SysFlag", v.SysFlag(), wantSysFlag(r)},
		{"BornTimestamp", v.BornTimestamp(), r.BornTimestamp},
		{"BornHost", v.BornHost(), r.BornHost},
		{"StoreTimestamp", v.StoreTimestamp(), r.StoreTimestamp},
		{"StoreHost", v.StoreHost(), r.StoreHost},
		{"ReconsumeTimes", v.ReconsumeTimes(), r.ReconsumeTimes},
		{"PreparedTransactionOffset", v.PreparedTransactionOffset(), r.PreparedTransactionOffset},
		{"Body", string(v.Body()), string(r.Body)},
		{"Topic", string(v.Topic()), r.Topic},
		{"Properties", string(v.Properties()), r.Properties},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestRecordRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Record)
	}{
		{"ipv4/ipv4", func(*Record) {}},
		{"ipv6 born", func(r *Record) { r.BornHost = hostV6 }},
		{"ipv6 store", func(r *Record) { r.StoreHost = storeV6 }},
		{"ipv6/ipv6", func(r *Record) { r.BornHost, r.StoreHost = hostV6, storeV6 }},
		{"ipv4-mapped ipv6 stays ipv6", func(r *Record) { r.StoreHost = mappedV4V6 }},
		{"stale ipv6 bits cleared", func(r *Record) { r.SysFlag |= SysFlagBornHostV6 | SysFlagStoreHostV6 }},
		{"empty body", func(r *Record) { r.Body, r.BodyCRC = nil, BodyCRC(nil) }},
		{"empty properties", func(r *Record) { r.Properties = "" }},
		{"one-byte topic", func(r *Record) { r.Topic = "T" }},
		{"max topic", func(r *Record) { r.Topic = strings.Repeat("t", MaxTopicLen) }},
		{"max properties", func(r *Record) { r.Properties = "K\x01" + strings.Repeat("v", MaxPropertiesLen-2) }},
		{"large body", func(r *Record) { r.Body = bytes.Repeat([]byte{0xAB}, 1<<20); r.BodyCRC = BodyCRC(r.Body) }},
		{"negative and extreme values", func(r *Record) {
			r.QueueID, r.Flag, r.ReconsumeTimes = -1, -1<<31, 1<<31-1
			r.QueueOffset, r.PhysicalOffset, r.PreparedTransactionOffset = -1, 1<<63-1, -1<<63
			r.BornTimestamp, r.StoreTimestamp = -1, 0
			r.SysFlag = -1 &^ (SysFlagBornHostV6 | SysFlagStoreHostV6)
		}},
		{"zero ports", func(r *Record) {
			r.BornHost = netip.AddrPortFrom(hostV4.Addr(), 0)
			r.StoreHost = netip.AddrPortFrom(storeV6.Addr(), 65535)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sampleRecord()
			tt.modify(&r)
			b := encode(t, r)
			v, err := Parse(b)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			checkView(t, v, r)
			if err := v.CheckCRC(); err != nil {
				t.Errorf("CheckCRC: %v", err)
			}
			// Owned copy re-encodes to the same bytes.
			owned := v.Record()
			if again := AppendRecord(nil, &owned); !bytes.Equal(again, b) {
				t.Errorf("re-encoding View.Record() differs")
			}
		})
	}
}

// TestRecordLayout pins the byte layout against a record assembled by hand
// from the table in the package doc (IPv4/IPv4).
func TestRecordLayout(t *testing.T) {
	r := Record{
		QueueID: 1, Flag: 2, QueueOffset: 3, PhysicalOffset: 4, SysFlag: 0,
		BornTimestamp: 5, BornHost: netip.MustParseAddrPort("1.2.3.4:5"),
		StoreTimestamp: 6, StoreHost: netip.MustParseAddrPort("127.0.0.1:10911"),
		ReconsumeTimes: 7, PreparedTransactionOffset: 8, BodyCRC: 9,
		Body: []byte("B"), Topic: "TT", Properties: "P\x01V",
	}
	want := []byte{
		0, 0, 0, 97, // TOTALSIZE = 91 + 1 + 2 + 3
		0xDA, 0xA3, 0x20, 0xA7, // MAGICCODE
		0, 0, 0, 9, // BODYCRC
		0, 0, 0, 1, // QUEUEID
		0, 0, 0, 2, // FLAG
		0, 0, 0, 0, 0, 0, 0, 3, // QUEUEOFFSET
		0, 0, 0, 0, 0, 0, 0, 4, // PHYSICALOFFSET
		0, 0, 0, 0, // SYSFLAG
		0, 0, 0, 0, 0, 0, 0, 5, // BORNTIMESTAMP
		1, 2, 3, 4, 0, 0, 0, 5, // BORNHOST
		0, 0, 0, 0, 0, 0, 0, 6, // STORETIMESTAMP
		127, 0, 0, 1, 0, 0, 0x2A, 0x9F, // STOREHOST
		0, 0, 0, 7, // RECONSUMETIMES
		0, 0, 0, 0, 0, 0, 0, 8, // PREPAREDTRANSACTIONOFFSET
		0, 0, 0, 1, 'B', // BODYLENGTH + BODY
		2, 'T', 'T', // TOPICLENGTH + TOPIC
		0, 3, 'P', 1, 'V', // PROPERTIESLENGTH + PROPERTIES
	}
	got := AppendRecord(nil, &r)
	if !bytes.Equal(got, want) {
		t.Fatalf("AppendRecord =\n% x\nwant\n% x", got, want)
	}
	if r.Size() != len(want) {
		t.Errorf("Size() = %d, want %d", r.Size(), len(want))
	}

	// IPv6 hosts add 12 bytes each and set the sysflag bits.
	r.BornHost, r.StoreHost = hostV6, storeV6
	b := AppendRecord(nil, &r)
	if len(b) != len(want)+24 || r.Size() != len(b) {
		t.Errorf("IPv6/IPv6 size = %d (Size %d), want %d", len(b), r.Size(), len(want)+24)
	}
	if f := int32(binary.BigEndian.Uint32(b[36:])); f != SysFlagBornHostV6|SysFlagStoreHostV6 {
		t.Errorf("IPv6/IPv6 sysflag = %#x", f)
	}
}

func TestAppendRecordAppends(t *testing.T) {
	r := sampleRecord()
	prefix := []byte("prefix")
	b := AppendRecord(append([]byte(nil), prefix...), &r)
	if !bytes.HasPrefix(b, prefix) {
		t.Fatal("prefix overwritten")
	}
	if _, err := Parse(b[len(prefix):]); err != nil {
		t.Fatalf("Parse: %v", err)
	}
	// Into a window of a larger buffer, as the store does with a segment.
	seg := make([]byte, 4096)
	out := AppendRecord(seg[100:100:len(seg)], &r)
	if &out[0] != &seg[100] {
		t.Fatal("AppendRecord reallocated despite enough capacity")
	}
}

// build returns the sample encoding after mutate, for corruption cases.
func build(r Record, mutate func(b []byte) []byte) []byte {
	b := AppendRecord(nil, &r)
	return mutate(b)
}

func putU32(off int, v uint32) func([]byte) []byte {
	return func(b []byte) []byte { binary.BigEndian.PutUint32(b[off:], v); return b }
}

func TestParseErrors(t *testing.T) {
	r := sampleRecord()
	good := AppendRecord(nil, &r)
	n := len(good)
	bodyLenOff := 84
	topicLenOff := 88 + len(r.Body)
	propsLenOff := topicLenOff + 1 + len(r.Topic)

	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"seven bytes", good[:7], ErrTruncated},
		{"header only", good[:8], ErrTruncated},
		{"fixed part only", good[:MinRecordSize], ErrTruncated},
		{"one byte short", good[:n-1], ErrTruncated},
		{"bad magic", build(r, putU32(4, 0xDEADBEEF)), ErrBadMagic},
		{"v2 magic", build(r, putU32(4, 0xDAA320AB)), ErrBadMagic},
		{"zero magic", make([]byte, 200), ErrBadMagic},
		{"blank", AppendBlank(nil, 4096), ErrBlank},
		{"blank of header size", AppendBlank(nil, BlankHeaderSize), ErrBlank},
		{"blank too small", build(r, func([]byte) []byte {
			return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 7), MagicBlank)
		}), ErrCorrupt},
		{"blank negative size", build(r, func([]byte) []byte {
			return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 0xFFFFFFFF), MagicBlank)
		}), ErrCorrupt},
		{"total below minimum", build(r, putU32(0, MinRecordSize-1)), ErrCorrupt},
		{"total zero", build(r, putU32(0, 0)), ErrCorrupt},
		{"total negative", build(r, putU32(0, 0x80000000)), ErrCorrupt},
		{"total beyond input", build(r, putU32(0, uint32(n+1))), ErrTruncated},
		{"total one short", build(r, putU32(0, uint32(n-1))), ErrCorrupt},
		{"total one long", build(r, func(b []byte) []byte {
			binary.BigEndian.PutUint32(b, uint32(n+1))
			return append(b, 0)
		}), ErrCorrupt},
		{"ipv6 bits on ipv4 record", build(r, putU32(36, uint32(wantSysFlag(r)|SysFlagBornHostV6))), ErrCorrupt},
		{"ipv6 bits make fixed part exceed total", build(Record{Topic: "T", BornHost: hostV4, StoreHost: storeV4}, func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[36:], uint32(SysFlagBornHostV6|SysFlagStoreHostV6))
			return b
		}), ErrCorrupt},
		{"born port too large", build(r, putU32(48+4, 65536)), ErrCorrupt},
		{"born port negative", build(r, putU32(48+4, 0xFFFFFFFF)), ErrCorrupt},
		{"store port too large", build(r, putU32(64+4, 1<<20)), ErrCorrupt},
		{"body length negative", build(r, putU32(bodyLenOff, 0xFFFFFFFF)), ErrCorrupt},
		{"body length beyond total", build(r, putU32(bodyLenOff, uint32(n))), ErrCorrupt},
		{"body length one more", build(r, putU32(bodyLenOff, uint32(len(r.Body)+1))), ErrCorrupt},
		{"body length one less", build(r, putU32(bodyLenOff, uint32(len(r.Body)-1))), ErrCorrupt},
		{"topic length zero", build(r, func(b []byte) []byte { b[topicLenOff] = 0; return b }), ErrCorrupt},
		{"topic length signed negative", build(r, func(b []byte) []byte { b[topicLenOff] = 0x80; return b }), ErrCorrupt},
		{"topic length one more", build(r, func(b []byte) []byte { b[topicLenOff]++; return b }), ErrCorrupt},
		{"topic length one less", build(r, func(b []byte) []byte { b[topicLenOff]--; return b }), ErrCorrupt},
		{"topic length beyond total", build(r, func(b []byte) []byte { b[topicLenOff] = 127; return b }), ErrCorrupt},
		{"properties length negative", build(r, func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[propsLenOff:], 0x8000)
			return b
		}), ErrCorrupt},
		{"properties length one more", build(r, func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[propsLenOff:], uint16(len(r.Properties)+1))
			return b
		}), ErrCorrupt},
		{"properties length one less", build(r, func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[propsLenOff:], uint16(len(r.Properties)-1))
			return b
		}), ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Parse(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse error = %v, want %v", err, tt.want)
			}
			if v != nil {
				t.Errorf("Parse returned a view with an error")
			}
			if !strings.HasPrefix(err.Error(), "message: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestParseIgnoresTrailingBytes(t *testing.T) {
	r := sampleRecord()
	b := AppendRecord(nil, &r)
	n := len(b)
	b = append(b, "garbage after the record"...)
	v, err := Parse(b)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(v) != n || cap(v) != n {
		t.Errorf("view len/cap = %d/%d, want %d", len(v), cap(v), n)
	}
}

// TestParseStream walks a segment the way the store's recovery does: records
// back to back, then a blank marker up to the segment end.
func TestParseStream(t *testing.T) {
	const segSize = 1024
	seg := make([]byte, 0, segSize)
	var want []Record
	for i := range 5 {
		r := sampleRecord()
		r.QueueOffset = int64(i)
		r.PhysicalOffset = int64(len(seg))
		if i%2 == 1 {
			r.BornHost = hostV6
		}
		if len(seg)+r.Size()+BlankHeaderSize > segSize {
			break
		}
		seg = AppendRecord(seg, &r)
		want = append(want, r)
	}
	seg = AppendBlank(seg, segSize-len(seg))
	seg = seg[:segSize]

	var got int
	for pos := 0; ; {
		v, err := Parse(seg[pos:])
		if errors.Is(err, ErrBlank) {
			if pos+BlankSize(seg[pos:]) != segSize {
				t.Errorf("blank at %d has size %d, want up to segment end", pos, BlankSize(seg[pos:]))
			}
			break
		}
		if err != nil {
			t.Fatalf("Parse at %d: %v", pos, err)
		}
		if v.PhysicalOffset() != int64(pos) || v.QueueOffset() != int64(got) {
			t.Errorf("record %d: offsets %d/%d", got, v.PhysicalOffset(), v.QueueOffset())
		}
		checkView(t, v, want[got])
		got++
		pos += v.Size()
	}
	if got != len(want) {
		t.Errorf("read %d records, want %d", got, len(want))
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Record)
		want   error
	}{
		{"ok", func(*Record) {}, nil},
		{"ok max topic", func(r *Record) { r.Topic = strings.Repeat("a", MaxTopicLen) }, nil},
		{"ok max properties", func(r *Record) { r.Properties = strings.Repeat("a", MaxPropertiesLen) }, nil},
		{"ok ipv6", func(r *Record) { r.BornHost, r.StoreHost = hostV6, storeV6 }, nil},
		{"empty topic", func(r *Record) { r.Topic = "" }, ErrTopicEmpty},
		{"topic too long", func(r *Record) { r.Topic = strings.Repeat("a", MaxTopicLen+1) }, ErrTopicTooLong},
		{"properties too long", func(r *Record) { r.Properties = strings.Repeat("a", MaxPropertiesLen+1) }, ErrPropertiesTooLong},
		{"no born host", func(r *Record) { r.BornHost = netip.AddrPort{} }, ErrBadHost},
		{"no store host", func(r *Record) { r.StoreHost = netip.AddrPort{} }, ErrBadHost},
		{"zoned store host", func(r *Record) { r.StoreHost = netip.MustParseAddrPort("[fe80::1%eth0]:10911") }, ErrBadHost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sampleRecord()
			tt.modify(&r)
			err := r.Validate()
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("Validate = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCheckCRC(t *testing.T) {
	r := sampleRecord()
	b := AppendRecord(nil, &r)
	v, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.CheckCRC(); err != nil {
		t.Fatalf("CheckCRC on good record: %v", err)
	}
	v.Body()[0] ^= 1
	if err := v.CheckCRC(); !errors.Is(err, ErrCRC) {
		t.Fatalf("CheckCRC after flipping a body bit = %v, want ErrCRC", err)
	}
}

func TestBodyCRC(t *testing.T) {
	tests := []struct {
		name string
		body string
		want uint32
	}{
		{"empty", "", 0},
		// crc32.ChecksumIEEE("123456789") = 0xCBF43926, masked to 31 bits.
		{"check value", "123456789", 0xCBF43926 & 0x7FFFFFFF},
	}
	for _, tt := range tests {
		if got := BodyCRC([]byte(tt.body)); got != tt.want {
			t.Errorf("%s: BodyCRC = %#x, want %#x", tt.name, got, tt.want)
		}
	}
}

func TestBlank(t *testing.T) {
	b := AppendBlank([]byte("xx"), 1000)
	if len(b) != 2+BlankHeaderSize {
		t.Fatalf("AppendBlank wrote %d bytes, want %d", len(b)-2, BlankHeaderSize)
	}
	if got := BlankSize(b[2:]); got != 1000 {
		t.Errorf("BlankSize = %d, want 1000", got)
	}
	r := sampleRecord()
	cases := []struct {
		name string
		in   []byte
	}{
		{"short", b[2:9]},
		{"record", AppendRecord(nil, &r)},
		{"nil", nil},
		{"size below header", binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 4), MagicBlank)},
	}
	for _, c := range cases {
		if got := BlankSize(c.in); got != 0 {
			t.Errorf("BlankSize(%s) = %d, want 0", c.name, got)
		}
	}
	for _, n := range []int{-1, 0, BlankHeaderSize - 1, 1 << 31} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("AppendBlank(%d) did not panic", n)
				}
			}()
			AppendBlank(nil, n)
		}()
	}
}

func TestTxType(t *testing.T) {
	for _, tt := range []struct{ flag, want int32 }{
		{0, TxNotType},
		{TxPrepared | SysFlagCompressed, TxPrepared},
		{TxCommit | SysFlagBornHostV6, TxCommit},
		{TxRollback | SysFlagMultiTags, TxRollback},
	} {
		if got := TxType(tt.flag); got != tt.want {
			t.Errorf("TxType(%#x) = %#x, want %#x", tt.flag, got, tt.want)
		}
	}
}

func TestZeroAllocs(t *testing.T) {
	r := sampleRecord()
	r.BornHost = hostV6
	buf := make([]byte, 0, r.Size())
	enc := AppendRecord(nil, &r)
	var sink int64
	tests := []struct {
		name string
		fn   func()
	}{
		{"AppendRecord", func() { buf = AppendRecord(buf[:0], &r) }},
		{"Parse and accessors", func() {
			v, err := Parse(enc)
			if err != nil {
				panic(err)
			}
			sink += int64(v.Size()) + int64(v.BodyCRC()) + int64(v.QueueID()) + int64(v.Flag()) +
				v.QueueOffset() + v.PhysicalOffset() + int64(v.SysFlag()) + v.BornTimestamp() +
				int64(v.BornHost().Port()) + v.StoreTimestamp() + int64(v.StoreHost().Port()) +
				int64(v.ReconsumeTimes()) + v.PreparedTransactionOffset() +
				int64(len(v.Body())+len(v.Topic())+len(v.Properties()))
			if v.CheckCRC() != nil {
				panic("crc")
			}
		}},
		{"BlankSize", func() { sink += int64(BlankSize(enc)) }},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(100, tt.fn); n != 0 {
			t.Errorf("%s: %v allocs/op, want 0", tt.name, n)
		}
	}
	_ = sink
}

// TestCheckHeader: only a message header for exactly the given bytes passes.
func TestCheckHeader(t *testing.T) {
	r := sampleRecord()
	rec := AppendRecord(nil, &r)
	with := func(edit func(b []byte) []byte) []byte { return edit(bytes.Clone(rec)) }
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"record", rec, nil},
		{"a byte more", append(bytes.Clone(rec), 0), ErrCorrupt},
		{"a byte less", rec[:len(rec)-1], ErrCorrupt},
		{"short", rec[:7], ErrTruncated},
		{"blank", AppendBlank(nil, len(rec)), ErrBlank},
		{"bad magic", with(func(b []byte) []byte { b[4] ^= 0xff; return b }), ErrBadMagic},
		{"zeros", make([]byte, len(rec)), ErrBadMagic},
		{"below the least size", with(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b, MinRecordSize-1)
			return b[:MinRecordSize-1]
		}), ErrCorrupt},
	} {
		err := CheckHeader(tc.b)
		if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: CheckHeader = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestQueued(t *testing.T) {
	for _, tc := range []struct {
		sysFlag int32
		want    bool
	}{
		{TxNotType, true},
		{TxCommit, true},
		{TxPrepared, false},
		{TxRollback, false},
		{TxPrepared | SysFlagCompressed | SysFlagBornHostV6, false},
		{TxCommit | SysFlagMultiTags | SysFlagStoreHostV6, true},
	} {
		if got := Queued(tc.sysFlag); got != tc.want {
			t.Errorf("Queued(%#x) = %v, want %v", tc.sysFlag, got, tc.want)
		}
	}
}
