// Package metrics measures the broker through the OpenTelemetry metrics API and exposes the
// measurements in the Prometheus text format: a Provider is an OTel MeterProvider whose reader
// is the OTel Prometheus exporter, registered in a Prometheus registry that Handler serves
// (observability/httpserver mounts it at /metrics on the broker's --http-addr).
//
// # Wiring
//
// The Provider is the broker's broker.Metrics (Config.Metrics: sends, pulls, long-poll
// wake-ups), the store's flush hook (store.Config.OnFlush = StoreFlushed) and the plugin
// host's call hook (host.Options.OnCall = PluginCalled). ObserveBroker and ObservePlugins
// register the observable instruments, which read the broker (Gauges, Lags) and the plugin
// host (Stats) at each collection, that is at each scrape: nothing is computed between
// scrapes. Without a Provider (Config.Metrics nil) the broker measures nothing and its send
// and pull paths neither read the clock nor allocate for metrics.
//
// # Metrics (names are stable)
//
// OTel instrument names, and the Prometheus names the exporter derives from them (units as
// suffixes, _total on counters):
//
//	OTel name                      type              unit       labels                  Prometheus name
//	tern.messages.in               counter           {message}  topic                   tern_messages_in_total
//	tern.bytes.in                  counter           By         topic                   tern_bytes_in_total
//	tern.messages.out              counter           {message}  topic, group            tern_messages_out_total
//	tern.bytes.out                 counter           By         topic, group            tern_bytes_out_total
//	tern.send.duration             histogram         s                                  tern_send_duration_seconds
//	tern.pull.duration             histogram         s                                  tern_pull_duration_seconds
//	tern.consumer.lag              gauge (observed)  {message}  group, topic, queue_id  tern_consumer_lag
//	tern.store.size                gauge (observed)  By                                 tern_store_size_bytes
//	tern.store.flush.duration      histogram         s                                  tern_store_flush_duration_seconds
//	tern.longpoll.held             gauge (observed)  {request}                          tern_longpoll_held
//	tern.longpoll.wakeups          counter           {wakeup}                           tern_longpoll_wakeups_total
//	tern.plugin.calls              counter (obs.)    {call}     plugin, kind            tern_plugin_calls_total
//	tern.plugin.errors             counter (obs.)    {call}     plugin, kind            tern_plugin_errors_total
//	tern.plugin.timeouts           counter (obs.)    {call}     plugin, kind            tern_plugin_timeouts_total
//	tern.plugin.restarts           counter (obs.)    {restart}  plugin, kind            tern_plugin_restarts_total
//	tern.plugin.up                 gauge (observed)             plugin, kind            tern_plugin_up
//	tern.plugin.call.duration      histogram         s          plugin                  tern_plugin_call_duration_seconds
//	tern.timer.waiting             gauge (observed)  {message}                          tern_timer_waiting
//	tern.delay.backlog             gauge (observed)  {message}  level                   tern_delay_backlog
//	tern.transaction.half.pending  gauge (observed)  {message}                          tern_transaction_half_pending
//
// Messages and bytes in count what send requests stored, by the topic the producer named
// (delayed, retried and half messages included; deliveries of the scheduler and transaction
// commits are not sends). Bytes are stored record sizes, as in the CommitLog (headers,
// properties and body), in and out alike. Messages out count what pulls answered with, after
// filtering. A send's duration runs from the request's decoding to its response; a pull's
// covers one read (store read and filters), each time a held pull is read again, never the
// hold. The lag of a group on a queue is the queue's maximum offset less the group's
// committed offset (never negative), for every committed offset on a topic the broker has:
// at most Options.MaxLagSeries series, the first by group, topic and queue. The delay backlog
// is, per RocketMQ delay level, the scheduled messages stored and not yet delivered; timers
// waiting are those of the timing wheel (any delivery time); pending half messages estimate
// the unresolved transactions (transaction.Ledger.Pending). Plugin counters count since the
// plugin host started; they reset with the process, as Prometheus counters may.
//
// Latency histograms share the buckets 100 µs … 10 s. The registry made by New also holds the
// Go runtime (go_*) and process (process_*) collectors.
//
// # Concurrency
//
// The recording methods are safe for concurrent use and do not block. Observable callbacks
// run during a collection, which the OTel SDK serializes. A Provider starts no goroutine.
package metrics
