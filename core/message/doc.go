// Package message is the codec for stored message records: the CommitLog
// record (which is also the record format of pull bodies), the end-of-segment
// blank marker, the properties string, the body of SEND_BATCH_MESSAGE (320),
// the consume-queue tag hash and the two RocketMQ message id formats.
//
// Everything below is wire format shared with the unmodified RocketMQ 4.x
// clients (Java and rocketmq-client-go v2.1.2) and with data already on disk:
// wire format, never change. All integers are big-endian. References are to
// docs/rocketmq-remoting-protocol.md.
//
// # Stored message record (§4.1)
//
// A record is the v1 layout (MagicMessage, 1-byte topic length). B and S are
// the sizes of the born and store host fields: 8 for IPv4 (4-byte address +
// int32 port) and 20 for IPv6 (16-byte address + int32 port), chosen by the
// SysFlagBornHostV6 and SysFlagStoreHostV6 bits. Offsets for IPv4/IPv4 are in
// brackets.
//
//	offset        size  field
//	0             4     TOTALSIZE          int32, length of the whole record
//	4             4     MAGICCODE          0xDAA320A7 (MagicMessage)
//	8             4     BODYCRC            CRC-32 IEEE of the stored body & 0x7FFFFFFF
//	12            4     QUEUEID            int32
//	16            4     FLAG               int32, user flag
//	20            8     QUEUEOFFSET        int64, logical offset in (topic, queue)
//	28            8     PHYSICALOFFSET     int64, CommitLog offset of this record
//	36            4     SYSFLAG            int32, see below
//	40            8     BORNTIMESTAMP      int64, ms
//	48            B     BORNHOST           address (4|16) + port int32
//	48+B    [56]  8     STORETIMESTAMP     int64, ms
//	56+B    [64]  S     STOREHOST          address (4|16) + port int32
//	56+B+S  [72]  4     RECONSUMETIMES     int32
//	60+B+S  [76]  8     PREPAREDTXOFFSET   int64
//	68+B+S  [84]  4     BODYLENGTH         int32, n >= 0
//	72+B+S  [88]  n     BODY
//	72+B+S+n      1     TOPICLENGTH        t in 1..127 (Java reads a signed byte)
//	73+B+S+n      t     TOPIC
//	73+B+S+n+t    2     PROPERTIESLENGTH   int16, p in 0..32767
//	75+B+S+n+t    p     PROPERTIES         see "Properties string"
//
// TOTALSIZE = 75 + B + S + n + t + p, that is 91 + n + t + p for IPv4/IPv4
// and 12 more per IPv6 host. MinRecordSize (91) is the fixed part alone; as
// the topic is never empty, the smallest valid record is 92 bytes. Ports
// are int32 on the wire and must lie in 0..65535. Records follow each other
// with no padding; the Go client reads fields sequentially and never skips by
// TOTALSIZE, so a record must be exactly this layout. The 5.x v2 magic
// 0xDAA320AB (2-byte topic length) is rejected: Go v2.1.2 cannot read it.
//
// # SysFlag (§4.2)
//
//	0x1    SysFlagCompressed   body is zlib-compressed (BODYCRC covers the stored bytes)
//	0x2    SysFlagMultiTags    topic filter type MULTI_TAG
//	0xC    TxMask              transaction type: TxNotType 0, TxPrepared 0x4,
//	                           TxCommit 0x8, TxRollback 0xC
//	0x10   SysFlagBornHostV6   BORNHOST is 20 bytes
//	0x20   SysFlagStoreHostV6  STOREHOST is 20 bytes
//
// Other bits (0x40, 0x80, compression type in bits 8-10) are stored as given
// and not interpreted here. AppendRecord sets or clears the two IPv6 bits from
// the hosts; every other bit is the caller's.
//
// # Blank marker
//
// When a record does not fit in the rest of a CommitLog segment, the segment
// ends with a blank marker and the record goes to the next segment:
//
//	offset  size  field
//	0       4     TOTALSIZE   int32, bytes from here to the end of the segment (>= 8)
//	4       4     MAGICCODE   0xCBD43194 (MagicBlank)
//
// AppendBlank writes only these BlankHeaderSize bytes; the rest of the
// TOTALSIZE bytes belong to the segment and are never read. A blank never
// appears in a pull body.
//
// # Properties string (§4.3)
//
// UTF-8 text: entries key + "\x01" + value, separated by "\x02". Java writes
// no trailing separator, Go clients write one after every entry. Readers split
// on "\x02", skip empty pieces and pieces whose key or value is empty, split a
// piece at its first "\x01" (the value may contain later "\x01" bytes), and
// let a later duplicate key win. AppendProperties writes keys in sorted order
// with no trailing separator and refuses separators inside keys and values.
//
// # Batch element (§3.6)
//
// The body of SEND_BATCH_MESSAGE is a sequence of elements with no padding:
//
//	offset  size  field
//	0       4     TOTALSIZE   int32, = 22 + n + p
//	4       4     MAGICCODE   ignored (clients write 0)
//	8       4     BODYCRC     ignored (clients write 0)
//	12      4     FLAG        int32
//	16      4     BODYLENGTH  int32, n >= 0
//	20      n     BODY
//	20+n    2     PROPSLENGTH int16, p in 0..32767
//	22+n    p     PROPERTIES
//
// # Offset message id (§5.1)
//
// Upper-case hex of 16 bytes (IPv4 store host, 32 hex chars) or 28 bytes
// (IPv6, 56 hex chars):
//
//	offset  size   field
//	0       4|16   store host address
//	4|16    4      store host port, int32
//	8|20    8      physical offset, int64
//
// Example: store 127.0.0.1:10911, offset 123456 ->
// 7F00000100002A9F000000000001E240. The Go transactional producer decodes the
// send response msgId this way, so the broker must hand out the 32-char form.
//
// # Unique message id (§5.2, UNIQ_KEY)
//
// Java MessageClientIDSetter format, upper-case hex of 16 bytes (IPv4, 32
// chars) or 28 bytes (IPv6, 56 chars):
//
//	offset  size   field
//	0       4|16   IP address of the producer
//	4|16    2      pid, low 16 bits
//	6|18    4      per-process random (Java: class-loader hash)
//	10|22   4      ms since the start of the current month, uint32 bits
//	14|26   2      counter, wraps at 65536
//
// The first 10 (or 22) bytes are fixed per generator. Go v2.1.2 writes the
// last 6 bytes in lower-case hex and a zero random part; both parse here.
// Brokers treat unique ids as opaque strings.
//
// # Tag hash (§6.2)
//
// The consume-queue tagsCode of a record is Java String.hashCode of the TAGS
// property (h = 31*h + c over UTF-16 code units, int32 wrap-around, starting at
// 0), sign-extended to int64; 0 when there is no tag.
//
// # Contracts
//
// Decoders check every length against the input before slicing or
// allocating. Parse, the View accessors, ParseBatch, Property, SplitKeys,
// TagsCodeBytes and ParseOffsetMsgID do not allocate on success (errors are
// wrapped with detail and do); returned slices alias the input with capacity
// clipped to the field. ParseProperties and View.Record copy. Encoders append to a
// caller's buffer and do not allocate when it has room. The package has no
// mutable package-level state; everything is safe for concurrent use on
// distinct buffers, and UniqIDGenerator is safe for concurrent use.
package message
