package protocol

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
	"strings"
	"time"
)

// DataVersion versions a broker's topic (or subscription group) table. Two versions are
// equal when both fields are; the NameServer re-reads a master's topics only when it changed.
type DataVersion struct {
	Counter   int64 `json:"counter"`
	Timestamp int64 `json:"timestamp"` // ms
}

// Next advances the version: counter+1, timestamp = now.
func (d *DataVersion) Next(now time.Time) {
	d.Counter++
	d.Timestamp = now.UnixMilli()
}

// TopicConfig is a broker's configuration of one topic.
type TopicConfig struct {
	Order           bool            `json:"order"`
	Perm            int32           `json:"perm"`
	ReadQueueNums   int32           `json:"readQueueNums"`
	TopicFilterType TopicFilterType `json:"topicFilterType"`
	TopicName       string          `json:"topicName"`
	TopicSysFlag    int32           `json:"topicSysFlag"`
	WriteQueueNums  int32           `json:"writeQueueNums"`
}

// NewTopicConfig returns Java's defaults for a new topic: 16 read and 16 write queues,
// read|write, SINGLE_TAG.
func NewTopicConfig(name string) TopicConfig {
	return TopicConfig{TopicName: name, ReadQueueNums: 16, WriteQueueNums: 16, Perm: PermRead | PermWrite, TopicFilterType: SingleTag}
}

// QueueData returns the route entry the topic contributes for brokerName.
func (t *TopicConfig) QueueData(brokerName string) QueueData {
	return QueueData{
		BrokerName: brokerName, ReadQueueNums: t.ReadQueueNums, WriteQueueNums: t.WriteQueueNums,
		Perm: t.Perm, TopicSysFlag: t.TopicSysFlag,
	}
}

// TopicConfigSerializeWrapper is a broker's topic table and its version.
type TopicConfigSerializeWrapper struct {
	DataVersion      DataVersion            `json:"dataVersion"`
	TopicConfigTable map[string]TopicConfig `json:"topicConfigTable"`
}

// MarshalJSON implements json.Marshaler: topicConfigTable is {} when empty, never null.
func (w TopicConfigSerializeWrapper) MarshalJSON() ([]byte, error) {
	type plain TopicConfigSerializeWrapper
	p := plain(w)
	p.TopicConfigTable = nonNilMap(p.TopicConfigTable)
	return json.Marshal(p)
}

// RegisterBrokerBody is the body of REGISTER_BROKER (103).
type RegisterBrokerBody struct {
	FilterServerList            []string                    `json:"filterServerList"`
	TopicConfigSerializeWrapper TopicConfigSerializeWrapper `json:"topicConfigSerializeWrapper"`
}

// BodyCRC32 is the checksum REGISTER_BROKER's bodyCrc32 carries: CRC-32 IEEE & 0x7FFFFFFF
// (Java's UtilAll.crc32).
func BodyCRC32(body []byte) int32 { return int32(crc32.ChecksumIEEE(body) & 0x7FFFFFFF) }

// Limits of the compressed RegisterBrokerBody decoder.
const (
	maxRegisterBodyInflated = 64 << 20 // bytes after inflating
	maxRegisterBodyField    = 16 << 20 // one length-prefixed field
)

