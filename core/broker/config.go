package broker

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ternmq/tern/core/broker/schedule"
	"github.com/ternmq/tern/core/config"
	"github.com/ternmq/tern/core/remoting"
	"github.com/ternmq/tern/core/remoting/tlsconf"
	"github.com/ternmq/tern/core/store"
)

// Config configures a Broker. Keys are RocketMQ's broker configuration names; the store's
// settings (store.Config) sit at the same level, as in a RocketMQ broker.conf. Start from
// DefaultConfig.
type Config struct {
	// BrokerClusterName is the cluster the broker registers in (default DefaultCluster).
	BrokerClusterName string `yaml:"brokerClusterName"`
	// BrokerName names the broker's master/slave group (default broker-a).
	BrokerName string `yaml:"brokerName"`
	// BrokerID is 0 for a master.
	BrokerID int64 `yaml:"brokerId"`
	// BrokerRole is ASYNC_MASTER (the default: a send is acknowledged once it is in the local
	// CommitLog), SYNC_MASTER (once a slave has it too) or SLAVE (brokerId >= 1: replicates the
	// master of its brokerName and serves reads). With an Election, the role is elected and
	// brokerRole says how the broker replicates while it is the master (ASYNC_ or SYNC_MASTER).
	BrokerRole string `yaml:"brokerRole"`
	// HAListenAddr is the HA port slaves replicate from (RocketMQ's haListenPort): default the
	// listen address's port + 1 (port 0: an ephemeral port); "off" for none (a master without
	// slaves). It is advertised with the broker address's IP.
	HAListenAddr string `yaml:"haListenAddr"`
	// haListenDerived: HAListenAddr is the default (listen port + 1), not configured; when that
	// port is taken the broker listens on an ephemeral one instead (slaves learn it from the
	// registration).
	haListenDerived bool
	// HAMasterAddress is a slave's master's HA address (haMasterAddress); empty: the one its
	// registration answers.
	HAMasterAddress string `yaml:"haMasterAddress"`
	// HAMaxGapNotInSync is how far (bytes) a slave may be behind and still count as in sync
	// for SYNC_MASTER (haMaxGapNotInSync, 256 MiB).
	HAMaxGapNotInSync int64 `yaml:"haMaxGapNotInSync"`
	// SlaveReadEnable lets pull responses send consumers to a slave (suggestWhichBrokerId):
	// from a master when a consumer is further behind than AccessMessageInMemoryMaxRatio percent
	// of the machine's memory, and a slave keeps serving the consumers of a master that is gone.
	// Default true (RocketMQ's is false).
	SlaveReadEnable               bool `yaml:"slaveReadEnable"`
	AccessMessageInMemoryMaxRatio int  `yaml:"accessMessageInMemoryMaxRatio"`
	// SlaveSyncInterval is how often a slave copies its master's topics, consumer offsets and
	// delay-level progress (default 3 s).
	SlaveSyncInterval config.Millis `yaml:"slaveSyncInterval"`
	// ListenAddr is the remoting address to listen on; BrokerAddr the IPv4 ip:port clients are
	// told to use (and the STOREHOST of every record). Default 127.0.0.1:10911 for both.
	ListenAddr string `yaml:"listenAddr"`
	BrokerAddr string `yaml:"brokerAddr"`
	// NamesrvAddr lists the NameServers, separated by ';'.
	NamesrvAddr string `yaml:"namesrvAddr"`
	// AutoCreateTopicEnable lets producers create topics by sending to them (TBW102).
	AutoCreateTopicEnable bool `yaml:"autoCreateTopicEnable"`
	// AutoCreateSubscriptionGroup creates consumer groups on first use.
	AutoCreateSubscriptionGroup bool `yaml:"autoCreateSubscriptionGroup"`
	// DefaultTopicQueueNums is TBW102's queue count (8).
	DefaultTopicQueueNums int `yaml:"defaultTopicQueueNums"`
	// MessageDelayLevel lists the delay levels.
	MessageDelayLevel string `yaml:"messageDelayLevel"`
	// TimerMaxDelaySec is how far ahead a message may ask to be delivered (TIMER_DELIVER_MS and
	// the like), in seconds (default 7 days). Changing it rebuilds the timing wheel's slot file.
	TimerMaxDelaySec int `yaml:"timerMaxDelaySec"`
	// MaxReconsumeTimes is the default retry limit before a message goes to the DLQ (16).
	MaxReconsumeTimes int `yaml:"maxReconsumeTimes"`
	// LongPollingEnable holds pulls that find nothing for their suspend time; otherwise they are
	// held ShortPollingTimeMills.
	LongPollingEnable     bool          `yaml:"longPollingEnable"`
	ShortPollingTimeMills config.Millis `yaml:"shortPollingTimeMills"`
	// RegisterNameServerPeriod is how often the broker registers (30 s, clamped to 10-60 s).
	RegisterNameServerPeriod config.Millis `yaml:"registerNameServerPeriod"`
	// RegistrationTTL is how long a registration lives without a refresh: the lease TTL with
	// etcd, heartbeatTimeoutMillis at a NameServer. 0 (the default) leaves it to the backend
	// (etcd's 10 s, the NameServer's brokerChannelExpiredTime).
	RegistrationTTL config.Millis `yaml:"registrationTTL"`
	// FlushConsumerOffsetInterval is how often consumer offsets are persisted (5 s).
	FlushConsumerOffsetInterval config.Millis `yaml:"flushConsumerOffsetInterval"`
	// ChannelExpiredTimeout drops clients silent for this long (120 s).
	ChannelExpiredTimeout config.Millis `yaml:"channelExpiredTimeout"`
	// TransactionTimeOut is how old a half message must be before it is first checked (6 s),
	// TransactionCheckInterval how often unresolved ones are checked (60 s) and
	// TransactionCheckMax how many checks it gets before it is discarded to
	// TRANS_CHECK_MAX_TIME_TOPIC (15).
	TransactionTimeOut       config.Millis `yaml:"transactionTimeOut"`
	TransactionCheckInterval config.Millis `yaml:"transactionCheckInterval"`
	TransactionCheckMax      int           `yaml:"transactionCheckMax"`
	// ConfigDir holds topics.json, consumerOffset.json and delayOffset.json (default
	// <storePathRootDir>/config).
	ConfigDir string `yaml:"configDir"`
	// AclEnable turns on RocketMQ ACL 1.0 (core/acl): every request must be signed by an
	// account of AclFile (default <configDir>/plain_acl.yml), which is reloaded when it
	// changes (checked every AclReloadInterval, default 3 s).
	AclEnable         bool          `yaml:"aclEnable"`
	AclFile           string        `yaml:"aclFile"`
	AclReloadInterval config.Millis `yaml:"aclReloadInterval"`
	// AuditLogFile receives the audit stream (core/audit: admin operations, ACL reloads and
	// denied requests) as JSON lines; default <storePathRootDir>/logs/audit.log, "-" for
	// standard error.
	AuditLogFile string `yaml:"auditLogFile"`

	// TLS is the remoting port's TLS: tlsMode (disabled, permissive, enforcing) and the
	// tlsServer* files (see tls.go).
	TLS tlsconf.Listener `yaml:",inline"`
	// TLSListenAddr, when set, is a second remoting port that accepts only TLS, whatever
	// tlsMode says of listenAddr. Clients routed by the NameServers get brokerAddr, so TLS
	// clients that find the broker through them need tlsMode permissive or enforcing instead.
	TLSListenAddr string `yaml:"tlsListenAddr"`
	// MaxConnections bounds the remoting connections (default 10000); more are refused with
	// SYSTEM_BUSY (remoting.RemarkTooManyConnections). Negative: no limit.
	MaxConnections int `yaml:"maxConnections"`
	// NamesrvTLSEnable makes the broker's connections to the NameServers TLS, verified
	// against tlsClientTrustCertPath (empty: the system's roots) and presenting
	// tlsClientCertPath/tlsClientKeyPath when set.
	NamesrvTLSEnable bool           `yaml:"namesrvTLSEnable"`
	NamesrvTLS       tlsconf.Client `yaml:",inline"`

	// Election elects the group's master (cmd/tern's --ha etcd); nil: brokerRole is static.
	Election Election `yaml:"-"`

	// Store configures the message store.
	Store store.Config `yaml:",inline"`

	// Discovery is where the broker registers; nil means the NameServers of NamesrvAddr
	// (a namesrv.Client), as RocketMQ brokers do. Usually the plugin host's discovery plugin.
	Discovery Registrar `yaml:"-"`

	// Schedulers are the scheduler plugins, in manifest order (see delay.go for who decides
	// what); none: RocketMQ's delay levels and requested times as they are.
	Schedulers []Scheduler `yaml:"-"`

	// TxChecker resolves half messages the check loop finds unresolved (the manifest's
	// transaction checker); nil: ask a producer of the group, as RocketMQ does.
	TxChecker TxChecker `yaml:"-"`

	// Filters resolves the expression types other than TAG (CEL, SQL92, a named filter plugin)
	// to their filter, usually the plugin host's. Nil: only TAG subscriptions are served.
	Filters FilterResolver `yaml:"-"`

	// Tracer receives the broker's spans (trace.go), usually observability/tracing's OTel
	// tracer. Nil: no tracing, at no cost.
	Tracer Tracer `yaml:"-"`

	// Metrics receives the send and pull measurements (observability/metrics); nil records
	// nothing, at no cost. The gauges are read from the broker (Gauges, Lags) when collected.
	Metrics Metrics `yaml:"-"`
}

