// Package sql92 parses RocketMQ's SQL92 message filter language, as RocketMQ 4.9.8 accepts it,
// and translates it to CEL that selects exactly the messages RocketMQ selects. The reference is
// §7 of docs/rocketmq-remoting-protocol.md; the behaviour below was checked against RocketMQ
// 4.9.8's own filter module (SelectorParser.jj and the expression classes).
//
// # Language
//
// Lexical rules:
//
//   - keywords are NOT AND OR BETWEEN IN TRUE FALSE NULL IS, in any case; white space is space,
//     tab, CR, LF and FF; comments are /* ... */ and -- up to a line break;
//   - identifiers are [A-Za-z_$][A-Za-z0-9_$]* and name a message property, case-sensitively
//     (properties with dots or dashes in their names cannot be referenced);
//   - integers are 0 or [1-9][0-9]* with an optional L: an Integer if the value fits in 32
//     bits, else a Long (beyond 64 bits: an error); a leading 0 stands alone, so 012 is 0
//     followed by 12; there are no hexadecimal or octal literals and no negative ones (-5 is
//     minus applied to 5);
//   - doubles are 5.5, 5., .5, 5e3, 5.5E-3 and the like; 0.0 (anything below the smallest
//     positive double) and infinite values are refused;
//   - strings are in single quotes; a quote inside one is doubled.
//
// Grammar, loosest binding first: OR; AND; = <> IS [NOT] NULL; < <= > >= [NOT] BETWEEN
// [NOT] IN; unary + - NOT; literals, properties and parentheses. NOT binds tighter than the
// comparisons: NOT a = 1 is (NOT a) = 1. The right side of IN is a list of string literals
// and its left side must be a property. There is no LIKE, no arithmetic, no functions, and
// no CONTAINS, STARTSWITH or ENDSWITH (RocketMQ 5).
//
// RocketMQ's compile-time checks are made by Parse: the whole expression and the operands of
// AND, OR and NOT must be boolean expressions or properties; NULL cannot be an operand of = or
// <>; string, boolean and NULL constants and boolean expressions cannot be operands of an
// ordering comparison or BETWEEN; a boolean constant cannot be compared with another kind of
// constant; the constant bounds of BETWEEN cannot be NULL nor the low one above the high one.
//
// Parse is stricter than RocketMQ in one way: RocketMQ stops at the end of the first complete
// expression and ignores what follows ("a = 1 b = 2" selects on a = 1); Parse refuses trailing
// tokens, except a final -- comment without a line break (which RocketMQ lexes as two minus
// signs and then ignores). Parse also bounds the length (MaxExpressionLength) and nesting
// (MaxDepth) of an expression, and refuses invalid UTF-8.
//
// # Evaluation
//
// A message's properties are the context, so every property value is a string and a missing
// property is NULL. Values have a Java class: String, Integer, Long, Double, Boolean or NULL.
//
//   - = compares after conversion: a String meeting a number or boolean is parsed as the other
//     side's class (Integer.valueOf, Long.valueOf, Double.valueOf, Boolean.valueOf), numbers
//     are widened (Integer to Long to Double), and a failed parse throws. NULL on the left
//     gives NULL, NULL only on the right gives FALSE, NULL on both sides gives TRUE. A
//     Boolean on the left of a String throws (RocketMQ's ClassCastException); a number and a
//     Boolean are unequal. <> is NOT =.
//   - < <= > >= give NULL when the left side is NULL (the right side is not looked at) or the
//     right side is; two strings are both parsed as doubles; otherwise as =. Doubles compare as
//     Java's Double.compare: NaN is above everything and -0.0 below 0.0.
//   - x BETWEEN a AND b is x >= a AND x <= b; x NOT BETWEEN a AND b is x < a OR x > b.
//   - x IN (...) is NULL when x is absent, else string membership; NOT IN negates it.
//   - x IS NULL is true iff x is NULL (or absent); IS NOT NULL is its negation.
//   - minus negates a number and makes NULL of anything else (a property's value is a string).
//   - NOT of NULL is NULL. AND and OR are evaluated left to right: AND is FALSE at the first
//     FALSE, OR TRUE at the first TRUE, an exception before that throws, and otherwise the
//     result is NULL if any side is NULL.
//   - a property used as a boolean is NULL when absent and FALSE otherwise.
//   - a message is selected only when the expression is TRUE; NULL, FALSE and an exception
//     (any failed conversion) all leave it out.
//
// # Translation to CEL
//
// Translate and ToCEL write an expression as CEL of type bool over the variable props
// (map(string, string)). Each node becomes a call of one of the functions below, which
// Library declares; values are CEL null (NULL), string, int (an Integer when in
// (-2^31, 2^31-1], a Long otherwise: the literals make these ranges disjoint), double or bool,
// and an exception is a CEL error. The translation compares the result with true.
//
//	sql.prop(props, name)          the property's string, or null
//	sql.cast(x)                    a property used as a boolean: null stays null, else false
//	sql.not(x)  sql.neg(x)         NOT and unary minus
//	sql.and(x, y)  sql.or(x, y)    AND and OR, left to right (they see errors as values)
//	sql.eq  sql.ne  sql.lt  sql.le  sql.gt  sql.ge (x, y)    = <> < <= > >=
//	sql.between(x, lo, hi)  sql.notBetween(x, lo, hi)
//	sql.inList(x, [..])  sql.notInList(x, [..])
//	sql.isNull(x)  sql.isNotNull(x)
//
// For example, a = 'x' AND b > 5 becomes
//
//	sql.and(sql.eq(sql.prop(props, "a"), "x"), sql.gt(sql.prop(props, "b"), 5)) == true
//
// Chains of AND or OR are written as balanced trees, which the result does not depend on, and
// minus signs in front of numbers are folded. Two details follow Go rather than the JVM:
// Unicode digits in Integer and Long strings are those of Go's Unicode tables, and strings are
// compared as UTF-8 (equality is the same).
package sql92
