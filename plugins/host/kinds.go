package host

import (
	"context"
	"fmt"
	"reflect"

	"github.com/ternmq/tern/sdk/plugin"
	"github.com/ternmq/tern/sdk/plugin/discovery"
	"github.com/ternmq/tern/sdk/plugin/filter"
	"github.com/ternmq/tern/sdk/plugin/scheduler"
	"github.com/ternmq/tern/sdk/plugin/txchecker"
)

// info is what a plugin's Init answered, as the host keeps it for any kind.
type info struct {
	name, version   string
	exprTypes       []string // filters
	needsBody       bool     // filters, transaction checkers
	needsProperties bool     // filters
}

// kindSpec is what the host must know of a plugin kind; everything else is generic.
type kindSpec struct {
	// glue returns the kind's go-plugin glue for the host side (without Impl).
	glue func() plugin.GRPCPlugin
	// init runs the kind's Init on impl, which must implement the kind's interface.
	init func(ctx context.Context, impl any, config map[string]any) (info, error)
}

// kindOf returns the spec of a kind this broker consumes. Wiring a kind is adding its case
// here and an accessor like Host.Filter; manifest entries of other kinds are kept unwired.
// Every kind of the manifest is wired today.
func kindOf(k plugin.Kind) (kindSpec, bool) {
	switch k {
	case plugin.KindFilter:
		return kindSpec{
			glue: func() plugin.GRPCPlugin { return &filter.Plugin{} },
			init: initAs(func(ctx context.Context, f filter.Filter, config map[string]any) (info, error) {
				i, err := f.Init(ctx, config)
				return info{name: i.Name, version: i.Version, exprTypes: i.ExpressionTypes, needsBody: i.NeedsBody, needsProperties: !i.OmitProperties}, err
			}),
		}, true
	case plugin.KindScheduler:
		return kindSpec{
			glue: func() plugin.GRPCPlugin { return &scheduler.Plugin{} },
			init: initAs(func(ctx context.Context, s scheduler.Scheduler, config map[string]any) (info, error) {
				i, err := s.Init(ctx, config)
				return info{name: i.Name, version: i.Version}, err
			}),
		}, true
	case plugin.KindTxChecker:
		return kindSpec{
			glue: func() plugin.GRPCPlugin { return &txchecker.Plugin{} },
			init: initAs(func(ctx context.Context, c txchecker.TxChecker, config map[string]any) (info, error) {
				i, err := c.Init(ctx, config)
				return info{name: i.Name, version: i.Version, needsBody: i.NeedsBody}, err
			}),
		}, true
	case plugin.KindDiscovery:
		return kindSpec{
			glue: func() plugin.GRPCPlugin { return &discovery.Plugin{} },
			init: initAs(func(ctx context.Context, d discovery.Discovery, config map[string]any) (info, error) {
				i, err := d.Init(ctx, config)
				return info{name: i.Name, version: i.Version}, err
			}),
		}, true
	}
	return kindSpec{}, false
}

// initAs adapts a typed Init to kindSpec.init.
func initAs[T any](fn func(context.Context, T, map[string]any) (info, error)) func(context.Context, any, map[string]any) (info, error) {
	return func(ctx context.Context, impl any, config map[string]any) (info, error) {
		t, ok := impl.(T)
		if !ok {
			return info{}, fmt.Errorf("%w: %T does not implement %v", plugin.ErrInternal, impl, reflect.TypeFor[T]())
		}
		return fn(ctx, t, config)
	}
}