// DefaultConfig returns the defaults with the data in dir.
func DefaultConfig(dir string) Config {
	return Config{
		BrokerClusterName:             "DefaultCluster",
		BrokerName:                    "broker-a",
		ListenAddr:                    "127.0.0.1:10911",
		BrokerAddr:                    "127.0.0.1:10911",
		NamesrvAddr:                   "127.0.0.1:9876",
		AutoCreateTopicEnable:         true,
		AutoCreateSubscriptionGroup:   true,
		DefaultTopicQueueNums:         8,
		BrokerRole:                    RoleAsyncMaster,
		HAMaxGapNotInSync:             256 << 20,
		SlaveReadEnable:               true,
		AccessMessageInMemoryMaxRatio: 40,
		SlaveSyncInterval:             config.Millis(3 * time.Second),
		MessageDelayLevel:             schedule.DefaultLevels,
		TimerMaxDelaySec:              7 * 24 * 3600,
		MaxReconsumeTimes:             16,
		LongPollingEnable:             true,
		ShortPollingTimeMills:         config.Millis(time.Second),
		RegisterNameServerPeriod:      config.Millis(30 * time.Second),
		FlushConsumerOffsetInterval:   config.Millis(5 * time.Second),
		ChannelExpiredTimeout:         config.Millis(120 * time.Second),
		TransactionTimeOut:            config.Millis(6 * time.Second),
		TransactionCheckInterval:      config.Millis(60 * time.Second),
		TransactionCheckMax:           15,
		MaxConnections:                remoting.DefaultMaxConnections,
		Store:                         store.DefaultConfig(dir),
	}
}

