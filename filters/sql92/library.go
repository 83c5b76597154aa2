package sql92

import (
	"math"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/decls"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
)

// Library returns the CEL functions the translation calls (see the package documentation).
// They are ordinary CEL functions, so CEL expressions may use them too.
func Library() cel.EnvOption { return cel.Lib(library{}) }

type library struct{}

func (library) LibraryName() string { return "tern.sql92" }

func (library) ProgramOptions() []cel.ProgramOption { return nil }

func (library) CompileOptions() []cel.EnvOption {
	dyn := cel.DynType
	d1 := []*cel.Type{dyn}
	d2 := []*cel.Type{dyn, dyn}
	d3 := []*cel.Type{dyn, dyn, dyn}
	// Arguments are declared dyn (cel-go would check a declared map or list type at run time
	// by walking the whole value on every call), and the functions check them themselves, so
	// the runtime type guards cel-go puts around every call are turned off.
	noGuards := decls.DisableTypeGuards(true)
	unary := func(name, id string, result *cel.Type, fn func(ref.Val) ref.Val) cel.EnvOption {
		return cel.Function(name, cel.Overload(id, d1, result, cel.UnaryBinding(fn)), noGuards)
	}
	binary := func(name, id string, args []*cel.Type, fn func(l, r ref.Val) ref.Val, opts ...cel.OverloadOpt) cel.EnvOption {
		return cel.Function(name, cel.Overload(id, args, dyn, append(opts, cel.BinaryBinding(fn))...), noGuards)
	}
	nonStrict := cel.OverloadIsNonStrict()
	return []cel.EnvOption{
		binary("sql.prop", "sql_prop", d2, prop),
		unary("sql.cast", "sql_cast", dyn, cast),
		unary("sql.not", "sql_not", dyn, not),
		unary("sql.neg", "sql_neg", dyn, neg),
		unary("sql.isNull", "sql_is_null", cel.BoolType, func(v ref.Val) ref.Val { return types.Bool(v == types.NullValue) }),
		unary("sql.isNotNull", "sql_is_not_null", cel.BoolType, func(v ref.Val) ref.Val { return types.Bool(v != types.NullValue) }),
		binary("sql.and", "sql_and", d2, and, nonStrict),
		binary("sql.or", "sql_or", d2, or, nonStrict),
		binary("sql.eq", "sql_eq", d2, equal),
		binary("sql.ne", "sql_ne", d2, func(l, r ref.Val) ref.Val { return not(equal(l, r)) }),
		binary("sql.lt", "sql_lt", d2, func(l, r ref.Val) ref.Val { return order(l, r, lt) }, nonStrict),
		binary("sql.le", "sql_le", d2, func(l, r ref.Val) ref.Val { return order(l, r, le) }, nonStrict),
		binary("sql.gt", "sql_gt", d2, func(l, r ref.Val) ref.Val { return order(l, r, gt) }, nonStrict),
		binary("sql.ge", "sql_ge", d2, func(l, r ref.Val) ref.Val { return order(l, r, ge) }, nonStrict),
		cel.Function("sql.between", cel.Overload("sql_between", d3, dyn, nonStrict,
			cel.FunctionBinding(func(args ...ref.Val) ref.Val {
				return and(order(args[0], args[1], ge), order(args[0], args[2], le))
			})), noGuards),
		cel.Function("sql.notBetween", cel.Overload("sql_not_between", d3, dyn, nonStrict,
			cel.FunctionBinding(func(args ...ref.Val) ref.Val {
				return or(order(args[0], args[1], lt), order(args[0], args[2], gt))
			})), noGuards),
		binary("sql.inList", "sql_in_list", d2, func(x, list ref.Val) ref.Val { return in(x, list, false) }),
		binary("sql.notInList", "sql_not_in_list", d2, func(x, list ref.Val) ref.Val { return in(x, list, true) }),
	}
}

// failed reports whether an argument of a non-strict function is an error (or unknown), which
// the function passes on when it decides the result.
func failed(v ref.Val) bool { return types.IsUnknownOrError(v) }

// prop is the value of a property: its string, or null when the message has none.
func prop(props, name ref.Val) ref.Val {
	m, ok := props.(traits.Mapper)
	if !ok {
		return types.MaybeNoSuchOverloadErr(props)
	}
	if v, found := m.Find(name); found {
		return v
	}
	return types.NullValue
}

// cast is RocketMQ's boolean cast of a property: NULL stays NULL, a Boolean is itself and
// anything else (a property is always a string) is FALSE.
func cast(v ref.Val) ref.Val {
	switch v.(type) {
	case types.Null, types.Bool:
		return v
	}
	return types.False
}

// tri checks that v is a three-valued boolean: true, false or null.
func tri(v ref.Val) ref.Val {
	switch v.(type) {
	case types.Bool, types.Null:
		return nil
	}
	return types.NewErr("sql: %s is not a boolean or null", v.Type().TypeName())
}

