package message

import (
	"bytes"
	"fmt"
	"iter"
	"slices"
	"strings"
)

// Properties string separators (wire format, never change).
const (
	NameValueSeparator = '\x01'
	PropertySeparator  = '\x02'
)

// Well-known property keys (J-COMMON/message/MessageConst.java and
// client-go primitive/message.go). Wire format, never change.
const (
	PropertyTags                       = "TAGS"
	PropertyKeys                       = "KEYS"
	PropertyUniqKey                    = "UNIQ_KEY"
	PropertyWaitStoreMsgOK             = "WAIT"
	PropertyDelayLevel                 = "DELAY"
	PropertyRetryTopic                 = "RETRY_TOPIC"
	PropertyRealTopic                  = "REAL_TOPIC"
	PropertyRealQueueID                = "REAL_QID"
	PropertyTransactionPrepared        = "TRAN_MSG"
	PropertyProducerGroup              = "PGROUP"
	PropertyMinOffset                  = "MIN_OFFSET"
	PropertyMaxOffset                  = "MAX_OFFSET"
	PropertyBuyerID                    = "BUYER_ID"
	PropertyOriginMessageID            = "ORIGIN_MESSAGE_ID"
	PropertyTransferFlag               = "TRANSFER_FLAG"
	PropertyCorrectionFlag             = "CORRECTION_FLAG"
	PropertyMQ2Flag                    = "MQ2_FLAG"
	PropertyReconsumeTime              = "RECONSUME_TIME"
	PropertyMsgRegion                  = "MSG_REGION"
	PropertyTraceSwitch                = "TRACE_ON"
	PropertyMaxReconsumeTimes          = "MAX_RECONSUME_TIMES"
	PropertyConsumeStartTimestamp      = "CONSUME_START_TIME"
	PropertyTranPreparedQueueOffset    = "TRAN_PREPARED_QUEUE_OFFSET"
	PropertyTransactionCheckTimes      = "TRANSACTION_CHECK_TIMES"
	PropertyCheckImmunityTimeInSeconds = "CHECK_IMMUNITY_TIME_IN_SECONDS"
	PropertyTransactionID              = "__transactionId__" // client-local, never stored
	PropertyInstanceID                 = "INSTANCE_ID"
	PropertyCorrelationID              = "CORRELATION_ID"
	PropertyReplyToClient              = "REPLY_TO_CLIENT"
	PropertyMessageTTL                 = "TTL"
	PropertyReplyMessageArriveTime     = "ARRIVE_TIME"
	PropertyPushReplyTime              = "PUSH_REPLY_TIME"
	PropertyCluster                    = "CLUSTER"
	PropertyMessageType                = "MSG_TYPE"
	PropertyShardingKey                = "SHARDING_KEY" // Go client; 5.x Java uses "__SHARDINGKEY"
	PropertyStartDeliverTime           = "__STARTDELIVERTIME"
	PropertyTimerDeliverMS             = "TIMER_DELIVER_MS"
	PropertyTimerDelaySec              = "TIMER_DELAY_SEC"
	PropertyTimerDelayMS               = "TIMER_DELAY_MS"
	PropertyTraceParent                = "traceparent"
	PropertyTraceState                 = "tracestate"

	// KeySeparator separates the business keys inside the KEYS value.
	KeySeparator = ' '
)

// nextPair scans the properties string s from index i for the next piece that
// Java accepts. It returns the key and value bounds and the index to continue
// from; ok is false when s is exhausted. Pieces that are empty, have no
// NameValueSeparator, or have an empty key or value are skipped. The value
// runs from the first NameValueSeparator to the end of the piece.
func nextPair(s []byte, i int) (key, val []byte, next int, ok bool) {
	for i < len(s) {
		end := bytes.IndexByte(s[i:], PropertySeparator)
		if end < 0 {
			end = len(s)
		} else {
			end += i
		}
		piece := s[i:end]
		i = min(end+1, len(s))
		if k := bytes.IndexByte(piece, NameValueSeparator); k > 0 && k < len(piece)-1 {
			return piece[:k:k], piece[k+1 : len(piece) : len(piece)], i, true
		}
	}
	return nil, nil, len(s), false
}

