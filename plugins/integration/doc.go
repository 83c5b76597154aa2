// Package integration tests filter plugins end to end: a broker, the plugin host, real plugin
// processes and clients, all in one test process or its children on 127.0.0.1.
package integration
