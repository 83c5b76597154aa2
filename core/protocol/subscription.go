package protocol

import (
	"slices"
	"strings"

	"github.com/ternmq/tern/core/message"
)

// tagSeparator separates the tags of a TAG expression ("TagA || TagB").
const tagSeparator = "||"

// ParseTagExpression splits a TAG expression as Java's FilterAPI does: "" and "*" match every
// tag (all is true, tags nil); otherwise the expression is split on "||", each piece is trimmed,
// empty pieces are dropped and duplicates are kept once, in order of first appearance. Unlike
// Java, a "*" or blank expression surrounded by spaces also matches every tag.
func ParseTagExpression(expr string) (tags []string, all bool) {
	if e := strings.TrimSpace(expr); e == "" || e == SubAll {
		return nil, true
	}
	for piece := range strings.SplitSeq(expr, tagSeparator) {
		if t := strings.TrimSpace(piece); t != "" && !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	return tags, false
}

// TagCode is the consume-queue hash code of a tag: Java's String.hashCode (message.TagsCode)
// as the int32 a subscription's codeSet holds.
func TagCode(tag string) int32 { return int32(message.TagsCode(tag)) }

// TagCodes returns the codes of tags.
func TagCodes(tags []string) CodeSet {
	codes := make(CodeSet, len(tags))
	for i, t := range tags {
		codes[i] = TagCode(t)
	}
	return codes
}

// NewSubscriptionData builds a subscription as a Java client does. For TAG (or an empty
// expressionType) it parses expr into TagsSet and CodeSet, with SubString "*" when expr
// matches everything; for SQL92, CEL and other types SubString is expr and both sets are
// empty. SubVersion is left to the caller.
func NewSubscriptionData(topic, expr, expressionType string) SubscriptionData {
	if expressionType == "" {
		expressionType = ExpressionTag
	}
	s := SubscriptionData{Topic: topic, SubString: expr, ExpressionType: expressionType, TagsSet: []string{}, CodeSet: CodeSet{}}
	if expressionType != ExpressionTag {
		return s
	}
	tags, all := ParseTagExpression(expr)
	if all {
		s.SubString = SubAll
		return s
	}
	s.TagsSet = tags
	s.CodeSet = TagCodes(tags)
	return s
}

// Normalize recomputes TagsSet and CodeSet of a TAG subscription from SubString (and
// SubString "*" for an expression that matches everything), so that clients' differing codes
// (§3.2) do not matter. Other expression types are left alone. An empty ExpressionType is TAG.
func (s *SubscriptionData) Normalize() {
	if s.ExpressionType != "" && s.ExpressionType != ExpressionTag {
		return
	}
	n := NewSubscriptionData(s.Topic, s.SubString, ExpressionTag)
	s.ExpressionType, s.SubString, s.TagsSet, s.CodeSet = n.ExpressionType, n.SubString, n.TagsSet, n.CodeSet
}

// MatchesAllTags reports whether a TAG subscription accepts every message.
func (s *SubscriptionData) MatchesAllTags() bool {
	if s.ExpressionType != "" && s.ExpressionType != ExpressionTag {
		return false
	}
	e := strings.TrimSpace(s.SubString)
	return e == "" || e == SubAll
}

// MatchesTagsCode reports whether a TAG subscription accepts a consume-queue entry with the
// given tags code (§6.2): every code for "*", otherwise int32(code) must be in CodeSet.
func (s *SubscriptionData) MatchesTagsCode(code int64) bool {
	if s.MatchesAllTags() {
		return true
	}
	return slices.Contains(s.CodeSet, int32(code))
}
