package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/ternmq/tern/sdk/plugin"
)

// op is a comparison operator.
type op uint8

const (
	opEq op = iota + 1
	opNe
	opGt
	opGe
	opLt
	opLe
	opIn
)

// ops in the order the lexer tries them: two-character operators before their prefixes.
var ops = [...]struct {
	text string
	op   op
}{{"==", opEq}, {"!=", opNe}, {">=", opGe}, {"<=", opLe}, {">", opGt}, {"<", opLt}, {"in", opIn}}

func (o op) String() string {
	for _, e := range ops {
		if e.op == o {
			return e.text
		}
	}
	return "op(" + strconv.Itoa(int(o)) + ")"
}

// expr is a compiled expression: path op literal. It is immutable, so Match shares it between
// goroutines.
type expr struct {
	path  []string
	gpath string // path as a gjson path: the names joined with "."
	op    op
	lit   value   // for every operator but in
	set   []value // for in
}

// value is a JSON scalar: a string, a number, a bool or null.
type value struct {
	kind kind
	str  string // the string, or a number's text
	num  float64
	i    int64 // a number's value when isInt
	// isInt: the number is written without fraction or exponent and fits in an int64.
	isInt bool
	b     bool
}

type kind uint8

const (
	kindNull kind = iota + 1
	kindBool
	kindNumber
	kindString
)

// errAt is a compile error at a 1-based byte column; it wraps plugin.ErrInvalidArgument.
func errAt(col int, format string, args ...any) error {
	return fmt.Errorf("%w: jsonfield: column %d: %s", plugin.ErrInvalidArgument, col, fmt.Sprintf(format, args...))
}

// parse compiles an expression; see the README for the syntax. Errors wrap
// plugin.ErrInvalidArgument and give the 1-based byte column.
func parse(src string) (*expr, error) {
	p := parser{src: src}
	e := &expr{}
	p.space()
	for {
		name, err := p.name()
		if err != nil {
			return nil, err
		}
		e.path = append(e.path, name)
		if p.peek() != '.' {
			break
		}
		p.pos++
	}
	e.gpath = strings.Join(e.path, ".")
	p.space()
	if e.op = p.operator(); e.op == 0 {
		return nil, p.errHere("expected an operator (== != > >= < <= in)")
	}
	p.space()
	litCol := p.pos + 1
	raw, err := p.json()
	if err != nil {
		return nil, err
	}
	switch e.op {
	case opIn:
		list, ok := raw.([]any)
		if !ok {
			return nil, errAt(litCol, "in needs a JSON array of strings, numbers, booleans or null")
		}
		for i, r := range list {
			v, ok := scalar(r)
			if !ok {
				return nil, errAt(litCol, "element %d of the in list is not a string, number, boolean or null", i)
			}
			e.set = append(e.set, v)
		}
	default:
		v, ok := scalar(raw)
		if !ok {
			return nil, errAt(litCol, "%s needs a string, number, boolean or null, not an array or object", e.op)
		}
		if e.op != opEq && e.op != opNe && v.kind != kindNumber && v.kind != kindString {
			return nil, errAt(litCol, "%s needs a number or a string", e.op)
		}
		e.lit = v
	}
	return e, nil
}

type parser struct {
	src string
	pos int
}

func (p *parser) peek() byte {
	if p.pos < len(p.src) {
		return p.src[p.pos]
	}
	return 0
}

func (p *parser) space() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t' || p.src[p.pos] == '\n' || p.src[p.pos] == '\r') {
		p.pos++
	}
}

func (p *parser) errHere(what string) error {
	if p.pos >= len(p.src) {
		return errAt(p.pos+1, "%s, found the end", what)
	}
	r := p.src[p.pos:]
	if len(r) > 10 {
		r = r[:10] + "…"
	}
	return errAt(p.pos+1, "%s, found %q", what, r)
}

func isNameStart(c byte) bool { return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isNamePart(c byte) bool  { return isNameStart(c) || '0' <= c && c <= '9' || c == '-' }

// name reads one path segment.
func (p *parser) name() (string, error) {
	start := p.pos
	if !isNameStart(p.peek()) {
		return "", p.errHere("expected a field name")
	}
	for p.pos < len(p.src) && isNamePart(p.src[p.pos]) {
		p.pos++
	}
	return p.src[start:p.pos], nil
}

func (p *parser) operator() op {
	rest := p.src[p.pos:]
	for _, e := range ops {
		if !strings.HasPrefix(rest, e.text) {
			continue
		}
		if e.op == opIn && len(rest) > 2 && isNamePart(rest[2]) {
			return 0 // "inside", not "in"
		}
		p.pos += len(e.text)
		return e.op
	}
	return 0
}

// json reads the literal: one JSON value running to the end of the expression.
func (p *parser) json() (any, error) {
	if p.pos >= len(p.src) {
		return nil, p.errHere("expected a JSON value")
	}
	dec := json.NewDecoder(strings.NewReader(p.src[p.pos:]))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		col := p.pos + 1
		var se *json.SyntaxError
		if errors.As(err, &se) {
			col += int(se.Offset) - 1
		}
		return nil, errAt(col, "bad JSON value: %v", err)
	}
	end := p.pos + int(dec.InputOffset())
	p.pos = end
	p.space()
	if p.pos < len(p.src) {
		return nil, p.errHere("expected the end of the expression")
	}
	return v, nil
}

