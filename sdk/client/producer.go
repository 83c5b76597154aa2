package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/ternmq/tern/core/protocol"
	"github.com/ternmq/tern/core/remoting"
)

// Producer sends messages to the brokers of a RocketMQ cluster (Tern or RocketMQ 4.x).
//
// A Producer is safe for concurrent use. It learns each topic's route from the NameServers on
// the first send to the topic and refreshes it every 30 s (WithRouteRefresh) and after failed
// sends. A load-balanced send goes to the topic's writable queues in turn, skipping slow or
// failing brokers (WithFaultAvoidance), and is retried on another broker when it fails
// (WithSendRetries). An ordered send (WithQueueSelector, or a message with a ShardingKey)
// goes to the queue its selector picks, and is not retried elsewhere.
//
// Sends never change the *Message they are given: the producer adds UNIQ_KEY, the trace
// context and its own properties to the encoded copy only.
//
// Goroutines: NewProducer starts the route-refresh and heartbeat loops and one that heartbeats
// a broker the first time a send reaches it; each in-flight SendAsync runs on its own
// goroutine (at most WithMaxAsyncInflight); a TransactionProducer adds its check workers.
// Close stops them all and waits for them.
type Producer struct {
	group string
	cfg   producerConfig
	in    *instance
	log   *slog.Logger
	now   func() time.Time

	faults  *faultTable   // nil: fault avoidance off
	slots   chan struct{} // SendAsync in-flight bound
	replies replyWaiters
	zlib    deflater

	done  chan struct{} // closed by Close
	async sync.WaitGroup

	mu      sync.Mutex // guards the fields below; never held while calling the instance
	closed  bool
	derived map[string]*topicRoute // WithAutoCreateTopic: routes derived from TBW102's
}

// NewProducer returns a started producer of group: its route-refresh and heartbeat loops run,
// but it opens no connection before the first send. The group names the producer to brokers
// (heartbeats, transaction checks); it must be a valid RocketMQ group name.
// WithNameServers is required. Close it when done.
func NewProducer(group string, opts ...ProducerOption) (*Producer, error) {
	return newProducer(group, opts, nil)
}

// newProducer builds and starts a producer; handlers adds server-initiated requests to serve
// (a TransactionProducer's checks) to the producer's own.
func newProducer(group string, opts []ProducerOption, handlers map[int16]remoting.Handler) (*Producer, error) {
	if err := validateGroup(group); err != nil {
		return nil, err
	}
	cfg := defaultProducerConfig()
	for _, o := range opts {
		if o != nil {
			o.applyProducer(&cfg)
		}
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	p := &Producer{
		group:   group,
		cfg:     cfg,
		now:     time.Now,
		slots:   make(chan struct{}, cfg.maxAsyncInflight),
		done:    make(chan struct{}),
		derived: make(map[string]*topicRoute),
	}
	p.replies.init()
	p.zlib.level = cfg.compressLevel
	if cfg.faultAvoidance {
		p.faults = newFaultTable(p.now)
	}
	all := map[int16]remoting.Handler{remoting.PushReplyMessageToClient: remoting.HandlerFunc(p.handleReply)}
	for code, h := range handlers {
		all[code] = h
	}
	in, err := newInstance(cfg.common, all)
	if err != nil {
		return nil, err
	}
	p.in, p.log = in, in.log.With("producer_group", group)
	in.heartbeat = func() protocol.HeartbeatData {
		return protocol.HeartbeatData{ProducerDataSet: []protocol.ProducerData{{GroupName: group}}}
	}
	in.start()
	return p, nil
}

// validateGroup checks a group name as RocketMQ does: 1 to 255 characters of [%|a-zA-Z0-9_-].
func validateGroup(group string) error {
	if group == "" || len(group) > 255 {
		return fmt.Errorf("%w: group name of %d characters: want 1 to 255", ErrInvalidOption, len(group))
	}
	for i := 0; i < len(group); i++ {
		c := group[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '%' || c == '|' || c == '_' || c == '-') {
			return fmt.Errorf("%w: group %q has %q; allowed are %%|a-zA-Z0-9_-", ErrInvalidOption, group, c)
		}
	}
	return nil
}

// Group returns the producer group.
func (p *Producer) Group() string { return p.group }

// ClientID returns the producer's client id (ip@instance), the REPLY_TO_CLIENT of its requests.
func (p *Producer) ClientID() string { return p.in.id }

// Close stops the producer: new sends fail with ErrClosed, in-flight SendAsync calls finish
// (their callbacks run), the brokers are told the producer leaves (UNREGISTER_CLIENT), and
// every goroutine and connection of the producer ends. If ctx ends first, in-flight calls are
// cancelled and Close returns ctx's error. Close is idempotent.
func (p *Producer) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.done)
	p.mu.Unlock()

	drained := make(chan struct{})
	go func() {
		p.async.Wait()
		close(drained)
	}()
	select {
	case <-drained:
		p.unregister(ctx)
	case <-ctx.Done():
	}
	err := p.in.close(ctx)
	select {
	case <-drained:
	case <-ctx.Done():
		return errors.Join(err, ctx.Err())
	}
	return err
}