// ParseProperties decodes a properties string tolerantly, like Java's
// MessageDecoder.string2messageProperties: empty pieces and pieces without a
// key or value are skipped, a trailing PropertySeparator is allowed, a value
// may contain NameValueSeparator after the first one, and a later duplicate
// key wins. It returns nil when s holds no pair.
func ParseProperties(s []byte) map[string]string {
	var m map[string]string
	for i := 0; ; {
		k, v, next, ok := nextPair(s, i)
		if !ok {
			return m
		}
		if m == nil {
			m = make(map[string]string, 1+bytes.Count(s[next:], []byte{PropertySeparator}))
		}
		m[string(k)] = string(v)
		i = next
	}
}

// Pairs iterates, in order and without allocating, the pairs of an encoded properties string
// that ParseProperties would keep (where a key repeats, the last pair is the one that counts).
func Pairs(s []byte) iter.Seq2[[]byte, []byte] {
	return func(yield func(key, value []byte) bool) {
		for i := 0; ; {
			k, v, next, ok := nextPair(s, i)
			if !ok || !yield(k, v) {
				return
			}
			i = next
		}
	}
}

// Property finds key in an encoded properties string without allocating and
// returns the value, aliasing s. It agrees with ParseProperties: the last
// occurrence of a key wins.
func Property(s []byte, key string) ([]byte, bool) {
	var found []byte
	ok := false
	for i := 0; ; {
		k, v, next, more := nextPair(s, i)
		if !more {
			return found, ok
		}
		if string(k) == key {
			found, ok = v, true
		}
		i = next
	}
}

// checkProperty reports ErrBadProperty if key is empty or key or value
// contains a separator.
func checkProperty(key, value string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty key", ErrBadProperty)
	case strings.ContainsAny(key, "\x01\x02"):
		return fmt.Errorf("%w: key %q contains a separator", ErrBadProperty, key)
	case strings.ContainsAny(value, "\x01\x02"):
		return fmt.Errorf("%w: value of %q contains a separator", ErrBadProperty, key)
	}
	return nil
}

// AppendProperties encodes m with keys in sorted order, Java style (entries
// joined by PropertySeparator, no trailing separator), and appends it to dst.
// It returns ErrBadProperty, and dst unchanged, if a key is empty or a key or
// value contains a separator. Empty values are written, although readers
// ignore them. The caller checks the result against MaxPropertiesLen.
func AppendProperties(dst []byte, m map[string]string) ([]byte, error) {
	keys := make([]string, 0, len(m))
	for k, v := range m {
		if err := checkProperty(k, v); err != nil {
			return dst, err
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, PropertySeparator)
		}
		dst = append(dst, k...)
		dst = append(dst, NameValueSeparator)
		dst = append(dst, m[k]...)
	}
	return dst, nil
}

// AppendProperty appends one key/value entry to dst, which holds an encoded
// properties string (possibly empty, possibly ending with a Go-style trailing
// separator). A PropertySeparator is added first when dst is non-empty and
// does not already end with one; this is how the broker adds batch-level
// properties such as CLUSTER to each element. It returns ErrBadProperty, and
// dst unchanged, under the same rules as AppendProperties. An existing entry
// for key is not removed; readers take the last one.
func AppendProperty(dst []byte, key, value string) ([]byte, error) {
	if err := checkProperty(key, value); err != nil {
		return dst, err
	}
	if len(dst) > 0 && dst[len(dst)-1] != PropertySeparator {
		dst = append(dst, PropertySeparator)
	}
	dst = append(dst, key...)
	dst = append(dst, NameValueSeparator)
	return append(dst, value...), nil
}

// SplitKeys calls fn for each business key in a KEYS value, which separates
// keys with KeySeparator (a space). Empty pieces are skipped. The slices
// passed to fn alias keys. It does not allocate.
func SplitKeys(keys []byte, fn func(key []byte)) {
	for len(keys) > 0 {
		i := bytes.IndexByte(keys, KeySeparator)
		if i < 0 {
			fn(keys[:len(keys):len(keys)])
			return
		}
		if i > 0 {
			fn(keys[:i:i])
		}
		keys = keys[i+1:]
	}
}
