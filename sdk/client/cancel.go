package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ternmq/tern/core/remoting"
)

// ErrNotScheduled is returned by CancelScheduled when no broker of the topic holds a scheduled
// message with the id: it was never scheduled there, was delivered already, or the id or the
// topic is wrong. It matches QUERY_NOT_FOUND, the code the broker answers.
var ErrNotScheduled = fmt.Errorf("client: no scheduled message with this id: %w", remoting.ErrQueryNotFound)

// propertyTimerDelUniqKey is the property of a cancel request (RocketMQ 5's name); its value
// is "TOPIC+MSGID".
const propertyTimerDelUniqKey = "TIMER_DEL_UNIQKEY"

// CancelScheduled cancels a message sent with DeliverAt (or a delay that a scheduler put in
// the broker's timing wheel) before it is delivered: msgID is SendResult.MsgID. It asks every
// broker of the topic in turn, as RocketMQ 5 clients do with a TIMER_DEL_UNIQKEY message.
// Once it returns nil the message will never be delivered; ErrNotScheduled (also matching
// ErrQueryNotFound) means no broker had it waiting. Messages parked by delay level in
// SCHEDULE_TOPIC_XXXX cannot be cancelled.
func (p *Producer) CancelScheduled(ctx context.Context, topic, msgID string) error {
	if msgID == "" {
		return fmt.Errorf("%w: empty message id", ErrInvalidMessage)
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.sendTimeout)
	defer cancel()
	r, err := p.route(ctx, topic, time.Time{})
	if err != nil {
		return err
	}
	m := &Message{Topic: topic, Body: []byte("cancel"), Properties: map[string]string{propertyTimerDelUniqKey: topic + "+" + msgID}}
	o, err := p.encode(ctx, m, p.sendConfig(nil), 0)
	if err != nil {
		return err
	}
	var tried []string
	var errs []error
	for _, q := range r.publish {
		if slices.Contains(tried, q.BrokerName) {
			continue
		}
		tried = append(tried, q.BrokerName)
		_, err := p.attempt(ctx, o, q, time.Time{})
		switch {
		case err == nil:
			return nil
		case errors.Is(err, remoting.ErrQueryNotFound):
		default:
			errs = append(errs, fmt.Errorf("broker %s: %w", q.BrokerName, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("cancel %s on %s: %w", msgID, topic, errors.Join(errs...))
	}
	return ErrNotScheduled
}
