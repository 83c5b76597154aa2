package sql92

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits of Parse.
const (
	// MaxExpressionLength bounds the length of an expression in bytes.
	MaxExpressionLength = 16 << 10
	// MaxDepth bounds how deeply an expression nests: parentheses, NOT, unary minus and
	// chained comparisons each add a level, and a chain of n terms joined by AND or OR adds
	// log2(n) levels. It keeps the CEL translation within the CEL parser's recursion limit.
	MaxDepth = 64
)

// Parse parses a RocketMQ 4.9.8 SQL92 filter expression. Errors are *SyntaxError.
func Parse(expr string) (Node, error) {
	if len(expr) > MaxExpressionLength {
		return nil, newSyntaxError(expr, MaxExpressionLength, "expression is longer than %d bytes", MaxExpressionLength)
	}
	if !utf8.ValidString(expr) {
		off := 0
		for off < len(expr) {
			r, n := utf8.DecodeRuneInString(expr[off:])
			if r == utf8.RuneError && n == 1 {
				break
			}
			off += n
		}
		return nil, newSyntaxError(expr, off, "invalid UTF-8")
	}
	p := &parser{lex: lexer{src: expr}}
	if err := p.advance(); err != nil {
		return nil, err
	}
	n, err := p.orExpr()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tokEOF && !p.trailingComment() {
		return nil, p.errorf(p.tok.off, "unexpected %s after the end of the expression", p.tok.describe())
	}
	if err := p.asBool(n); err != nil {
		return nil, err
	}
	if d := depth(n); d > MaxDepth {
		return nil, p.errorf(0, "expression nests too deeply (%d levels, at most %d)", d, MaxDepth)
	}
	return n, nil
}

// parser is a recursive-descent parser for the grammar of SelectorParser.jj (RocketMQ 4.9.8),
// loosest binding first:
//
//	or         = and { OR and }
//	and        = equality { AND equality }
//	equality   = comparison { "=" comparison | "<>" comparison | IS NULL | IS NOT NULL }
//	comparison = unary { (">" | ">=" | "<" | "<=") unary
//	                   | [NOT] BETWEEN unary AND unary
//	                   | [NOT] IN "(" string { "," string } ")" }
//	unary      = "+" unary | "-" unary | NOT unary | primary
//	primary    = literal | identifier | "(" or ")"
//
// The checks RocketMQ makes while building its expression tree are made as each node is built.
type parser struct {
	lex   lexer
	tok   token // the current token
	ahead *token
	nest  int // current recursion through unary and parentheses
}

