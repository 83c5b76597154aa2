package protocol

import (
	"slices"

	"github.com/ternmq/tern/filters/tag"
)

// NewSubscriptionData builds a subscription as a Java client does. For TAG (or an empty
// expressionType) it parses expr with filters/tag (Java's FilterAPI) into TagsSet and CodeSet
// (Java String.hashCode of each tag), with SubString "*" when expr matches everything; an
// expression that does not parse is kept as is with both sets empty (the broker refuses it).
// For SQL92, CEL and other types SubString is expr and both sets are empty. SubVersion is left
// to the caller.
func NewSubscriptionData(topic, expr, expressionType string) SubscriptionData {
	if expressionType == "" {
		expressionType = ExpressionTag
	}
	s := SubscriptionData{Topic: topic, SubString: expr, ExpressionType: expressionType, TagsSet: []string{}, CodeSet: CodeSet{}}
	if expressionType != ExpressionTag {
		return s
	}
	e, err := tag.Parse(expr)
	switch {
	case err != nil:
	case e.All():
		s.SubString = SubAll
	default:
		s.TagsSet = slices.Clone(e.Tags())
		for _, c := range e.Codes() {
			s.CodeSet = append(s.CodeSet, int32(c))
		}
	}
	return s
}