// Validate reports every invalid setting.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("broker: "+format, a...)) }
	if c.BrokerName == "" || c.BrokerClusterName == "" {
		bad("brokerName and brokerClusterName must be set")
	}
	if c.BrokerID < 0 {
		bad("brokerId %d is negative", c.BrokerID)
	}
	ap, err := netip.ParseAddrPort(c.BrokerAddr)
	if err != nil || !ap.Addr().Is4() {
		bad("brokerAddr %q must be an IPv4 ip:port (clients decode it from message ids)", c.BrokerAddr)
	}
	if c.ListenAddr == "" {
		bad("listenAddr is empty")
	} else if c.HAListenAddr == "" {
		c.HAListenAddr, c.haListenDerived = defaultHAListenAddr(c.ListenAddr), true
	}
	if err := parseRole(c.BrokerRole); err != nil {
		bad("%v", err)
	}
	switch {
	case c.Election != nil && c.BrokerRole == RoleSlave:
		bad("brokerRole SLAVE with an election: the role is elected; set ASYNC_MASTER or SYNC_MASTER, the mode of the elected master")
	case c.Election != nil && c.BrokerID < 1:
		bad("brokerId %d: with an election every replica needs its own brokerId >= 1 (the master registers as 0)", c.BrokerID)
	case c.Election == nil && c.BrokerRole == RoleSlave && c.BrokerID < 1:
		bad("brokerId %d: a SLAVE needs brokerId >= 1", c.BrokerID)
	case c.Election == nil && c.BrokerRole != RoleSlave && c.BrokerID != 0:
		bad("brokerId %d: a master has brokerId 0 (brokerRole %s)", c.BrokerID, c.BrokerRole)
	}
	if c.HAListenAddr == "off" && (c.BrokerRole == RoleSyncMaster || c.Election != nil) {
		bad("haListenAddr off: SYNC_MASTER and elected groups need the HA port")
	}
	if c.AccessMessageInMemoryMaxRatio < 0 || c.AccessMessageInMemoryMaxRatio > 100 || c.HAMaxGapNotInSync <= 0 || c.SlaveSyncInterval <= 0 {
		bad("accessMessageInMemoryMaxRatio %d must be 0-100, haMaxGapNotInSync %d and slaveSyncInterval %v positive", c.AccessMessageInMemoryMaxRatio, c.HAMaxGapNotInSync, c.SlaveSyncInterval)
	}
	if _, err := schedule.ParseLevels(c.MessageDelayLevel); err != nil {
		errs = append(errs, err)
	}
	if c.TimerMaxDelaySec <= 0 || c.TimerMaxDelaySec > 366*24*3600 {
		bad("timerMaxDelaySec %d must be between 1 and a year's seconds", c.TimerMaxDelaySec)
	}
	if c.DefaultTopicQueueNums <= 0 || c.MaxReconsumeTimes < 0 {
		bad("defaultTopicQueueNums %d and maxReconsumeTimes %d must be positive", c.DefaultTopicQueueNums, c.MaxReconsumeTimes)
	}
	for name, d := range map[string]config.Millis{"shortPollingTimeMills": c.ShortPollingTimeMills, "registerNameServerPeriod": c.RegisterNameServerPeriod,
		"flushConsumerOffsetInterval": c.FlushConsumerOffsetInterval, "channelExpiredTimeout": c.ChannelExpiredTimeout,
		"transactionCheckInterval": c.TransactionCheckInterval} {
		if d <= 0 {
			bad("%s %v must be positive", name, d)
		}
	}
	if err := c.TLS.Validate(c.TLSListenAddr != ""); err != nil {
		errs = append(errs, err)
	}
	if c.RegistrationTTL < 0 {
		bad("registrationTTL %v must not be negative", c.RegistrationTTL)
	}
	if c.TransactionTimeOut < 0 || c.TransactionCheckMax < 1 {
		bad("transactionTimeOut %v must not be negative and transactionCheckMax %d must be positive", c.TransactionTimeOut, c.TransactionCheckMax)
	}
	if err == nil {
		c.Store.StoreHost = ap
	}
	if err := c.Store.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// NamesrvAddrs splits NamesrvAddr.