func (p *parser) advance() error {
	if p.ahead != nil {
		p.tok, p.ahead = *p.ahead, nil
		return nil
	}
	t, err := p.lex.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

// peek returns the token after the current one.
func (p *parser) peek() (token, error) {
	if p.ahead == nil {
		t, err := p.lex.next()
		if err != nil {
			return token{}, err
		}
		p.ahead = &t
	}
	return *p.ahead, nil
}

func (p *parser) errorf(off int, format string, args ...any) error {
	return newSyntaxError(p.lex.src, off, format, args...)
}

// trailingComment reports whether the rest of the expression, from the current token, is a
// "--" comment without a line break. RocketMQ ignores whatever follows a complete expression;
// Parse refuses it, except for this one common case.
func (p *parser) trailingComment() bool {
	return p.tok.kind == tokMinus && strings.HasPrefix(p.lex.src[p.tok.off:], "--")
}

func (p *parser) expect(k tokenKind, what string) (token, error) {
	t := p.tok
	if t.kind != k {
		return t, p.errorf(t.off, "expected %s %s, found %s", k, what, t.describe())
	}
	return t, p.advance()
}

func (p *parser) orExpr() (Node, error) {
	return p.logic(OpOr, tokOr, p.andExpr)
}

func (p *parser) andExpr() (Node, error) {
	return p.logic(OpAnd, tokAnd, p.equality)
}

// logic parses operand { op operand } into a flattened Logic node.
func (p *parser) logic(op LogicOp, tok tokenKind, operand func() (Node, error)) (Node, error) {
	left, err := operand()
	if err != nil || p.tok.kind != tok {
		return left, err
	}
	if err := p.asBool(left); err != nil {
		return nil, err
	}
	terms := flatten(nil, op, left)
	for p.tok.kind == tok {
		if err := p.advance(); err != nil {
			return nil, err
		}
		right, err := operand()
		if err != nil {
			return nil, err
		}
		if err := p.asBool(right); err != nil {
			return nil, err
		}
		terms = flatten(terms, op, right)
	}
	return &Logic{Op: op, Terms: terms}, nil
}

// flatten appends n to terms, or its terms if it is a chain of the same operator.
func flatten(terms []Node, op LogicOp, n Node) []Node {
	if l, ok := n.(*Logic); ok && l.Op == op {
		return append(terms, l.Terms...)
	}
	return append(terms, n)
}

func (p *parser) equality() (Node, error) {
	left, err := p.comparison()
	if err != nil {
		return nil, err
	}
	for {
		t := p.tok
		switch t.kind {
		case tokEq, tokNe:
			if err := p.advance(); err != nil {
				return nil, err
			}
			right, err := p.comparison()
			if err != nil {
				return nil, err
			}
			op := OpEq
			if t.kind == tokNe {
				op = OpNe
			}
			if err := p.checkEquality(op, left, right, t.off); err != nil {
				return nil, err
			}
			left = &Compare{Op: op, L: left, R: right, Offset: t.off}
		case tokIs:
			if err := p.advance(); err != nil {
				return nil, err
			}
			not := p.tok.kind == tokNot
			if not {
				if err := p.advance(); err != nil {
					return nil, err
				}
			}
			if p.tok.kind != tokNull {
				what := "IS"
				if not {
					what = "IS NOT"
				}
				return nil, p.errorf(p.tok.off, "expected NULL after %s, found %s", what, p.tok.describe())
			}
			if err := p.advance(); err != nil {
				return nil, err
			}
			left = &IsNull{X: left, Not: not, Offset: t.off}
		default:
			return left, nil
		}
	}
}

// orderOps maps the tokens of the ordering comparisons to their operators.
var orderOps = map[tokenKind]CompareOp{tokGt: OpGt, tokGe: OpGe, tokLt: OpLt, tokLe: OpLe}

func (p *parser) comparison() (Node, error) {
	left, err := p.unary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.tok
		switch t.kind {
		case tokGt, tokGe, tokLt, tokLe:
			if err := p.advance(); err != nil {
				return nil, err
			}
			right, err := p.unary()
			if err != nil {
				return nil, err
			}
			op := orderOps[t.kind]
			if err := p.checkOrdered(op.String(), t.off, left, right); err != nil {
				return nil, err
			}
			left = &Compare{Op: op, L: left, R: right, Offset: t.off}
		case tokNot:
			// NOT BETWEEN and NOT IN; any other NOT ends the comparison.
			next, err := p.peek()
			if err != nil {
				return nil, err
			}
			if next.kind != tokBetween && next.kind != tokIn {
				return left, nil
			}
			if err := p.advance(); err != nil {
				return nil, err
			}
			if left, err = p.betweenOrIn(left, true, t.off); err != nil {
				return nil, err
			}
		case tokBetween, tokIn:
			if left, err = p.betweenOrIn(left, false, t.off); err != nil {
				return nil, err
			}
		default:
			return left, nil
		}
	}
}

