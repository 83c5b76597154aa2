// Package host runs the plugins of a manifest and hands them to the broker behind the plugin
// kinds' Go interfaces: built-ins in process, the others as child processes over go-plugin
// (gRPC, automatic mutual TLS, the executable checked against its sha256), supervised and
// restarted. Both sit behind the same middleware, so the broker cannot tell them apart.
//
// # Lifecycle
//
// New resolves nothing; Start launches every plugin of the manifest at once and waits until
// each is up or has failed its first start. Start returns nil when all are up, else the
// errors.Join of one error per plugin that is not (each names the plugin). The host runs
// either way: the broker logs the error and goes on. A plugin that failed to start keeps being
// retried in the background, unless it was refused. Close kills every plugin process and stops
// every goroutine of the host.
//
// A plugin is in one of these states (PluginStats.State):
//
//	starting  being launched (its process started, then Init with its config)
//	up        answering calls
//	down      crashed, hung, failed its health check or its start; relaunched after a backoff
//	refused   never started: the manifest entry is invalid, the executable's sha256 is not
//	          the manifest's, the built-in is unknown, or Init refused the config
//	          (plugin.ErrInvalidArgument). Fixing the manifest and restarting the broker is the
//	          way out.
//	unwired   a kind this broker does not consume yet; the entry is kept, not started
//	stopped   after Close
//
// # Supervision
//
// Each external plugin has a supervisor goroutine. It checks the process every
// Options.HealthInterval (5 s): the process must not have exited, and a gRPC health check
// must answer within Options.HealthTimeout (2 s). A call also wakes the supervisor when it
// fails with plugin.ErrUnavailable (the process died under it), and when a plugin has let two
// calls in a row run past their timeout (it hangs). A plugin that failed any of these is
// killed and relaunched after Backoff: 100 ms for the first failure, doubling to at most 30 s,
// each delay drawn from [d/2, d] (jitter); a plugin that stayed up for a minute starts again
// from 100 ms. Init runs again with the manifest config after every relaunch. Between the
// failure and the end of the relaunch, calls fail at once with an error wrapping
// plugin.ErrUnavailable: nothing waits for a plugin that is down.
//
// The restart decisions are made by machine, a plain struct the tests step with their own
// clock; the supervisor goroutine only feeds it and carries out its answers.
//
// # Calls
//
// Every call of every kind goes through one generic wrapper (call): it fails fast when the
// plugin is not up, applies the entry's timeout, records the stats and reports timeouts and
// crashes to the supervisor. The failure policy of the entry decides what a failed call
// (unavailable, timed out, crashed, internal error) means for the caller: with open, the
// kind's permissive answer (a filter matches everything) and no error; with closed, an error
// wrapping plugin.ErrUnavailable. Errors that are the caller's doing (plugin.ErrInvalidArgument,
// ErrNotFound, ErrUnsupported, or the caller's own cancelled context) pass through whatever
// the policy.
//
// # Logging
//
// A plugin's log (what it writes to stderr with hclog, JSON or plain lines, and go-plugin's
// own messages about it) goes to the host's slog logger with the attribute plugin=<name>, at
// the level the plugin logged it. What the plugin writes to stdout or stderr once serving
// arrives over go-plugin's stdio stream and is logged at info with stream=stdout|stderr.
//
// # Concurrency
//
// All methods are safe for concurrent use. Lock order: instance.mu before Host.mu; no lock is
// held while calling a plugin, killing a process or calling a logger.
package host
