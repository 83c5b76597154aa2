package sql92

import (
	"strconv"
	"strings"
)

// Node is a node of a parsed expression. The concrete types are *Ident, *Literal, *Unary,
// *Logic, *Compare, *Between, *In and *IsNull. Parentheses and unary plus leave no node.
type Node interface {
	// Pos is the byte offset of the node's first token (of its operator for an infix node).
	Pos() int
	// String prints the node as SQL92 that parses back to the same tree, fully parenthesised.
	String() string
	appendTo(b *strings.Builder)
}

// Ident is a property reference. Its value is the message property of that name (lookup is
// case-sensitive), or NULL when the message has none. Where a boolean is expected it is NULL
// when absent and FALSE otherwise.
type Ident struct {
	Name   string
	Offset int
}

// LiteralKind is the Java type of a literal.
type LiteralKind uint8

// The literal kinds. Int and Long are Java Integer and Long: an integer literal is an Int when
// it fits in 32 bits, otherwise a Long; the L suffix does not matter.
const (
	LitString LiteralKind = iota
	LitInt
	LitLong
	LitDouble
	LitTrue
	LitFalse
	LitNull
)

// Literal is a constant. Only the field of its kind is set. Numeric literals are never
// negative: -5 is a Unary minus applied to 5.
type Literal struct {
	Kind   LiteralKind
	Str    string  // LitString
	Int    int64   // LitInt, LitLong
	Float  float64 // LitDouble
	Offset int
}

// UnaryOp is NOT or unary minus.
type UnaryOp uint8

// The unary operators.
const (
	OpNot UnaryOp = iota
	OpNeg
)

// Unary is NOT x or -x. Minus of a number is the negated number; of anything else it is NULL.
type Unary struct {
	Op     UnaryOp
	X      Node
	Offset int
}

// LogicOp is AND or OR.
type LogicOp uint8

// The logical operators.
const (
	OpAnd LogicOp = iota
	OpOr
)

// Logic is a chain of two or more terms joined by the same operator, evaluated left to right
// with SQL's three-valued logic. Nested chains of one operator are flattened, as the result
// does not depend on their grouping.
type Logic struct {
	Op    LogicOp
	Terms []Node
}

// CompareOp is a comparison operator.
type CompareOp uint8

// The comparison operators.
const (
	OpEq CompareOp = iota // =
	OpNe                  // <>
	OpLt                  // <
	OpLe                  // <=
	OpGt                  // >
	OpGe                  // >=
)

var compareSymbols = [...]string{OpEq: "=", OpNe: "<>", OpLt: "<", OpLe: "<=", OpGt: ">", OpGe: ">="}

func (op CompareOp) String() string { return compareSymbols[op] }

// Compare is L op R.
type Compare struct {
	Op     CompareOp
	L, R   Node
	Offset int
}

// Between is X [NOT] BETWEEN Lo AND Hi: X >= Lo AND X <= Hi, or X < Lo OR X > Hi.
type Between struct {
	X, Lo, Hi Node
	Not       bool
	Offset    int
}

// In is X [NOT] IN ('v1', ...). X is always a property.
type In struct {
	X      *Ident
	Values []string
	Not    bool
	Offset int
}

// IsNull is X IS [NOT] NULL.
type IsNull struct {
	X      Node
	Not    bool
	Offset int
}

func (n *Ident) Pos() int   { return n.Offset }
func (n *Literal) Pos() int { return n.Offset }
func (n *Unary) Pos() int   { return n.Offset }
func (n *Logic) Pos() int   { return n.Terms[0].Pos() }
func (n *Compare) Pos() int { return n.Offset }
func (n *Between) Pos() int { return n.Offset }
func (n *In) Pos() int      { return n.Offset }
func (n *IsNull) Pos() int  { return n.Offset }

func (n *Ident) String() string   { return nodeString(n) }
func (n *Literal) String() string { return nodeString(n) }
func (n *Unary) String() string   { return nodeString(n) }
func (n *Logic) String() string   { return nodeString(n) }
func (n *Compare) String() string { return nodeString(n) }
func (n *Between) String() string { return nodeString(n) }
func (n *In) String() string      { return nodeString(n) }
func (n *IsNull) String() string  { return nodeString(n) }

func nodeString(n Node) string {
	var b strings.Builder
	n.appendTo(&b)
	return b.String()
}

func (n *Ident) appendTo(b *strings.Builder) { b.WriteString(n.Name) }

func (n *Literal) appendTo(b *strings.Builder) {
	switch n.Kind {
	case LitString:
		b.WriteString(quoteSQL(n.Str))
	case LitInt, LitLong:
		b.WriteString(strconv.FormatInt(n.Int, 10))
	case LitDouble:
		b.WriteString(formatDouble(n.Float))
	case LitTrue:
		b.WriteString("TRUE")
	case LitFalse:
		b.WriteString("FALSE")
	case LitNull:
		b.WriteString("NULL")
	}
}

func (n *Unary) appendTo(b *strings.Builder) {
	if n.Op == OpNot {
		b.WriteString("NOT (")
	} else {
		b.WriteString("-(")
	}
	n.X.appendTo(b)
	b.WriteByte(')')
}

func (n *Logic) appendTo(b *strings.Builder) {
	sep := " AND "
	if n.Op == OpOr {
		sep = " OR "
	}
	b.WriteByte('(')
	for i, t := range n.Terms {
		if i > 0 {
			b.WriteString(sep)
		}
		t.appendTo(b)
	}
	b.WriteByte(')')
}

func (n *Compare) appendTo(b *strings.Builder) {
	b.WriteByte('(')
	n.L.appendTo(b)
	b.WriteByte(' ')
	b.WriteString(n.Op.String())
	b.WriteByte(' ')
	n.R.appendTo(b)
	b.WriteByte(')')
}

func (n *Between) appendTo(b *strings.Builder) {
	b.WriteByte('(')
	n.X.appendTo(b)
	if n.Not {
		b.WriteString(" NOT")
	}
	b.WriteString(" BETWEEN ")
	n.Lo.appendTo(b)
	b.WriteString(" AND ")
	n.Hi.appendTo(b)
	b.WriteByte(')')
}

func (n *In) appendTo(b *strings.Builder) {
	b.WriteByte('(')
	n.X.appendTo(b)
	if n.Not {
		b.WriteString(" NOT")
	}
	b.WriteString(" IN (")
	for i, v := range n.Values {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteSQL(v))
	}
	b.WriteString("))")
}

func (n *IsNull) appendTo(b *strings.Builder) {
	b.WriteByte('(')
	n.X.appendTo(b)
	if n.Not {
		b.WriteString(" IS NOT NULL)")
	} else {
		b.WriteString(" IS NULL)")
	}
}

// quoteSQL writes s as a SQL92 string literal.
func quoteSQL(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// formatDouble writes a double so that it lexes as a floating-point literal of the same value.
func formatDouble(f float64) string {
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	return s
}
