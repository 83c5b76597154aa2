package sql92

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// tokenKind is the kind of a lexical token.
type tokenKind uint8

const (
	tokEOF tokenKind = iota
	tokIdent
	tokInt    // DECIMAL_LITERAL: 0 | [1-9][0-9]* [lL]?
	tokFloat  // FLOATING_POINT_LITERAL
	tokString // 'text' with '' for a quote
	// Keywords, case-insensitive.
	tokNot
	tokAnd
	tokOr
	tokBetween
	tokIn
	tokTrue
	tokFalse
	tokNull
	tokIs
	// Punctuation.
	tokEq     // =
	tokNe     // <>
	tokGt     // >
	tokGe     // >=
	tokLt     // <
	tokLe     // <=
	tokLParen // (
	tokRParen // )
	tokComma  // ,
	tokPlus   // +
	tokMinus  // -
)

var tokenNames = [...]string{
	tokEOF:     "end of expression",
	tokIdent:   "identifier",
	tokInt:     "integer literal",
	tokFloat:   "floating-point literal",
	tokString:  "string literal",
	tokNot:     "NOT",
	tokAnd:     "AND",
	tokOr:      "OR",
	tokBetween: "BETWEEN",
	tokIn:      "IN",
	tokTrue:    "TRUE",
	tokFalse:   "FALSE",
	tokNull:    "NULL",
	tokIs:      "IS",
	tokEq:      "'='",
	tokNe:      "'<>'",
	tokGt:      "'>'",
	tokGe:      "'>='",
	tokLt:      "'<'",
	tokLe:      "'<='",
	tokLParen:  "'('",
	tokRParen:  "')'",
	tokComma:   "','",
	tokPlus:    "'+'",
	tokMinus:   "'-'",
}

func (k tokenKind) String() string { return tokenNames[k] }

// keywords maps the upper-cased spelling of each reserved word to its kind.
var keywords = map[string]tokenKind{
	"NOT":     tokNot,
	"AND":     tokAnd,
	"OR":      tokOr,
	"BETWEEN": tokBetween,
	"IN":      tokIn,
	"TRUE":    tokTrue,
	"FALSE":   tokFalse,
	"NULL":    tokNull,
	"IS":      tokIs,
}

// token is one lexical token: its kind, where it starts (a byte offset) and its text as
// written (for a string literal, the decoded value).
type token struct {
	kind tokenKind
	off  int
	text string
}

// describe names the token in an error message.
func (t token) describe() string {
	switch t.kind {
	case tokIdent:
		return "identifier " + t.text
	case tokInt, tokFloat:
		return "number " + t.text
	case tokString:
		return "string " + quoteSQL(t.text)
	}
	return t.kind.String()
}

// lexer splits an expression into tokens the way the JavaCC token manager of RocketMQ 4.9.8
// does: longest match, keywords before identifiers. See the package documentation for the
// two places where it is stricter.
type lexer struct {
	src string
	off int // next byte to read
}

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '$'
}

func isIdentPart(c byte) bool { return isIdentStart(c) || isDigit(c) }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// next returns the next token, or a *SyntaxError.
func (l *lexer) next() (token, error) {
	if err := l.skipSpace(); err != nil {
		return token{}, err
	}
	start := l.off
	if start >= len(l.src) {
		return token{kind: tokEOF, off: start}, nil
	}
	c := l.src[start]
	tok := func(k tokenKind, n int) (token, error) {
		l.off += n
		return token{kind: k, off: start, text: l.src[start:l.off]}, nil
	}
	switch {
	case isIdentStart(c):
		end := start + 1
		for end < len(l.src) && isIdentPart(l.src[end]) {
			end++
		}
		word := l.src[start:end]
		l.off = end
		if len(word) <= len("BETWEEN") {
			if k, ok := keywords[strings.ToUpper(word)]; ok {
				return token{kind: k, off: start, text: word}, nil
			}
		}
		return token{kind: tokIdent, off: start, text: word}, nil
	case isDigit(c) || c == '.':
		return l.number()
	case c == '\'':
		return l.string()
	case c == '=':
		return tok(tokEq, 1)
	case c == '<':
		if l.peekByte(1) == '>' {
			return tok(tokNe, 2)
		}
		if l.peekByte(1) == '=' {
			return tok(tokLe, 2)
		}
		return tok(tokLt, 1)
	case c == '>':
		if l.peekByte(1) == '=' {
			return tok(tokGe, 2)
		}
		return tok(tokGt, 1)
	case c == '(':
		return tok(tokLParen, 1)
	case c == ')':
		return tok(tokRParen, 1)
	case c == ',':
		return tok(tokComma, 1)
	case c == '+':
		return tok(tokPlus, 1)
	case c == '-':
		return tok(tokMinus, 1)
	}
	r, _ := utf8.DecodeRuneInString(l.src[start:])
	switch {
	case c == '!' && l.peekByte(1) == '=':
		return token{}, l.errorf(start, "unexpected '!=': write <> for not equal")
	case c == '"':
		return token{}, l.errorf(start, "unexpected '\"': string literals are written in single quotes")
	}
	return token{}, l.errorf(start, "unexpected character %s", strconv.QuoteRune(r))
}

