package sql92

import (
	"strconv"
	"strings"
)

// PropsVariable is the CEL variable the translation reads properties from. The CEL
// environment must declare it as map(string, string) and include Library.
const PropsVariable = "props"

// ToCEL parses a SQL92 expression and translates it to CEL (see Translate).
func ToCEL(expr string) (string, error) {
	n, err := Parse(expr)
	if err != nil {
		return "", err
	}
	return Translate(n), nil
}

// Translate writes n as a CEL expression of type bool that is true exactly when RocketMQ
// selects a message with n: each node becomes a call of the sql.* functions of Library over
// the message's properties (see the package documentation), and the whole is compared with
// true. An evaluation error means that RocketMQ would have thrown: the message is not selected.
func Translate(n Node) string {
	if lit, ok := n.(*Literal); ok {
		// TRUE, FALSE or NULL (Parse allows no other constant here); null == true does not
		// type-check.
		return strconv.FormatBool(lit.Kind == LitTrue)
	}
	var b strings.Builder
	b.Grow(4 * len(n.String()))
	boolean(&b, n)
	b.WriteString(" == true")
	return b.String()
}

// boolean writes n where RocketMQ expects a boolean: a property there is cast (NULL when
// absent, FALSE otherwise, as property values are strings).
func boolean(b *strings.Builder, n Node) {
	if _, ok := n.(*Ident); ok {
		call(b, "sql.cast", n)
		return
	}
	translate(b, n)
}

// translate writes the CEL value of n: null, a string, an int (a Java Integer when it is in
// (-2^31, 2^31-1], a Long otherwise), a double or a bool, or an error.
func translate(b *strings.Builder, n Node) {
	switch n := n.(type) {
	case *Ident:
		b.WriteString("sql.prop(" + PropsVariable + ", ")
		b.WriteString(strconv.Quote(n.Name))
		b.WriteByte(')')
	case *Literal:
		literal(b, n, false)
	case *Unary:
		if n.Op == OpNot {
			b.WriteString("sql.not(")
			boolean(b, n.X)
			b.WriteByte(')')
			return
		}
		// Fold minus signs in front of a number: the result is a number of the same class.
		neg := true
		x := n.X
		for {
			u, ok := x.(*Unary)
			if !ok || u.Op != OpNeg {
				break
			}
			neg, x = !neg, u.X
		}
		if lit, ok := x.(*Literal); ok && (lit.Kind == LitInt || lit.Kind == LitLong || lit.Kind == LitDouble) {
			literal(b, lit, neg)
			return
		}
		call(b, "sql.neg", n.X)
	case *Logic:
		fn := "sql.and"
		if n.Op == OpOr {
			fn = "sql.or"
		}
		balanced(b, fn, n.Terms)
	case *Compare:
		call(b, compareFuncs[n.Op], n.L, n.R)
	case *Between:
		fn := "sql.between"
		if n.Not {
			fn = "sql.notBetween"
		}
		call(b, fn, n.X, n.Lo, n.Hi)
	case *In:
		if n.Not {
			b.WriteString("sql.notInList(")
		} else {
			b.WriteString("sql.inList(")
		}
		translate(b, n.X)
		b.WriteString(", [")
		for i, v := range n.Values {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(strconv.Quote(v))
		}
		b.WriteString("])")
	case *IsNull:
		fn := "sql.isNull"
		if n.Not {
			fn = "sql.isNotNull"
		}
		call(b, fn, n.X)
	}
}

var compareFuncs = [...]string{OpEq: "sql.eq", OpNe: "sql.ne", OpLt: "sql.lt", OpLe: "sql.le", OpGt: "sql.gt", OpGe: "sql.ge"}

// call writes fn(args...) with the values of args.
func call(b *strings.Builder, fn string, args ...Node) {
	b.WriteString(fn)
	b.WriteByte('(')
	for i, a := range args {
		if i > 0 {
			b.WriteString(", ")
		}
		translate(b, a)
	}
	b.WriteByte(')')
}

// balanced writes a chain of AND or OR terms as a balanced tree of fn calls. The grouping does
// not change the result: both functions return the first FALSE (AND) or TRUE (OR) or error
// from the left, else NULL if any term is NULL, so they are associative.
func balanced(b *strings.Builder, fn string, terms []Node) {
	if len(terms) == 1 {
		boolean(b, terms[0])
		return
	}
	mid := (len(terms) + 1) / 2
	b.WriteString(fn)
	b.WriteByte('(')
	balanced(b, fn, terms[:mid])
	b.WriteString(", ")
	balanced(b, fn, terms[mid:])
	b.WriteByte(')')
}

// literal writes a constant, negated if neg.
func literal(b *strings.Builder, l *Literal, neg bool) {
	switch l.Kind {
	case LitString:
		b.WriteString(strconv.Quote(l.Str))
	case LitInt, LitLong:
		v := l.Int
		if neg {
			v = -v
		}
		b.WriteString(strconv.FormatInt(v, 10))
	case LitDouble:
		f := l.Float
		if neg {
			f = -f
		}
		b.WriteString(formatDouble(f))
	case LitTrue:
		b.WriteString("true")
	case LitFalse:
		b.WriteString("false")
	case LitNull:
		b.WriteString("null")
	}
}
