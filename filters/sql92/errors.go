package sql92

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// SyntaxError is a parse error: the expression is not valid SQL92 as RocketMQ 4.9.8 accepts
// it, or it is refused by one of the compile-time checks RocketMQ applies (see the package
// documentation).
type SyntaxError struct {
	// Offset is the byte offset in the expression where the problem was found.
	Offset int
	// Line and Column are the 1-based position of Offset; Column counts characters.
	Line, Column int
	// Msg says what is wrong.
	Msg string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("sql92: line %d, column %d: %s", e.Line, e.Column, e.Msg)
}

func newSyntaxError(src string, off int, format string, args ...any) *SyntaxError {
	off = min(max(off, 0), len(src))
	before := src[:off]
	line := 1 + strings.Count(before, "\n")
	if i := strings.LastIndexByte(before, '\n'); i >= 0 {
		before = before[i+1:]
	}
	return &SyntaxError{
		Offset: off,
		Line:   line,
		Column: 1 + utf8.RuneCountInString(before),
		Msg:    fmt.Sprintf(format, args...),
	}
}