// betweenOrIn parses the rest of x [NOT] BETWEEN lo AND hi or x [NOT] IN (...), from the
// BETWEEN or IN token; off is where the operator starts.
func (p *parser) betweenOrIn(x Node, not bool, off int) (Node, error) {
	if p.tok.kind == tokIn {
		return p.in(x, not, off)
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	lo, err := p.unary()
	if err != nil {
		return nil, err
	}
	if _, err := p.expect(tokAnd, "between the bounds of BETWEEN"); err != nil {
		return nil, err
	}
	hi, err := p.unary()
	if err != nil {
		return nil, err
	}
	op := "BETWEEN"
	if not {
		op = "NOT BETWEEN"
	} else if err := p.checkBounds(lo, hi, off); err != nil {
		return nil, err
	}
	if err := p.checkOrdered(op, off, x, lo); err != nil {
		return nil, err
	}
	if err := p.checkOrdered(op, off, x, hi); err != nil {
		return nil, err
	}
	return &Between{X: x, Lo: lo, Hi: hi, Not: not, Offset: off}, nil
}

func (p *parser) in(x Node, not bool, off int) (Node, error) {
	id, ok := x.(*Ident)
	if !ok {
		return nil, p.errorf(off, "the left side of IN must be a property, not %s", short(x))
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if _, err := p.expect(tokLParen, "after IN"); err != nil {
		return nil, err
	}
	var values []string
	for {
		t, err := p.expect(tokString, "in the IN list (only string literals are allowed)")
		if err != nil {
			return nil, err
		}
		values = append(values, t.text)
		if p.tok.kind != tokComma {
			break
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
	}
	if _, err := p.expect(tokRParen, "to close the IN list"); err != nil {
		return nil, err
	}
	return &In{X: id, Values: values, Not: not, Offset: off}, nil
}

func (p *parser) unary() (Node, error) {
	t := p.tok
	switch t.kind {
	case tokPlus, tokMinus, tokNot:
		if p.nest++; p.nest > MaxDepth {
			return nil, p.errorf(t.off, "expression nests too deeply (more than %d levels)", MaxDepth)
		}
		defer func() { p.nest-- }()
		if err := p.advance(); err != nil {
			return nil, err
		}
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		switch t.kind {
		case tokPlus:
			return x, nil
		case tokMinus:
			return &Unary{Op: OpNeg, X: x, Offset: t.off}, nil
		}
		if err := p.asBool(x); err != nil {
			return nil, err
		}
		return &Unary{Op: OpNot, X: x, Offset: t.off}, nil
	}
	return p.primary()
}

func (p *parser) primary() (Node, error) {
	t := p.tok
	var n Node
	switch t.kind {
	case tokIdent:
		n = &Ident{Name: t.text, Offset: t.off}
	case tokString:
		n = &Literal{Kind: LitString, Str: t.text, Offset: t.off}
	case tokTrue:
		n = &Literal{Kind: LitTrue, Offset: t.off}
	case tokFalse:
		n = &Literal{Kind: LitFalse, Offset: t.off}
	case tokNull:
		n = &Literal{Kind: LitNull, Offset: t.off}
	case tokInt:
		lit, err := p.intLiteral(t)
		if err != nil {
			return nil, err
		}
		n = lit
	case tokFloat:
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil && !math.IsInf(f, 0) {
			return nil, p.errorf(t.off, "invalid number %s", t.text)
		}
		switch {
		case math.IsInf(f, 0):
			return nil, p.errorf(t.off, "number %s is larger than the largest double", t.text)
		case f == 0:
			// RocketMQ refuses any double literal below Double.MIN_VALUE, zero included.
			return nil, p.errorf(t.off, "number %s is smaller than the smallest positive double (write 0 as an integer)", t.text)
		}
		n = &Literal{Kind: LitDouble, Float: f, Offset: t.off}
	case tokLParen:
		if p.nest++; p.nest > MaxDepth {
			return nil, p.errorf(t.off, "expression nests too deeply (more than %d levels)", MaxDepth)
		}
		defer func() { p.nest-- }()
		if err := p.advance(); err != nil {
			return nil, err
		}
		x, err := p.orExpr()
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tokRParen, "to close the parenthesis"); err != nil {
			return nil, err
		}
		return x, nil
	default:
		return nil, p.errorf(t.off, "expected a value, a property or '(', found %s", t.describe())
	}
	return n, p.advance()
}

func (p *parser) intLiteral(t token) (*Literal, error) {
	digits := strings.TrimRight(t.text, "lL")
	v, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return nil, p.errorf(t.off, "number %s does not fit in a long", t.text)
	}
	kind := LitLong
	if v <= math.MaxInt32 {
		kind = LitInt
	}
	return &Literal{Kind: kind, Int: v, Offset: t.off}, nil
}

// isBoolean reports whether n is one of RocketMQ's BooleanExpressions: its value is TRUE,
// FALSE or NULL.
func isBoolean(n Node) bool {
	switch n := n.(type) {
	case *Logic, *Compare, *Between, *In, *IsNull:
		return true
	case *Unary:
		return n.Op == OpNot
	case *Literal:
		return n.Kind == LitTrue || n.Kind == LitFalse || n.Kind == LitNull
	}
	return false
}

// asBool checks that n can stand where a boolean is expected (the operands of AND, OR and
// NOT, and the whole expression): a boolean expression or a property.
func (p *parser) asBool(n Node) error {
	if _, ok := n.(*Ident); ok || isBoolean(n) {
		return nil
	}
	return p.errorf(n.Pos(), "%s is not a boolean expression", short(n))
}

// checkOrdered checks the operands of <, <=, >, >= and BETWEEN: no string, boolean or NULL
// constant and no boolean expression.
func (p *parser) checkOrdered(op string, off int, operands ...Node) error {
	for _, n := range operands {
		if lit, ok := n.(*Literal); ok {
			if lit.Kind == LitInt || lit.Kind == LitLong || lit.Kind == LitDouble {
				continue
			}
			return p.errorf(lit.Offset, "%s cannot be an operand of %s: only numbers and properties can be ordered", short(lit), op)
		}
		if isBoolean(n) {
			return p.errorf(n.Pos(), "%s cannot be an operand of %s: it is boolean", short(n), op)
		}
	}
	return nil
}

// checkEquality checks the operands of = and <>: no NULL constant, and no boolean constant
// compared with another kind of constant.
func (p *parser) checkEquality(op CompareOp, l, r Node, off int) error {
	for _, n := range []Node{l, r} {
		if lit, ok := n.(*Literal); ok && lit.Kind == LitNull {
			return p.errorf(lit.Offset, "NULL cannot be compared with %s: use IS NULL or IS NOT NULL", op)
		}
	}
	ll, lok := l.(*Literal)
	rl, rok := r.(*Literal)
	if lok && rok && (ll.Kind == LitTrue || ll.Kind == LitFalse) && rl.Kind != LitTrue && rl.Kind != LitFalse {
		return p.errorf(off, "boolean %s cannot be compared with %s", ll, short(rl))
	}
	return nil
}

// checkBounds checks constant BETWEEN bounds: not NULL, and low <= high.
func (p *parser) checkBounds(lo, hi Node, off int) error {
	ll, lok := lo.(*Literal)
	hl, hok := hi.(*Literal)
	if !lok || !hok {
		return nil
	}
	if ll.Kind == LitNull || hl.Kind == LitNull {
		return p.errorf(off, "the bounds of BETWEEN cannot be NULL")
	}
	c, err := compare(literalValue(hl), literalValue(ll))
	if err != nil {
		return p.errorf(off, "bounds %s and %s of BETWEEN cannot be compared: %v", short(ll), short(hl), err)
	}
	if c < 0 {
		return p.errorf(off, "the low bound %s of BETWEEN is greater than its high bound %s", short(ll), short(hl))
	}
	return nil
}

// literalValue is the Java value of a literal.
func literalValue(l *Literal) value {
	switch l.Kind {
	case LitString:
		return value{kind: kString, s: l.Str}
	case LitInt:
		return value{kind: kInteger, i: l.Int}
	case LitLong:
		return value{kind: kLong, i: l.Int}
	case LitDouble:
		return value{kind: kDouble, f: l.Float}
	case LitTrue:
		return value{kind: kBoolean, b: true}
	case LitFalse:
		return value{kind: kBoolean}
	}
	return value{kind: kNull}
}

// depth is how deeply n nests, counting a chain of n logic terms as log2(n) levels.
func depth(n Node) int {
	switch n := n.(type) {
	case *Unary:
		return 1 + depth(n.X)
	case *Logic:
		d := 0
		for _, t := range n.Terms {
			d = max(d, depth(t))
		}
		levels := 0
		for k := 1; k < len(n.Terms); k *= 2 {
			levels++
		}
		return levels + d
	case *Compare:
		return 1 + max(depth(n.L), depth(n.R))
	case *Between:
		return 1 + max(depth(n.X), depth(n.Lo), depth(n.Hi))
	case *IsNull:
		return 1 + depth(n.X)
	}
	return 1
}

// short prints n for an error message, cut to a readable length.
func short(n Node) string {
	const limit = 60
	s := n.String()
	if len(s) <= limit {
		return s
	}
	i := limit
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "..."
}