// Encode returns the body as JSON, or, if compressed, in Java's compressed form:
//
//	zlib( int32 len | DataVersion JSON
//	      int32 n   | n × (int32 len | "topicName readQueueNums writeQueueNums perm topicFilterType")
//	      int32 len | filterServerList JSON )
//
// with big-endian lengths. The compressed form drops topicSysFlag and order, as Java's does.
func (b *RegisterBrokerBody) Encode(compressed bool) ([]byte, error) {
	if !compressed {
		type plain RegisterBrokerBody
		p := plain(*b)
		p.FilterServerList = nonNil(p.FilterServerList)
		return json.Marshal(p)
	}
	var raw []byte
	field := func(v []byte) {
		raw = binary.BigEndian.AppendUint32(raw, uint32(len(v)))
		raw = append(raw, v...)
	}
	dv, err := json.Marshal(b.TopicConfigSerializeWrapper.DataVersion)
	if err != nil {
		return nil, err
	}
	field(dv)
	table := b.TopicConfigSerializeWrapper.TopicConfigTable
	raw = binary.BigEndian.AppendUint32(raw, uint32(len(table)))
	for _, name := range sortedKeys(table) {
		t := table[name]
		if strings.Contains(t.TopicName, " ") {
			return nil, fmt.Errorf("protocol: topic %q cannot be written compressed", t.TopicName)
		}
		field(fmt.Appendf(nil, "%s %d %d %d %s", t.TopicName, t.ReadQueueNums, t.WriteQueueNums, t.Perm, t.TopicFilterType))
	}
	fs, err := json.Marshal(nonNil(b.FilterServerList))
	if err != nil {
		return nil, err
	}
	field(fs)
	var out bytes.Buffer
	zw, err := zlib.NewWriterLevel(&out, zlib.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(raw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// DecodeRegisterBrokerBody decodes a REGISTER_BROKER body, JSON or (if compressed) Java's
// compressed form (see Encode). An empty body decodes as an empty table.
func DecodeRegisterBrokerBody(body []byte, compressed bool) (*RegisterBrokerBody, error) {
	var b RegisterBrokerBody
	if len(body) == 0 {
		return &b, nil
	}
	if !compressed {
		if err := Unmarshal(body, &b); err != nil {
			return nil, fmt.Errorf("register broker body: %w", err)
		}
		return &b, nil
	}
	if err := b.decodeCompressed(body); err != nil {
		return nil, fmt.Errorf("register broker body: %w", err)
	}
	return &b, nil
}

func (b *RegisterBrokerBody) decodeCompressed(body []byte) error {
	zr, err := zlib.NewReader(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadJSON, err)
	}
	defer zr.Close()
	r := &limitedReader{r: io.LimitReader(zr, maxRegisterBodyInflated)}
	dv := r.field()
	n := r.uint32()
	if r.err == nil {
		if err := json.Unmarshal(dv, &b.TopicConfigSerializeWrapper.DataVersion); err != nil {
			return fmt.Errorf("%w: dataVersion: %v", ErrBadJSON, err)
		}
	}
	table := make(map[string]TopicConfig)
	for i := uint32(0); i < n && r.err == nil; i++ {
		line := r.field()
		if r.err != nil {
			break
		}
		// Java decodes the text as UTF-8, replacing malformed bytes.
		t, err := parseCompactTopicConfig(strings.ToValidUTF8(string(line), "\uFFFD"))
		if err != nil {
			return err
		}
		table[t.TopicName] = t
	}
	fs := r.field()
	if r.err != nil {
		return r.err
	}
	b.TopicConfigSerializeWrapper.TopicConfigTable = table
	// Java ignores an unreadable filter server list; so does this.
	_ = json.Unmarshal(fs, &b.FilterServerList)
	return nil
}

// parseCompactTopicConfig parses Java's TopicConfig.encode form:
// "name readQueueNums writeQueueNums perm topicFilterType".
func parseCompactTopicConfig(s string) (TopicConfig, error) {
	parts := strings.Split(s, " ")
	if len(parts) != 5 {
		return TopicConfig{}, fmt.Errorf("%w: topic config %q has %d fields, want 5", ErrBadJSON, s, len(parts))
	}
	t := TopicConfig{TopicName: parts[0], TopicFilterType: TopicFilterType(parts[4])}
	for i, p := range []*int32{&t.ReadQueueNums, &t.WriteQueueNums, &t.Perm} {
		v, err := strconv.ParseInt(parts[i+1], 10, 32)
		if err != nil {
			return TopicConfig{}, fmt.Errorf("%w: topic config %q: %v", ErrBadJSON, s, err)
		}
		*p = int32(v)
	}
	return t, nil
}

// limitedReader reads big-endian length-prefixed fields with a sticky error.
type limitedReader struct {
	r   io.Reader
	err error
}

func (r *limitedReader) uint32() uint32 {
	if r.err != nil {
		return 0
	}
	var b [4]byte
	if _, err := io.ReadFull(r.r, b[:]); err != nil {
		r.err = fmt.Errorf("%w: truncated compressed body", ErrBadJSON)
		return 0
	}
	return binary.BigEndian.Uint32(b[:])
}

func (r *limitedReader) field() []byte {
	n := r.uint32()
	if r.err != nil {
		return nil
	}
	if n > maxRegisterBodyField {
		r.err = fmt.Errorf("%w: compressed body field of %d bytes", ErrBadJSON, n)
		return nil
	}
	// Read in steps so that a lying length cannot make us allocate more than we read.
	var out bytes.Buffer
	if _, err := io.CopyN(&out, r.r, int64(n)); err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("truncated compressed body")
		}
		r.err = fmt.Errorf("%w: %v", ErrBadJSON, err)
		return nil
	}
	return out.Bytes()
}
