// Package acl is RocketMQ ACL 1.0 ("plain ACL") as the official 4.x clients speak it: who may
// send which request to a broker, decided from the request alone.
//
// # Signature (wire format, never change)
//
// A client with an AccessKey and a SecretKey adds three extFields to every request it sends:
// AccessKey, SecurityToken (only when it has one) and Signature. The signature is
//
//	base64std(HMAC-SHA1(key = UTF-8(SecretKey), data = content))
//
// where content is the values (not the keys) of every extField but Signature, concatenated in
// the byte order of their keys, followed by the request body. The AccessKey and SecurityToken
// fields are part of the content, since they are extFields when the client signs. The broker
// leaves out the field _UNIQUE_KEY_QUERY as well, as RocketMQ's broker does. Two quirks of
// real clients are accepted too: rocketmq-client-go v2.1.2 leaves its SecurityToken out of the
// content, and a Java client signs _UNIQUE_KEY_QUERY when it queries by unique key.
//
// # Decision (Policy.Validate), in RocketMQ's order
//
//  1. The connection's IP matches a globalWhiteRemoteAddresses pattern: allowed, unsigned.
//  2. No AccessKey field: denied. An AccessKey no account has: denied.
//  3. The IP matches the account's whiteRemoteAddress: allowed without checking the signature.
//  4. The Signature does not match the account's SecretKey: denied.
//  5. A send to RMQ_SYS_TRACE_TOPIC (message trace): allowed.
//  6. An admin-only request code (AdminCodes) from an account without admin: true: denied.
//  7. Every resource the request touches (resources.go) needs its permission: the account's
//     permission for that topic or group if listed, else its defaultTopicPerm or
//     defaultGroupPerm. An admin account without any topicPerms or groupPerms may do anything.
//
// A group G is the resource %RETRY%G, as in RocketMQ: groupPerms and topicPerms share one
// table. Permissions are DENY, PUB, SUB and PUB|SUB (or SUB|PUB); a missing default is DENY.
//
// # File (plain_acl.yml)
//
//	globalWhiteRemoteAddresses: ["10.10.103.*", "192.168.0.1-20"]
//	accounts:
//	  - accessKey: RocketMQ          # at least 6 characters
//	    secretKey: "12345678"        # at least 6 characters
//	    whiteRemoteAddress: ""       # an address pattern, or empty
//	    admin: false
//	    defaultTopicPerm: DENY
//	    defaultGroupPerm: SUB
//	    topicPerms: [topicA=DENY, topicB=PUB|SUB, topicC=SUB]
//	    groupPerms: [groupA=DENY, groupB=PUB|SUB, groupC=SUB]
//
// Address patterns (addr.go): an exact IPv4 or IPv6 address; "*" (or "*.*.*.*") for any;
// IPv4 with an octet written as "*" or a range "lo-hi" (10.1.*.*, 10.1.2.1-10); a list
// "a,b,c" of exact addresses; or "10.1.2.{1,5,9}". IPv6 ranges are not supported.
//
// Watcher reloads the file when its contents change; a file that does not parse keeps the
// policy in force and reports the error.
package acl