func (c *Config) NamesrvAddrs() []string {
	var out []string
	for _, a := range strings.Split(c.NamesrvAddr, ";") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// LoadFile merges a YAML file into c. Unknown keys are errors, reported with their line.
func (c *Config) LoadFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	if err := decodeStrict(b, c); err != nil {
		return fmt.Errorf("broker: %s: %w", path, err)
	}
	return nil
}

// Set applies one key=value setting, with the same keys as the YAML file; the value is read as
// a YAML scalar (so numbers, booleans, durations and strings with spaces all work).
func (c *Config) Set(kv string) error {
	key, value, ok := strings.Cut(kv, "=")
	key = strings.TrimSpace(key)
	if !ok || key == "" {
		return fmt.Errorf("broker: --set %q: want key=value", kv)
	}
	doc := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{
		{Kind: yaml.ScalarNode, Value: key},
		{Kind: yaml.ScalarNode, Value: value},
	}}
	b, err := yaml.Marshal(doc)
	if err == nil {
		err = decodeStrict(b, c)
	}
	if err != nil {
		return fmt.Errorf("broker: --set %s: %w", key, err)
	}
	return nil
}

func decodeStrict(b []byte, v any) error {
	d := yaml.NewDecoder(bytes.NewReader(b))
	d.KnownFields(true)
	if err := d.Decode(v); err != nil && !errors.Is(err, io.EOF) { // an empty file sets nothing
		return err
	}
	return nil
}
