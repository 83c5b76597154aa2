package broker

import (
	"strings"

	"github.com/ternmq/tern/core/message"
	"github.com/ternmq/tern/core/store"
)

// tagFilter selects by RocketMQ tag expression ("A || B", "*"): first on the ConsumeQueue tags
// code (the Java hash of the tag), then on the TAGS property itself, which rules out hash
// collisions.
type tagFilter struct {
	all   bool
	tags  []string
	codes []int64
}

var _ store.Filter = (*tagFilter)(nil)

// newTagFilter parses a tag expression: "", "*" or tags separated by "||".
func newTagFilter(expr string) *tagFilter {
	expr = strings.TrimSpace(expr)
	if expr == "" || expr == "*" {
		return &tagFilter{all: true}
	}
	f := &tagFilter{}
	for _, t := range strings.Split(expr, "||") {
		if t = strings.TrimSpace(t); t != "" {
			f.tags = append(f.tags, t)
			f.codes = append(f.codes, message.TagsCode(t))
		}
	}
	if len(f.tags) == 0 {
		f.all = true
	}
	return f
}

func (f *tagFilter) MatchTagsCode(code int64) bool {
	if f.all {
		return true
	}
	for _, c := range f.codes {
		if c == code {
			return true
		}
	}
	return false
}

func (f *tagFilter) MatchRecord(v message.View) bool {
	if f.all {
		return true
	}
	tag, _ := message.Property(v.Properties(), message.PropertyTags)
	for _, t := range f.tags {
		if t == string(tag) {
			return true
		}
	}
	return false
}
