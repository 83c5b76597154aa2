// Package pluginv1 is the Go code protoc generates from ../tern/plugin/v1/*.proto (see package
// github.com/ternmq/tern/plugins/proto). Only this file is written by hand.
//
// Plugin authors and the host do not use it directly: the per-kind packages under sdk/plugin
// wrap it in Go interfaces with plain structs.
package pluginv1
