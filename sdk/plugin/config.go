package plugin

import (
	"encoding/base64"
	"fmt"
	"math"
	"reflect"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
)

// ConfigToStruct encodes a plugin's manifest config (decoded YAML or JSON) for InitRequest.
// It takes what decoders produce: nil, bools, strings, every integer and float type, []byte
// (as base64 text), time.Time (as RFC 3339 text), and slices and maps of these, maps keyed by
// anything fmt prints (YAML's map[any]any). Integers beyond ±2^53 lose precision, as in JSON.
// Anything else (a func, a channel, a struct) is an error wrapping ErrInvalidArgument.
func ConfigToStruct(config map[string]any) (*structpb.Struct, error) {
	s := &structpb.Struct{Fields: make(map[string]*structpb.Value, len(config))}
	for k, v := range config {
		pv, err := toValue(v)
		if err != nil {
			return nil, fmt.Errorf("%w: config %q: %v", ErrInvalidArgument, k, err)
		}
		s.Fields[k] = pv
	}
	return s, nil
}

// StructToConfig decodes InitRequest's config for the plugin. Whole numbers that fit in an int
// come back as int (as YAML decodes them), other numbers as float64, lists as []any and
// objects as map[string]any. A nil Struct is an empty, non-nil map.
func StructToConfig(s *structpb.Struct) map[string]any {
	m := make(map[string]any, len(s.GetFields()))
	for k, v := range s.GetFields() {
		m[k] = fromValue(v)
	}
	return m
}

// NormalizeConfig returns config as a plugin behind the gRPC boundary would see it
// (StructToConfig of ConfigToStruct), so a host can hand built-in plugins the same values.
func NormalizeConfig(config map[string]any) (map[string]any, error) {
	s, err := ConfigToStruct(config)
	if err != nil {
		return nil, err
	}
	return StructToConfig(s), nil
}

// maxExactFloat is 2^53: every integer of smaller magnitude is exact in a float64.
const maxExactFloat = 1 << 53

func fromValue(v *structpb.Value) any {
	switch k := v.GetKind().(type) {
	case *structpb.Value_BoolValue:
		return k.BoolValue
	case *structpb.Value_StringValue:
		return k.StringValue
	case *structpb.Value_NumberValue:
		f := k.NumberValue
		if f == math.Trunc(f) && math.Abs(f) <= maxExactFloat {
			return int(f)
		}
		return f
	case *structpb.Value_ListValue:
		l := make([]any, len(k.ListValue.GetValues()))
		for i, e := range k.ListValue.GetValues() {
			l[i] = fromValue(e)
		}
		return l
	case *structpb.Value_StructValue:
		return StructToConfig(k.StructValue)
	default: // NullValue, or unset
		return nil
	}
}

func toValue(v any) (*structpb.Value, error) {
	switch v := v.(type) {
	case nil:
		return structpb.NewNullValue(), nil
	case bool:
		return structpb.NewBoolValue(v), nil
	case string:
		return structpb.NewStringValue(v), nil
	case []byte:
		return structpb.NewStringValue(base64.StdEncoding.EncodeToString(v)), nil
	case time.Time:
		return structpb.NewStringValue(v.Format(time.RFC3339Nano)), nil
	case time.Duration:
		return structpb.NewStringValue(v.String()), nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return structpb.NewNumberValue(float64(rv.Int())), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return structpb.NewNumberValue(float64(rv.Uint())), nil
	case reflect.Float32, reflect.Float64:
		return structpb.NewNumberValue(rv.Float()), nil
	case reflect.String:
		return structpb.NewStringValue(rv.String()), nil
	case reflect.Bool:
		return structpb.NewBoolValue(rv.Bool()), nil
	case reflect.Slice, reflect.Array:
		l := &structpb.ListValue{Values: make([]*structpb.Value, rv.Len())}
		for i := range rv.Len() {
			e, err := toValue(rv.Index(i).Interface())
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			l.Values[i] = e
		}
		return structpb.NewListValue(l), nil
	case reflect.Map:
		s := &structpb.Struct{Fields: make(map[string]*structpb.Value, rv.Len())}
		for it := rv.MapRange(); it.Next(); {
			key := fmt.Sprint(it.Key().Interface())
			e, err := toValue(it.Value().Interface())
			if err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
			s.Fields[key] = e
		}
		return structpb.NewStructValue(s), nil
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return structpb.NewNullValue(), nil
		}
		return toValue(rv.Elem().Interface())
	}
	return nil, fmt.Errorf("unsupported type %T", v)
}