// unregister tells every broker the producer has sent to that it leaves (UNREGISTER_CLIENT),
// as the Java client does; brokers also notice the closed connection.
func (p *Producer) unregister(ctx context.Context) {
	h := protocol.UnregisterClientHeader{ClientID: p.in.id, ProducerGroup: p.group}
	for _, addr := range p.in.contacted() {
		if _, err := p.in.invokeOK(ctx, addr, remoting.NewRequest(remoting.UnregisterClient, h.Encode(), nil)); err != nil {
			p.log.Debug("unregister failed", "broker", addr, "err", err)
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// isClosed reports whether Close has begun.
func (p *Producer) isClosed() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// SendStatus is how well a stored message was persisted. Every status means the broker stored
// the message; the non-OK ones say that a durability guarantee the broker was configured with
// (synchronous flush, synchronous replication) was not met in time.
type SendStatus int

// Send statuses (RocketMQ's SendStatus), from the send response code.
const (
	SendOK                SendStatus = iota // code 0
	SendFlushDiskTimeout                    // code 10 (ErrFlushTimeout)
	SendFlushSlaveTimeout                   // code 12 (ErrFlushSlaveTimeout)
	SendSlaveNotAvailable                   // code 11 (ErrSlaveNotAvailable)
)

func (s SendStatus) String() string {
	switch s {
	case SendOK:
		return "SEND_OK"
	case SendFlushDiskTimeout:
		return "FLUSH_DISK_TIMEOUT"
	case SendFlushSlaveTimeout:
		return "FLUSH_SLAVE_TIMEOUT"
	case SendSlaveNotAvailable:
		return "SLAVE_NOT_AVAILABLE"
	}
	return "SendStatus(" + strconv.Itoa(int(s)) + ")"
}

// Err returns the sentinel error of a non-OK status (ErrFlushTimeout, ErrFlushSlaveTimeout,
// ErrSlaveNotAvailable), for callers that treat weak durability as a failure; nil for SendOK.
func (s SendStatus) Err() error {
	switch s {
	case SendFlushDiskTimeout:
		return ErrFlushTimeout
	case SendFlushSlaveTimeout:
		return ErrFlushSlaveTimeout
	case SendSlaveNotAvailable:
		return ErrSlaveNotAvailable
	}
	return nil
}

// SendResult is the outcome of a stored send.
type SendResult struct {
	Status SendStatus
	// MsgID is the client unique id (UNIQ_KEY) consumers see as the message id; for a batch,
	// the ids of its messages joined by ",".
	MsgID string
	// OffsetMsgID is the broker's id of the stored record (store host and CommitLog offset);
	// for a batch, the ids of its records joined by ",".
	OffsetMsgID string
	// Queue is the queue the message was stored in.
	Queue MessageQueue
	// QueueOffset is the message's offset in Queue (a batch's first message's).
	QueueOffset int64
	// TransactionID identifies the transaction of a half message (SendInTransaction): the
	// broker's, else the message's UNIQ_KEY. Empty for other sends.
	TransactionID string
	// RegionID is the broker's region (MSG_REGION).
	RegionID string
	// TraceOn is the broker's message-trace switch (TRACE_ON).
	TraceOn bool
}

// Send sends msg and waits until a broker stored it, or the send failed after its retries, or
// ctx ended. The send is bounded by WithSendTimeout as well. A message that is not valid fails
// with ErrInvalidMessage (or ErrMessageTooLarge) before any network call; a topic the
// NameServers don't know fails with an error matching ErrNoRoute and ErrTopicNotExist (see
// WithAutoCreateTopic); broker refusals match their sentinel (ErrBrokerBusy, …).
func (p *Producer) Send(ctx context.Context, msg *Message, opts ...SendOption) (*SendResult, error) {
	ctx, span := p.startSend(ctx, msg, 1)
	o, err := p.prepare(ctx, msg, opts)
	if err != nil {
		endSend(span, nil, nil, err)
		return nil, err
	}
	res, err := p.deliver(ctx, o)
	endSend(span, o, res, err)
	return res, err
}

// SendAsync sends msg in the background and calls cb with the outcome of Send, once, on a
// goroutine of the producer; cb must not block for long (Close waits for it). ctx bounds the
// whole send, not only the call: cancelling it after SendAsync returned cancels the send, and
// cb gets ctx's error.
//
// At most WithMaxAsyncInflight sends run at once. When that many are in flight, SendAsync
// blocks until one ends, ctx ends or the producer closes; it then returns ctx's error or
// ErrClosed and cb is not called. It also returns validation errors without calling cb.
// When SendAsync returns nil, cb will be called.
func (p *Producer) SendAsync(ctx context.Context, msg *Message, cb func(*SendResult, error), opts ...SendOption) error {
	if cb == nil {
		return fmt.Errorf("%w: nil callback", ErrInvalidOption)
	}
	ctx, span := p.startSend(ctx, msg, 1)
	o, err := p.prepare(ctx, msg, opts)
	if err != nil {
		endSend(span, nil, nil, err)
		return err
	}
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		err = fmt.Errorf("send async: waiting for an in-flight slot: %w", context.Cause(ctx))
	case <-p.done:
		err = ErrClosed
	}
	if err != nil {
		endSend(span, o, nil, err)
		return err
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.slots
		endSend(span, o, nil, ErrClosed)
		return ErrClosed
	}
	p.async.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.async.Done()
		res, err := p.deliver(ctx, o)
		<-p.slots
		endSend(span, o, res, err)
		cb(res, err)
	}()
	return nil
}

// SendOneway sends msg without waiting for the broker's answer: it returns once the request is
// written to a connection. Failures to connect are retried on another broker as in Send;
// whether the broker stored the message is never known.
func (p *Producer) SendOneway(ctx context.Context, msg *Message, opts ...SendOption) error {
	ctx, span := p.startSend(ctx, msg, 1)
	o, err := p.prepare(ctx, msg, opts)
	if err != nil {
		endSend(span, nil, nil, err)
		return err
	}
	o.oneway = true
	_, err = p.deliver(ctx, o)
	endSend(span, o, nil, err)
	return err
}

// prepare validates and encodes one message for Send, SendAsync and SendOneway.
func (p *Producer) prepare(ctx context.Context, msg *Message, opts []SendOption) (*outgoing, error) {
	if p.isClosed() {
		return nil, ErrClosed
	}
	if err := p.check(msg); err != nil {
		return nil, err
	}
	return p.encode(ctx, msg, p.sendConfig(opts), 0)
}

// sendConfig applies the options of one send over the producer's.
func (p *Producer) sendConfig(opts []SendOption) sendConfig {
	sc := sendConfig{selector: p.cfg.selector}
	if len(opts) == 0 {
		return sc // the usual send: no options, and no sendConfig moved to the heap
	}
	return applySendOptions(sc, opts)
}

// applySendOptions applies opts to sc. Its sc escapes (the options are interfaces), so it is
// kept apart from sendConfig's path without options, and not inlined into it.
//
//go:noinline
func applySendOptions(sc sendConfig, opts []SendOption) sendConfig {
	for _, o := range opts {
		if o != nil {
			o.applySend(&sc)
		}
	}
	return sc
}