func (l *lexer) peekByte(n int) byte {
	if l.off+n < len(l.src) {
		return l.src[l.off+n]
	}
	return 0
}

// skipSpace skips white space (space, tab, CR, LF, FF) and comments.
func (l *lexer) skipSpace() error {
	for l.off < len(l.src) {
		switch c := l.src[l.off]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			l.off++
		case c == '-' && l.peekByte(1) == '-':
			// A line comment ends with a line break. Without one, "--" is two minus signs, as in
			// the Java grammar (so "--5" at the very end is 5); Parse accepts such a "comment"
			// after a complete expression.
			i := strings.IndexAny(l.src[l.off:], "\r\n")
			if i < 0 {
				return nil
			}
			l.off += i + 1
		case c == '/' && l.peekByte(1) == '*':
			i := strings.Index(l.src[l.off+2:], "*/")
			if i < 0 {
				return l.errorf(l.off, "unterminated comment")
			}
			l.off += 2 + i + 2
		default:
			return nil
		}
	}
	return nil
}

// number reads a DECIMAL_LITERAL or a FLOATING_POINT_LITERAL:
//
//	DECIMAL_LITERAL: "0" | [1-9][0-9]* [lL]?
//	FLOATING_POINT_LITERAL: [0-9]+ "." [0-9]* EXP? | "." [0-9]+ EXP? | [0-9]+ EXP
//	EXP: [eE] [+-]? [0-9]+
func (l *lexer) number() (token, error) {
	start := l.off
	s := l.src
	i := start
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	intEnd := i
	float := false
	if i < len(s) && s[i] == '.' {
		j := i + 1
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		if intEnd == start && j == i+1 {
			return token{}, l.errorf(start, "unexpected '.'")
		}
		i, float = j, true
	}
	if e := exponentEnd(s, i); e > i {
		i, float = e, true
	}
	if float {
		l.off = i
		return token{kind: tokFloat, off: start, text: s[start:i]}, nil
	}
	// A decimal literal: a leading 0 stands alone, as in the Java grammar, so "012" is the
	// two tokens "0" and "12" and fails to parse.
	if s[start] == '0' {
		l.off = start + 1
		return token{kind: tokInt, off: start, text: "0"}, nil
	}
	if i < len(s) && (s[i] == 'l' || s[i] == 'L') {
		i++
	}
	l.off = i
	return token{kind: tokInt, off: start, text: s[start:i]}, nil
}

// exponentEnd returns the end of an exponent starting at i, or i if there is none.
func exponentEnd(s string, i int) int {
	if i >= len(s) || s[i] != 'e' && s[i] != 'E' {
		return i
	}
	j := i + 1
	if j < len(s) && (s[j] == '+' || s[j] == '-') {
		j++
	}
	k := j
	for k < len(s) && isDigit(s[k]) {
		k++
	}
	if k == j {
		return i
	}
	return k
}

// string reads a string literal; ” stands for one quote. The token's text is the value.
func (l *lexer) string() (token, error) {
	start := l.off
	var b strings.Builder
	i := start + 1
	for {
		j := strings.IndexByte(l.src[i:], '\'')
		if j < 0 {
			return token{}, l.errorf(start, "unterminated string literal")
		}
		b.WriteString(l.src[i : i+j])
		i += j + 1
		if i < len(l.src) && l.src[i] == '\'' {
			b.WriteByte('\'')
			i++
			continue
		}
		l.off = i
		return token{kind: tokString, off: start, text: b.String()}, nil
	}
}

func (l *lexer) errorf(off int, format string, args ...any) error {
	return newSyntaxError(l.src, off, format, args...)
}
