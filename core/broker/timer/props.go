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
var requestProps = []string{message.PropertyTimerDeliverMS, message.PropertyTimerDelayMS, message.PropertyTimerDelaySec, message.PropertyStartDeliverTime}

// Requested returns the delivery time a message asks for with TIMER_DELIVER_MS (absolute ms),
// TIMER_DELAY_MS or TIMER_DELAY_SEC (relative to storedAt), or __STARTDELIVERTIME (absolute ms,
// as older clients send it). ok is false when it asks for none; a value that is not a
// non-negative integer is an error.
func Requested(props []byte, storedAt int64) (at int64, ok bool, err error) {
	for _, name := range requestProps {
		v, found := message.Property(props, name)
		if !found {
			continue
		}
		n, perr := strconv.ParseInt(string(v), 10, 64)
		if perr != nil || n < 0 {
			return 0, false, fmt.Errorf("timer: %s=%q is not a non-negative integer", name, v)
		}
		switch name {
		case message.PropertyTimerDelayMS:
			n += storedAt
		case message.PropertyTimerDelaySec:
			if n > (1<<62)/1000 {
				return 0, false, fmt.Errorf("timer: %s=%q is too large", name, v)
			}
			n = storedAt + n*1000
		}
		return n, true, nil
	}
	return 0, false, nil
}

// firedProperties returns the properties of a fired copy: the inbox record's without the
// routing and request properties, with PropertyOut and PropertySource.
func firedProperties(props map[string]string, at, phy int64) map[string]string {
	for _, k := range append([]string{message.PropertyRealTopic, message.PropertyRealQueueID, message.PropertyDelayLevel, PropertyAt}, requestProps...) {
		delete(props, k)
	}
	props[PropertyOut] = strconv.FormatInt(at, 10)
	props[PropertySource] = strconv.FormatInt(phy, 10)
	return props
}
