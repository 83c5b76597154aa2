// Package protocol holds the request and response custom headers and the JSON bodies of the
// RocketMQ 4.x remoting protocol, shared by the broker, the NameServer, Tern's client SDK and
// the admin CLI. Everything here is wire format shared with the unmodified RocketMQ clients
// (rocketmq-client-go v2.1.2 and Java 4.x): wire format, never change. Section references are
// to docs/rocketmq-remoting-protocol.md. The package knows nothing of frames or connections;
// core/remoting carries a header as Command.ExtFields (or Fields) and a body as Command.Body.
//
// # Custom headers (§2)
//
// A header is a flat string → string map (extFields). Each header type has
//
//	Decode(fields FieldSource) error  // validate and parse: a received *remoting.Command, or a Map
//	Encode() map[string]string        // every value a decimal or "true"/"false" string
//
// written by hand per type, no reflection. The send header is the exception: one
// SendMessageHeader serves the long keys of SEND_MESSAGE (10) and SEND_REPLY_MESSAGE (324) and
// the one-letter keys 'a'..'n' of SEND_MESSAGE_V2 (310), SEND_BATCH_MESSAGE (320) and
// SEND_REPLY_MESSAGE_V2 (325), through DecodeSendMessage(fields, v2) and Encode(v2). Several
// codes with identical headers share one type (TopicQueueHeader for 30/31/32,
// OffsetResponseHeader for the responses of 14/29/30/31, ConsumerGroupHeader for 38/40/203,
// ConsumerOffsetHeader for 14/15, DeleteTopicHeader for 215/216).
//
// Decoding rules:
//
//   - A required field ("req" in the doc, Java's @CFNotNull) must be present, or Decode fails
//     with a *FieldError wrapping ErrMissingField. Like Java, presence is what counts: an
//     empty required string is accepted.
//   - Integers are decimal int32 (Java Integer) or int64 (Java Long); anything else, including
//     an empty required number, is a *FieldError wrapping ErrInvalidField.
//   - An optional field that is absent or empty decodes as the zero value; the few whose
//     absence means something else (maxReconsumeTimes) are pointers.
//   - Booleans decode like Java's Boolean.parseBoolean: "true" in any case is true, all else
//     false; they never fail.
//   - Unknown keys are ignored (ACL signatures, Java's extra keys).
//
// FieldError texts name the field as sent ("protocol: header field \"e\" (queueId) is not an
// int32: \"x\"") and are meant to be answered to the client as the response remark.
//
// Encoding writes every required field, the optional numbers and booleans the Go client
// always writes, and optional strings only when non-empty (Java leaves null fields out).
//
// # JSON bodies (§3)
//
// Bodies are plain structs with json tags whose keys are in fastjson's alphabetical order,
// so that Tern's output looks like Java's. MarshalJSON methods guarantee what the clients
// need: every array and object is [] or {} when empty, never null (Go's encoding/json writes
// nil as null; §10.2), and TopicRouteData/BrokerData write brokerAddrs as a compact object
// with quoted integer keys and no whitespace, which the Go client cuts apart as text.
//
// Java peers write fastjson, which is not always JSON: unquoted integer map keys
// ({0:"10.0.0.5:10911"}, what the Java namesrv sends to clients older than 4.9.4) and
// MessageQueue objects as map keys ({{"brokerName":..,"queueId":0,"topic":..}:5}). Decode
// bodies with Unmarshal, which passes standard JSON to encoding/json and otherwise first
// rewrites the input with NormalizeFastJSON (bare keys quoted, object keys turned into strings
// of their JSON). encoding/json rejects invalid input before calling any UnmarshalJSON method,
// so json.Unmarshal must not be used on bodies from Java.
//
// MessageQueue-keyed maps (ConsumeStats.offsetTable, ResetOffsetBody.offsetTable) are written
// in fastjson's object-key form, sorted by queue, by explicit Encode methods, since that is
// what the Java admin tools and the Go client's reset-offset parser read; Decode accepts that
// form and standard JSON whose keys are strings holding the queue's JSON.
//
// Compressed REGISTER_BROKER bodies (Java's compressedRegister) are supported by
// DecodeRegisterBrokerBody and RegisterBrokerBody.Encode.
//
// # Names
//
// The constants give perm bits, topic filter types, message models, consume types,
// consume-from-where values, expression types (TAG, SQL92 and Tern's CEL), pull sysFlag bits
// and the system topic names (§6.1). NewSubscriptionData builds tag subscriptions as Java's
// FilterAPI does (with filters/tag, the one tag-expression parser), with codes from
// message.TagsCode (Java's String.hashCode over UTF-16).
package protocol