// scalar converts a decoded JSON value (UseNumber) to a value; ok is false for arrays and
// objects.
func scalar(v any) (value, bool) {
	switch v := v.(type) {
	case nil:
		return value{kind: kindNull}, true
	case bool:
		return value{kind: kindBool, b: v}, true
	case string:
		return value{kind: kindString, str: v}, true
	case json.Number:
		return number(string(v)), true
	}
	return value{}, false
}

func number(text string) value {
	v := value{kind: kindNumber, str: text}
	v.num, _ = strconv.ParseFloat(text, 64) // valid JSON; ±Inf when out of range
	if !strings.ContainsAny(text, ".eE") {
		if i, err := strconv.ParseInt(text, 10, 64); err == nil {
			v.i, v.isInt = i, true
		}
	}
	return v
}

// String returns the expression in canonical form, which parses to the same expression.
func (e *expr) String() string {
	var b strings.Builder
	b.WriteString(strings.Join(e.path, "."))
	b.WriteByte(' ')
	b.WriteString(e.op.String())
	b.WriteByte(' ')
	if e.op == opIn {
		b.WriteByte('[')
		for i, v := range e.set {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(v.String())
		}
		b.WriteByte(']')
	} else {
		b.WriteString(e.lit.String())
	}
	return b.String()
}

func (v value) String() string {
	switch v.kind {
	case kindNull:
		return "null"
	case kindBool:
		return strconv.FormatBool(v.b)
	case kindNumber:
		return v.str
	default:
		out, _ := json.Marshal(v.str)
		return string(out)
	}
}

// match evaluates e against a message body. A body that is not a JSON object, or lacks the
// field, does not match.
func (e *expr) match(body []byte) bool {
	field, ok := lookup(body, e.gpath)
	if !ok {
		return false
	}
	switch e.op {
	case opEq:
		return equal(field, e.lit)
	case opNe:
		return !equal(field, e.lit)
	case opIn:
		for _, v := range e.set {
			if equal(field, v) {
				return true
			}
		}
		return false
	}
	c, ok := compare(field, e.lit)
	if !ok {
		return false
	}
	switch e.op {
	case opGt:
		return c > 0
	case opGe:
		return c >= 0
	case opLt:
		return c < 0
	default: // opLe
		return c <= 0
	}
}

// field is a value found in a body; ok is false for arrays and objects, which equal nothing.
type field struct {
	v  value
	ok bool
}

// lookup finds path in body with gjson, which walks the JSON without decoding the rest of it
// (the whole body is still validated, so that a body that is not one JSON object never
// matches). Where a key repeats in an object, its first value counts.
func lookup(body []byte, path string) (field, bool) {
	if !isObject(body) || !gjson.ValidBytes(body) {
		return field{}, false
	}
	r := gjson.GetBytes(body, path)
	switch r.Type {
	case gjson.Null:
		if !r.Exists() {
			return field{}, false
		}
		return field{v: value{kind: kindNull}, ok: true}, true
	case gjson.False, gjson.True:
		return field{v: value{kind: kindBool, b: r.Type == gjson.True}, ok: true}, true
	case gjson.String:
		return field{v: value{kind: kindString, str: r.Str}, ok: true}, true
	case gjson.Number:
		return field{v: number(r.Raw), ok: true}, true
	}
	return field{}, true // an array or an object: it exists but equals nothing
}

// isObject reports whether body's first non-space byte opens a JSON object.
func isObject(body []byte) bool {
	t := bytes.TrimLeft(body, " \t\r\n")
	return len(t) > 0 && t[0] == '{'
}

func equal(f field, lit value) bool {
	if !f.ok || f.v.kind != lit.kind {
		return false
	}
	switch lit.kind {
	case kindNull:
		return true
	case kindBool:
		return f.v.b == lit.b
	case kindString:
		return f.v.str == lit.str
	default:
		c, _ := compare(f, lit)
		return c == 0
	}
}

// compare orders a field against a number or string literal of the same kind; ok is false for
// any other pair.
func compare(f field, lit value) (int, bool) {
	if !f.ok || f.v.kind != lit.kind {
		return 0, false
	}
	switch lit.kind {
	case kindString:
		return strings.Compare(f.v.str, lit.str), true
	case kindNumber:
		a, b := f.v, lit
		if a.isInt && b.isInt {
			return cmp.Compare(a.i, b.i), true
		}
		return cmp.Compare(a.num, b.num), true
	}
	return 0, false
}
