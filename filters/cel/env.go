package cel

import (
	celgo "cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/ext"

	"github.com/ternmq/tern/filters/sql92"
)

// MaxBodySize is the body size the cost estimate assumes: RocketMQ's default maxMessageSize.
// Unlike the other sizes it is not a hard bound, so expressions that read the body are always
// cost-tracked (see Cost in the package documentation).
const MaxBodySize = 4 << 20

// Size bounds the cost estimate assumes: what the store can hold.
const (
	maxTopicBytes = 127   // the record's topic length is one signed byte
	maxPropsBytes = 32767 // the record's properties length is an int16
	// maxPropsEntries and maxListItems follow from maxPropsBytes: an entry takes at least
	// "k\x01\x02", a tag at least "t||".
	maxPropsEntries = maxPropsBytes / 3
	maxListItems    = maxPropsBytes / 3
)

// maxCELSize bounds the length of a CEL expression in code points, above CEL's default so
// that the translation of the longest SQL92 expression fits.
const maxCELSize = 1 << 20

// newEnv returns the CEL environment of expressions: the variables, optional types
// (props.?name), the strings extension and the sql.* functions of the SQL92 translation.
func newEnv() (*celgo.Env, error) {
	str, i := celgo.StringType, celgo.IntType
	return celgo.NewEnv(
		celgo.Variable(varTopic, str),
		celgo.Variable(varTags, celgo.ListType(str)),
		celgo.Variable(varKeys, celgo.ListType(str)),
		celgo.Variable(varProps, celgo.MapType(str, str)),
		celgo.Variable(varBornTimestamp, i),
		celgo.Variable(varStoreTimestamp, i),
		celgo.Variable(varReconsumeTimes, i),
		celgo.Variable(varQueueID, i),
		celgo.Variable(varQueueOffset, i),
		celgo.Variable(varBody, celgo.BytesType),
		celgo.OptionalTypes(),
		celgo.CrossTypeNumericComparisons(true),
		celgo.ParserExpressionSizeLimit(maxCELSize),
		ext.Strings(),
		sql92.Library(),
	)
}

// usesBody reports whether a checked expression refers to the variable body.
func usesBody(a *celgo.Ast) bool {
	for _, r := range a.NativeRep().ReferenceMap() {
		if r.Name == varBody {
			return true
		}
	}
	return false
}

// estimator gives the cost estimate the sizes of the variables.
type estimator struct{}

var _ cost.Estimator = estimator{}

func (estimator) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	path := n.Path()
	if len(path) == 0 {
		return nil
	}
	var max uint64
	switch path[0] {
	case varTopic:
		max = maxTopicBytes
	case varBody:
		max = MaxBodySize
	case varTags, varKeys:
		max = maxListItems
		if len(path) > 1 {
			max = maxPropsBytes
		}
	case varProps:
		max = maxPropsEntries
		if len(path) > 1 {
			max = maxPropsBytes
		}
	default:
		return nil
	}
	est := cost.RangedSizeEstimate(0, max)
	return &est
}

func (estimator) EstimateCallCost(function, overloadID string, target *cost.AstNode, args []cost.AstNode) *cost.CallEstimate {
	return nil
}