// not is NOT: NULL stays NULL.
func not(v ref.Val) ref.Val {
	if b, ok := v.(types.Bool); ok {
		return !b
	}
	if failed(v) {
		return v
	}
	if err := tri(v); err != nil {
		return err
	}
	return v
}

// and is AND evaluated left to right: an error or FALSE on the left decides, then an error or
// FALSE on the right; otherwise NULL if either side is NULL, else TRUE.
func and(l, r ref.Val) ref.Val { return logic(l, r, types.False) }

// or is OR: as and with TRUE deciding.
func or(l, r ref.Val) ref.Val { return logic(l, r, types.True) }

func logic(l, r ref.Val, decisive types.Bool) ref.Val {
	for _, v := range [2]ref.Val{l, r} {
		if failed(v) || v == decisive {
			return v
		}
		if err := tri(v); err != nil {
			return err
		}
	}
	if l == types.NullValue || r == types.NullValue {
		return types.NullValue
	}
	return !decisive
}

// neg is unary minus: a number is negated, anything else is NULL.
func neg(v ref.Val) ref.Val {
	switch v := v.(type) {
	case types.Int:
		if v == math.MinInt64 {
			return types.NewErr("sql: integer overflow")
		}
		return -v
	case types.Double:
		return -v
	}
	return types.NullValue
}

// toValue is the Java value of a CEL value.
func toValue(v ref.Val) (value, ref.Val) {
	switch v := v.(type) {
	case types.String:
		return value{kind: kString, s: string(v)}, nil
	case types.Int:
		if v > math.MinInt32 && v <= math.MaxInt32 {
			return value{kind: kInteger, i: int64(v)}, nil
		}
		return value{kind: kLong, i: int64(v)}, nil
	case types.Double:
		return value{kind: kDouble, f: float64(v)}, nil
	case types.Bool:
		return value{kind: kBoolean, b: bool(v)}, nil
	case types.Null:
		return value{kind: kNull}, nil
	}
	if failed(v) {
		return value{}, v
	}
	return value{}, types.NewErr("sql: cannot compare a value of type %s", v.Type().TypeName())
}

// equal is =: NULL on the left gives NULL, NULL on the right only gives FALSE, two NULLs are
// equal; otherwise the values are compared after conversion (compare).
func equal(l, r ref.Val) ref.Val {
	lv, err := toValue(l)
	if err != nil {
		return err
	}
	rv, err := toValue(r)
	if err != nil {
		return err
	}
	if (lv.kind == kNull) != (rv.kind == kNull) {
		if lv.kind == kNull {
			return types.NullValue
		}
		return types.False
	}
	if lv.kind == kNull {
		return types.True
	}
	c, cerr := compare(lv, rv)
	if cerr != nil {
		return types.NewErr("sql: %v", cerr)
	}
	return types.Bool(c == 0)
}

// The ordering tests of a comparison result.
func lt(c int) bool { return c < 0 }
func le(c int) bool { return c <= 0 }
func gt(c int) bool { return c > 0 }
func ge(c int) bool { return c >= 0 }

// order is <, <=, > or >=: NULL if the left side is NULL (the right side is then not looked
// at, not even for an error), or if the right side is; two strings are both parsed as doubles;
// anything else is compared after conversion.
func order(l, r ref.Val, test func(int) bool) ref.Val {
	lv, err := toValue(l)
	if err != nil {
		return err
	}
	if lv.kind == kNull {
		return types.NullValue
	}
	rv, err := toValue(r)
	if err != nil {
		return err
	}
	if rv.kind == kNull {
		return types.NullValue
	}
	if lv.kind == kString && rv.kind == kString {
		var perr error
		if lv, perr = parseAs(lv.s, kDouble); perr == nil {
			rv, perr = parseAs(rv.s, kDouble)
		}
		if perr != nil {
			return types.NewErr("sql: strings are ordered as doubles: %v", perr)
		}
	}
	c, cerr := compare(lv, rv)
	if cerr != nil {
		return types.NewErr("sql: %v", cerr)
	}
	return types.Bool(test(c))
}

// in is [NOT] IN: NULL when the property is absent, else string membership.
func in(x, list ref.Val, negate bool) ref.Val {
	s, ok := x.(types.String)
	if !ok {
		if x == types.NullValue {
			return types.NullValue
		}
		return types.NewErr("sql: IN needs a string, not %s", x.Type().TypeName())
	}
	l, ok := list.(traits.Lister)
	if !ok {
		return types.MaybeNoSuchOverloadErr(list)
	}
	found := false
	for i, n := 0, int(l.Size().(types.Int)); i < n && !found; i++ {
		found = l.Get(types.Int(i)) == s
	}
	return types.Bool(found != negate)
}
