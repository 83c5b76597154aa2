package cel

import (
	"reflect"
	"sync"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/interpreter"

	"github.com/ternmq/tern/sdk/plugin/filter"
)

// The variables of an expression.
const (
	varTopic          = "topic"
	varTags           = "tags"
	varKeys           = "keys"
	varProps          = "props"
	varBornTimestamp  = "bornTimestamp"
	varStoreTimestamp = "storeTimestamp"
	varReconsumeTimes = "reconsumeTimes"
	varQueueID        = "queueId"
	varQueueOffset    = "queueOffset"
	varBody           = "body"
)

// activation presents one message to a program. Match takes one from the pool per batch and
// points it at each message in turn, so evaluating a message allocates no variable map: the
// properties, tags and keys are served through views over the message's own map and slices.
type activation struct {
	msg  *filter.Message
	body bool // whether body is declared (the filter needs bodies)

	props      mapView
	tags, keys listView
}

var _ interpreter.Activation = (*activation)(nil)

var activations = sync.Pool{New: func() any { return new(activation) }}

func getActivation(body bool) *activation {
	a := activations.Get().(*activation)
	a.body = body
	return a
}

func putActivation(a *activation) {
	a.reset(nil)
	activations.Put(a)
}

// reset points the activation at m.
func (a *activation) reset(m *filter.Message) {
	a.msg = m
	if m == nil {
		a.props.m, a.tags.s, a.keys.s = nil, nil, nil
		return
	}
	a.props.m, a.tags.s, a.keys.s = m.Properties, m.Tags, m.Keys
}

// ResolveName implements interpreter.Activation.
func (a *activation) ResolveName(name string) (any, bool) {
	m := a.msg
	switch name {
	case varTopic:
		return types.String(m.Topic), true
	case varTags:
		return &a.tags, true
	case varKeys:
		return &a.keys, true
	case varProps:
		return &a.props, true
	case varBornTimestamp:
		return types.Int(m.BornTimestamp), true
	case varStoreTimestamp:
		return types.Int(m.StoreTimestamp), true
	case varReconsumeTimes:
		return types.Int(m.ReconsumeTimes), true
	case varQueueID:
		return types.Int(m.QueueID), true
	case varQueueOffset:
		return types.Int(m.QueueOffset), true
	case varBody:
		if a.body {
			return types.Bytes(m.Body), true
		}
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (a *activation) Parent() interpreter.Activation { return nil }

// mapView is a map(string, string) over a Go map without copying it. Lookups, presence tests
// and size are served directly; the rarely used operations (iteration, equality, conversion)
// go through a standard CEL map built on demand.
type mapView struct{ m map[string]string }

var _ traits.Mapper = (*mapView)(nil)

func (v *mapView) std() traits.Mapper { return types.NewStringStringMap(types.DefaultTypeAdapter, v.m) }

func (v *mapView) ConvertToNative(t reflect.Type) (any, error) { return v.std().ConvertToNative(t) }
func (v *mapView) ConvertToType(t ref.Type) ref.Val            { return v.std().ConvertToType(t) }
func (v *mapView) Equal(other ref.Val) ref.Val                 { return v.std().Equal(other) }
func (v *mapView) Type() ref.Type                              { return types.MapType }
func (v *mapView) Value() any                                  { return v.m }
func (v *mapView) Iterator() traits.Iterator                   { return v.std().Iterator() }
func (v *mapView) Size() ref.Val                               { return types.Int(len(v.m)) }
func (v *mapView) IsZeroValue() bool                           { return len(v.m) == 0 }

func (v *mapView) Contains(key ref.Val) ref.Val {
	_, found := v.Find(key)
	return types.Bool(found)
}

func (v *mapView) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		if types.IsUnknownOrError(key) {
			return key, false
		}
		return nil, false
	}
	s, found := v.m[string(k)]
	if !found {
		return nil, false
	}
	return types.String(s), true
}

func (v *mapView) Get(key ref.Val) ref.Val {
	val, found := v.Find(key)
	if !found {
		return types.ValOrErr(val, "no such key: %v", key)
	}
	return val
}

// listView is a list(string) over a Go slice without copying it, as mapView is a map.
type listView struct{ s []string }

var _ traits.Lister = (*listView)(nil)

func (v *listView) std() traits.Lister { return types.NewStringList(types.DefaultTypeAdapter, v.s) }

func (v *listView) ConvertToNative(t reflect.Type) (any, error) { return v.std().ConvertToNative(t) }
func (v *listView) ConvertToType(t ref.Type) ref.Val            { return v.std().ConvertToType(t) }
func (v *listView) Equal(other ref.Val) ref.Val                 { return v.std().Equal(other) }
func (v *listView) Type() ref.Type                              { return types.ListType }
func (v *listView) Value() any                                  { return v.s }
func (v *listView) Iterator() traits.Iterator                   { return v.std().Iterator() }
func (v *listView) Add(other ref.Val) ref.Val                   { return v.std().Add(other) }
func (v *listView) Size() ref.Val                               { return types.Int(len(v.s)) }
func (v *listView) IsZeroValue() bool                           { return len(v.s) == 0 }

func (v *listView) Contains(elem ref.Val) ref.Val {
	if e, ok := elem.(types.String); ok {
		for _, s := range v.s {
			if s == string(e) {
				return types.True
			}
		}
		return types.False
	}
	return v.std().Contains(elem)
}

func (v *listView) Get(index ref.Val) ref.Val {
	if i, ok := index.(types.Int); ok && i >= 0 && int64(i) < int64(len(v.s)) {
		return types.String(v.s[i])
	}
	return v.std().Get(index)
}
