// Package interop tests sdk/client against the official RocketMQ Go client v2.1.2.
package interop
