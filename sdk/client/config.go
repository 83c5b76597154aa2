package client

// producerConfig holds a Producer's options (producer_options.go adds its own fields).
type producerConfig struct {
	common commonConfig
}

// consumerConfig holds the options both consumer kinds have.
type consumerConfig struct {
	common commonConfig
}

// pushConfig holds a PushConsumer's options.
type pushConfig struct {
	consumer consumerConfig
}

// pullConfig holds a PullConsumer's options.
type pullConfig struct {
	consumer consumerConfig
}
