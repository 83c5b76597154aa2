// Package remoting is RocketMQ 4.x remoting: the frame codec, the connection, the server and
// the opaque-matched client. It speaks to the unmodified RocketMQ clients (Java and
// rocketmq-client-go v2.1.2). References are to docs/rocketmq-remoting-protocol.md §1 and §10.
//
// # Frame (wire format, never change)
//
// All integers are big-endian.
//
//	offset   size       field
//	0        4          length        int32: bytes after this field = 4 + headerLen + bodyLen
//	4        1          serializeType 0 = JSON, 1 = ROCKETMQ (binary)
//	5        3          headerLen     uint24: the header's byte length
//	8        headerLen  header        JSON text or the binary header, below
//	8+hl     rest       body          bodyLen = length - 4 - headerLen, may be 0
//
// A reader accepts a length in [4, MaxFrameSize]; MaxFrameSize defaults to 16 MiB
// (DefaultMaxFrameSize, RocketMQ's frameMaxLength). A length outside it, a headerLen beyond
// length-4, an unknown serializeType or an undecodable header is an error (ErrFrameTooLarge,
// ErrBadFrame) and closes the connection; nothing is allocated for a length before it is
// checked, and a frame above 256 KiB gets its memory as its bytes arrive. Smaller frames are
// read into pooled buffers (GetBuffer): a frame without a body gives its buffer back once its
// header is decoded, and a handler done with a request's Body gives it back with
// Command.Recycle (the broker does for sends); a buffer nobody gives back is collected.
//
// # JSON header (serializeType 0)
//
//	key        JSON type  field
//	code       number     request code, or response code in a response (int16)
//	language   string     sender's LanguageCode name ("GO" for Tern)
//	version    number     sender's MQVersion ordinal (int16)
//	opaque     number     request id, echoed by the response (int32)
//	flag       number     bit 0 (1): response; bit 1 (2): oneway request (int32)
//	remark     string     error text of a response
//	extFields  object     string → string: the request's or response's custom header
//
// Output is compact, in exactly this key order (the order Go v2.1.2 writes), with remark and
// extFields always present ({} when empty) and extFields keys sorted. Every extFields value is
// a string: a number there makes the Go client drop the whole response (§10.1). Input takes
// any key order (Java's fastjson writes them alphabetically), skips unknown keys such as
// serializeTypeCurrentRPC, reads null as the zero value, and reads extFields values that are
// numbers, booleans, objects or arrays as their JSON text (null values are left out).
//
// # Binary ROCKETMQ header (serializeType 1)
//
//	offset  size  field
//	0       2     code       int16
//	2       1     language   LanguageCode: JAVA 0, CPP 1, DOTNET 2, PYTHON 3, DELPHI 4,
//	                         ERLANG 5, RUBY 6, OTHER 7, HTTP 8, GO 9, PHP 10, OMS 11, RUST 12
//	3       2     version    int16
//	5       4     opaque     int32
//	9       4     flag       int32
//	13      4     remarkLen  int32, r >= 0 (0: empty)
//	17      r     remark     UTF-8
//	17+r    4     extLen     int32, e >= 0: bytes of the entries that follow
//	21+r    e     entries    repeated: keyLen int16, key, valueLen int32, value (UTF-8)
//
// The fixed part is 21 bytes. Unknown language bytes read as OTHER, and language names
// without a byte are written as OTHER. Bytes after the entries are ignored, as Java does.
// Entries are written as Command.Fields writes them (the hot headers write their keys sorted),
// then ExtFields' sorted by key. A decoded header is not copied into a map: Command.Lookup
// reads the entries where they lie (of a repeated key the last counts, as in a map), and
// Command.Header builds ExtFields from them when a map is wanted.
//
// # Requests and responses
//
// A response copies its request's opaque, sets flag bit 0 and is written in its request's
// serialize type (Command.Serialize). Every request is answered unless its oneway bit is set:
// Go v2.1.2 never sets it and discards responses it does not expect (§1.3, §10.9). A Handler
// returning nil sends nothing; a Handler that panics is logged and answered SYSTEM_ERROR (1).
// Invoke sets the request's opaque from a per-connection counter. Unknown request codes get REQUEST_CODE_NOT_SUPPORTED (3) with
// the remark " request type N not supported".
//
// # Connections and concurrency
//
// A Conn is one TCP connection, server or client side alike: either side may send requests
// on it (the broker sends CHECK_TRANSACTION_STATE and NOTIFY_CONSUMER_IDS_CHANGED to clients).
// Each Conn has two goroutines, both owned (started and waited for) by its Server or Client:
//
//   - The reader decodes frames. A response goes to the Invoke waiting for its opaque (a map
//     under the Conn's mutex; opaques come from a per-connection counter); a response nobody
//     waits for is dropped. An Invoke waits on one channel, where the reader, its deadline's
//     timer or the connection's closing hands it its one outcome. A request runs the Handler
//     on a worker goroutine (an idle one of the owner's, kept for 10 to 20 s after its last
//     request so that its grown stack serves the next, or a new one) when both an
//     in-flight slot of the connection (MaxInflightPerConn) and one shared by all the owner's
//     connections (MaxInflight) are free; otherwise it is answered at once with SYSTEM_BUSY
//     (2, remark "[OVERLOAD] ...") without running the handler (a oneway request is dropped).
//     A request holds its slots until its response is about to be written (or is dropped), so
//     a peer that has the answer finds them free.
//   - The writer drains the write queue, a channel of WriteQueue frames (default 1024). Frames
//     are encoded by the sender, so encoding errors reach it; the writer sends everything
//     queued (up to 64 frames) with one writev: each frame's length, header word, header, Body
//     and BodyParts as separate buffers, so bodies are never copied (zero copy for pull
//     responses). Then it calls each command's Release. When the queue is full, Invoke and
//     InvokeOneway block until ctx ends, Send and handler responses until there is room or the
//     connection closes: back-pressure on a peer that does not read. The reader never waits:
//     a SYSTEM_BUSY answer that finds the queue full is dropped. Release must not block.
//     A frame of at most 64 KiB that an Invoke or a handler's response queues while its
//     connection has nothing else to do (no other call waiting, no other request in flight,
//     nothing queued, and not more than one response handed out since the last frame: a burst
//     of answers is followed by a burst of calls) skips the queue: the sender writes it with
//     one writev that never waits for room, and leaves what the socket did not take to the
//     writer, which sends it before anything queued later. A lone call saves the two goroutine
//     switches of the writer's turn; under load the writer gathers the frames as before. (Not
//     on TLS connections.)
//
// A connection closes on Close, on a read or write error, on a bad frame (logged, with only
// that connection affected) or after IdleTimeout (default 120 s, RocketMQ's) without traffic
// in either direction; each write is also bounded by IdleTimeout. Closing fails the pending
// Invokes with ErrConnClosed, drops (and releases) the queued frames and cancels the handlers'
// ctx. Conn.Close waits for the reader and writer; Server.Close and Client.Close also wait for
// the handlers.
//
// # TLS and the connection limit
//
// Each listener has a TLSMode (admit.go). In TLSDisabled a connection is served as accepted.
// Otherwise a goroutine of the connection, owned by the Server, reads its first byte — 0x16
// starts a TLS handshake record, a frame's length field never does below 352 MiB — and runs
// the TLS handshake (TLSPermissive, TLSEnforcing) or serves it in plaintext (TLSPermissive) or
// answers its first request SYSTEM_ERROR with RemarkTLSRequired and closes it (TLSEnforcing),
// all within HandshakeTimeout. A connection accepted while MaxConnections are open (or being
// set up) is set up alike, its first request answered SYSTEM_BUSY with
// RemarkTooManyConnections, then closed; at most 64 are answered at once, the rest closed at
// once. A refused request is never handled. Client dials with ClientOptions.TLS.
//
// Locks: Server.mu, Client.mu and Conn.mu each guard their own fields and are never held
// together, nor while blocking. Callbacks (Handler, OnConnect, OnDisconnect, Release) run
// without locks; OnConnect runs in the accept loop (or a TLS connection's setup goroutine) and
// Release in the writer (or the sender of a lone frame), so neither may block, and Release must
// not call Conn.Close. Conn.wmu orders the writes to the socket; the writer holds it while
// writing, a lone frame's sender only takes it if it is free, and no other lock is taken under it.
package remoting
