package timer

import (
	"fmt"
	"strconv"

	"github.com/ternmq/tern/core/message"
)

// Properties the timer reads and writes.
const (
	// Topic is the inbox every timer waits in (wire name, never change).
	Topic = "rmq_sys_wheel_timer"
	// PropertyAt carries a delivery time already decided by the broker (a consumer retry's
	// backoff): the inbox does not ask the scheduler again.
	PropertyAt = "__TERN_TIMER_AT"
	// PropertySource, on a fired copy, is the CommitLog offset of its inbox record: what makes
	// firing idempotent across a crash.
	PropertySource = "__TERN_TIMER_SRC"
	// PropertyOut, on a fired copy, is the time it was due (RocketMQ 5's name).
	PropertyOut = "TIMER_OUT_MS"
	// PropertyDelUniqKey on a send cancels the timer of the same topic whose UNIQ_KEY follows
	// the '+' (RocketMQ 5's cancel: "TOPIC+UNIQ_KEY").
	PropertyDelUniqKey = "TIMER_DEL_UNIQKEY"
)

// requestProps are the properties a producer asks for a delivery time with.
// (In Scan's order of precedence.)
var requestProps = []string{message.PropertyTimerDeliverMS, message.PropertyTimerDelayMS, message.PropertyTimerDelaySec, message.PropertyStartDeliverTime}

// Asks is what a message's properties ask of the scheduling, read in one pass by Scan.
type Asks struct {
	// At is the requested delivery time (ms since the epoch) when Timed.
	At    int64
	Timed bool
	// Level is the DELAY property, nil if none; Cancel the TIMER_DEL_UNIQKEY property.
	Level, Cancel []byte
}

// Scan reads the scheduling properties in one pass without allocating: the requested time
// from TIMER_DELIVER_MS (absolute ms), TIMER_DELAY_MS or TIMER_DELAY_SEC (relative to
// storedAt), or __STARTDELIVERTIME (absolute ms, as older clients send it), in that order of
// precedence; the DELAY level; a cancel request. A requested time that is not a non-negative
// integer is an error.
func Scan(props []byte, storedAt int64) (Asks, error) {
	var a Asks
	var req [4][]byte // by precedence
	for k, v := range message.Pairs(props) {
		switch string(k) {
		case message.PropertyTimerDeliverMS:
			req[0] = v
		case message.PropertyTimerDelayMS:
			req[1] = v
		case message.PropertyTimerDelaySec:
			req[2] = v
		case message.PropertyStartDeliverTime:
			req[3] = v
		case message.PropertyDelayLevel:
			a.Level = v
		case PropertyDelUniqKey:
			a.Cancel = v
		}
	}
	for i, v := range req {
		if v == nil {
			continue
		}
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil || n < 0 {
			return a, fmt.Errorf("timer: %s=%q is not a non-negative integer", requestProps[i], v)
		}
		switch i {
		case 1:
			if n > 1<<62 {
				return a, fmt.Errorf("timer: %s=%q is too large", requestProps[i], v)
			}
			n += storedAt
		case 2:
			if n > (1<<62)/1000 {
				return a, fmt.Errorf("timer: %s=%q is too large", requestProps[i], v)
			}
			n = storedAt + n*1000
		}
		a.At, a.Timed = n, true
		break
	}
	return a, nil
}

// Requested returns the delivery time a message asks for (see Scan); ok is false when it asks
// for none.
func Requested(props []byte, storedAt int64) (at int64, ok bool, err error) {
	a, err := Scan(props, storedAt)
	return a.At, a.Timed, err
}

// firedDrop are the properties a fired copy does not keep: the routing, the request the
// scheduler read and the broker's own, which it gets anew.
var firedDrop = append([]string{message.PropertyRealTopic, message.PropertyRealQueueID, message.PropertyDelayLevel, PropertyAt, PropertyOut, PropertySource}, requestProps...)
