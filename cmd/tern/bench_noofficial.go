//go:build !rocketmq_official

package main

import "errors"

func newOfficialBench() (benchClient, error) {
	return nil, errors.New("--client official: this tern was built without the official RocketMQ client; build it with -tags rocketmq_official")
}
