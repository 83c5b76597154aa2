package namesrv

import (
	"errors"
	"fmt"
	"time"

	"github.com/ternmq/tern/core/config"
	"github.com/ternmq/tern/core/remoting"
	"github.com/ternmq/tern/core/remoting/tlsconf"
	"github.com/ternmq/tern/sdk/plugin/discovery"
)

// Config configures a NameServer. Keys are RocketMQ's names where RocketMQ has the setting;
// durations accept milliseconds or Go duration strings. Start from DefaultConfig; the runtime
// dependencies at the end are not configuration and may be left nil.
type Config struct {
	// ListenAddr is the address to listen on (default ":9876", RocketMQ's listenPort on every
	// interface); "127.0.0.1:0" picks a free port.
	ListenAddr string `yaml:"listenAddr"`
	// BrokerChannelExpiredTime drops a broker that has not registered for this long
	// (default 120 s) unless its REGISTER_BROKER carries its own heartbeatTimeoutMillis.
	// Brokers register every 30 s.
	BrokerChannelExpiredTime config.Millis `yaml:"brokerChannelExpiredTime"`
	// ScanNotActiveBrokerInterval is how often silent brokers are looked for (default 10 s).
	ScanNotActiveBrokerInterval config.Millis `yaml:"scanNotActiveBrokerInterval"`
	// DeleteTopicWithBrokerRegistration: see RouteOptions (default false, as in RocketMQ).
	DeleteTopicWithBrokerRegistration bool `yaml:"deleteTopicWithBrokerRegistration"`
	// TLS is the port's TLS: tlsMode (disabled, permissive, enforcing) and the tlsServer*
	// files, as a broker's.
	TLS tlsconf.Listener `yaml:",inline"`
	// MaxConnections bounds the remoting connections (default 10000); more are refused with
	// SYSTEM_BUSY (remoting.RemarkTooManyConnections). Negative: no limit.
	MaxConnections int `yaml:"maxConnections"`

	// Now is the clock the registry is stamped with; nil means time.Now.
	Now func() time.Time `yaml:"-"`
	// Backend, when set, holds the routes instead of the in-memory registry: registrations
	// are forwarded to it and every read is answered from it, so any number of NameServers
	// sharing it answer alike. The caller owns it (Close does not close it).
	Backend discovery.Discovery `yaml:"-"`
}

// DefaultConfig returns RocketMQ's defaults.
func DefaultConfig() Config {
	return Config{
		ListenAddr:                  ":9876",
		BrokerChannelExpiredTime:    config.Millis(120 * time.Second),
		ScanNotActiveBrokerInterval: config.Millis(10 * time.Second),
		MaxConnections:              remoting.DefaultMaxConnections,
	}
}

// Validate reports every invalid setting.
func (c *Config) Validate() error {
	var errs []error
	if c.ListenAddr == "" {
		errs = append(errs, errors.New("namesrv: listenAddr is empty"))
	}
	if c.BrokerChannelExpiredTime <= 0 {
		errs = append(errs, fmt.Errorf("namesrv: brokerChannelExpiredTime %v must be positive", c.BrokerChannelExpiredTime))
	}
	if c.ScanNotActiveBrokerInterval <= 0 {
		errs = append(errs, fmt.Errorf("namesrv: scanNotActiveBrokerInterval %v must be positive", c.ScanNotActiveBrokerInterval))
	}
	if err := c.TLS.Validate(false); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
