package client

import "time"

// producerConfig holds a Producer's options; producer_options.go documents each one and its
// default.
type producerConfig struct {
	common commonConfig

	sendRetries      int           // extra attempts of a load-balanced send on another broker
	sendTimeout      time.Duration // bounds one whole send, retries included
	requestTimeout   time.Duration // bounds Request when ctx has no deadline
	compressOver     int           // bodies of at least this many bytes are compressed; ≤ 0: never
	compressLevel    int           // zlib level
	maxMessageSize   int           // largest body, and largest encoded batch
	maxAsyncInflight int           // SendAsync calls in flight at once
	selector         QueueSelector // nil: load-balanced sends
	faultAvoidance   bool          // skip brokers in their latency penalty window
	autoCreateTopic  bool          // send to unknown topics through TBW102's route
	checkWorkers     int           // transaction producers: goroutines answering checks
}

// consumerConfig holds the options both consumer kinds have (consumer_options.go declares
// consumerSettings and its defaults).
type consumerConfig struct {
	common commonConfig
	consumerSettings
}

// pushConfig holds a PushConsumer's options (pushSettings: consumer_options.go).
type pushConfig struct {
	consumer consumerConfig
	pushSettings
}

// pullConfig holds a PullConsumer's options (pullSettings: consumer_options.go).
type pullConfig struct {
	consumer consumerConfig
	pullSettings
}
