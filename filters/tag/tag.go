// Package tag is RocketMQ's TAG subscription expression and the built-in filter "tag" that
// evaluates it.
//
// # Expressions (RocketMQ 4.9.8 FilterAPI.buildSubscriptionData)
//
//   - "" and "*" select every message (All). Only these exact strings do: " * " is the tag "*".
//   - Anything else is split on "||"; each piece is trimmed of characters up to U+0020 (Java's
//     String.trim) and kept if not empty, duplicates once. "A || B" is the tags A and B.
//   - An expression that splits into no pieces at all ("||", "||||") is an error, as in
//     RocketMQ. One whose pieces are all blank ("  ", "| |") has no tags and selects nothing.
//
// # Matching
//
// The ConsumeQueue keeps, per message, the Java String.hashCode of its TAGS property
// (message.TagsCode, sign-extended to 64 bits). MatchCode is RocketMQ's broker-side test:
// the low 32 bits of the code are one of the tags' codes (Codes). Match is the exact test on
// the tags themselves, which rules out hash collisions: a message matches when one of its tags
// is one of the expression's. A message whose TAGS property carries several tags separated by
// "||" (the broker splits them into filter.Message.Tags) matches if any of them does, which
// RocketMQ itself cannot do; a message without tags matches only All.
package tag

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ternmq/tern/core/message"
)

// ErrNoTags is the error of an expression made only of separators ("||").
var ErrNoTags = errors.New("tag: the expression is only separators")

// Separator separates the tags of an expression and of a TAGS property.
const Separator = "||"

// Expr is a parsed tag expression. It is immutable and safe for concurrent use.
type Expr struct {
	all   bool
	tags  []string
	codes []int64
}

// all is the expression "*".
var all = &Expr{all: true}

// Parse parses a tag expression.
func Parse(expr string) (*Expr, error) {
	if expr == "" || expr == "*" {
		return all, nil
	}
	pieces := strings.Split(expr, Separator)
	// Java's String.split drops trailing empty strings; an expression of separators only
	// leaves nothing.
	for len(pieces) > 0 && pieces[len(pieces)-1] == "" {
		pieces = pieces[:len(pieces)-1]
	}
	if len(pieces) == 0 {
		return nil, fmt.Errorf("%w: %q", ErrNoTags, expr)
	}
	e := &Expr{}
	for _, p := range pieces {
		t := javaTrim(p)
		if t == "" || slices.Contains(e.tags, t) {
			continue
		}
		e.tags = append(e.tags, t)
		if c := message.TagsCode(t); !slices.Contains(e.codes, c) {
			e.codes = append(e.codes, c)
		}
	}
	return e, nil
}

// javaTrim is Java's String.trim: it removes characters up to U+0020 from both ends.
func javaTrim(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return r <= ' ' })
}

// All reports whether the expression selects every message ("" or "*").
func (e *Expr) All() bool { return e.all }

// Tags returns the expression's tags, in order, without duplicates. The slice is shared.
func (e *Expr) Tags() []string { return e.tags }

// Codes returns the ConsumeQueue codes of the tags (Java String.hashCode, sign-extended),
// without duplicates. The slice is shared. It is empty for All.
func (e *Expr) Codes() []int64 { return e.codes }

// MatchCode reports whether a ConsumeQueue tags code passes the expression: always for All,
// otherwise when its low 32 bits are one of the codes (RocketMQ compares tagsCode.intValue()).
func (e *Expr) MatchCode(code int64) bool {
	if e.all {
		return true
	}
	code = int64(int32(code))
	return slices.Contains(e.codes, code)
}

// Match reports whether a message with these tags passes the expression: always for All,
// otherwise when one of them is one of the expression's tags.
func (e *Expr) Match(tags []string) bool {
	if e.all {
		return true
	}
	for _, t := range tags {
		if slices.Contains(e.tags, t) {
			return true
		}
	}
	return false
}

// MatchProperty is Match on a TAGS property value as stored ("A", or "A||B" for several tags),
// without allocating: the whole value, or one of its "||"-separated pieces, is one of the
// expression's tags.
func (e *Expr) MatchProperty(tags []byte) bool { return matchProperty(e, tags) }

// MatchTags is MatchProperty on a string (a received message's tag).
func (e *Expr) MatchTags(tags string) bool { return matchProperty(e, tags) }

func matchProperty[T ~string | ~[]byte](e *Expr, tags T) bool {
	if e.all {
		return true
	}
	for _, t := range e.tags {
		if string(tags) == t {
			return true
		}
	}
	for rest := tags; ; {
		i := separatorIndex(rest)
		piece := rest
		if i >= 0 {
			piece = rest[:i]
		}
		for _, t := range e.tags {
			if string(piece) == t {
				return true
			}
		}
		if i < 0 {
			return false
		}
		rest = rest[i+len(Separator):]
	}
}

// separatorIndex returns the index of the first "||" in s, or -1.
func separatorIndex[T ~string | ~[]byte](s T) int {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '|' && s[i+1] == '|' {
			return i
		}
	}
	return -1
}

// Split returns the tags of a TAGS property value: the "||"-separated pieces, trimmed as Java
// trims, empty ones dropped. A message without the property has none.
func Split(tags string) []string {
	var out []string
	for piece := range strings.SplitSeq(tags, Separator) {
		if t := javaTrim(piece); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// String returns the expression in canonical form: "*", or the tags joined by " || " (the
// lone tag "*" as " * ", which Parse does not take for All).
func (e *Expr) String() string {
	if e.all {
		return "*"
	}
	if s := strings.Join(e.tags, " "+Separator+" "); s != "*" {
		return s
	}
	return " * "
}
