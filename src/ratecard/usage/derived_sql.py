"""A derived quantity (`sum duration_ms / 3_600_000`) per event in SQL: the twin of
`rows.derived_value`, so every engine gives the row reader's value to the last digit.

Every value is DECIMAL(38, 18) (docs/usage.md, "Derived quantities"):

- `+`, `-`: each operand cast to DECIMAL(37, 18), so the result is DECIMAL(38, 18)
  whatever an engine's rules for a sum's precision;
- `*`: each operand cast to DECIMAL(38, 9) (an operand with more places is flagged by
  `problem`), so the product has 18 places and is exact; past 20 integer digits the
  engine stops (ANSI overflow) and the row reader names the row;
- `/`: long division on whole numbers of 10**-9 (`INT128`, the dialect's 128-bit or
  38-digit integer), nine digits a step, so that every step's quotient is below 10**11
  (Spark's DIV returns a BIGINT) and every dividend below 10**38; the quotient to 18
  places is rounded once, half-even, by its remainder. No engine's decimal division is
  used: DuckDB's gives a DOUBLE and Spark's, Snowflake's and BigQuery's round.

`problem` is what makes the event a bad row here rather than a stopped query: a zero
divisor, an operand of `*` or `/` with more than 9 decimal places.
"""

from __future__ import annotations

from typing import Callable

from sqlglot import exp

from ..model import Expression, Number, Operation, Property
from .rows import FACTOR_SCALE, QUANTITY_SCALE
from .sql import OPERAND, QUANTITY, cast, lit

# An operand of `*` or `/`: whole numbers of 10**-9 (a value with more places is a bad row).
FACTOR = exp.DataType.build(f"DECIMAL(38, {FACTOR_SCALE})")
# Whole numbers below 10**38: DuckDB's HUGEINT; `dialects.adapt` names each dialect's own.
WHOLE = exp.DataType.build("INT128")
# One unit of the 18th place, to turn a whole number of 10**-18 into a quantity by a
# multiplication (exact in every engine) rather than a division.
UNIT = exp.DataType.build(f"DECIMAL({QUANTITY_SCALE + 1}, {QUANTITY_SCALE})")
_STEP = 10 ** FACTOR_SCALE

Props = Callable[[str], exp.Expression]


def quantity_value(value: exp.Expression) -> exp.Expression:
    """A (good) quantity's text as DECIMAL(38, 18), exactly (an exponent too)."""
    return cast(exp.Trim(this=value.copy()), QUANTITY)


def value(expr: Expression, props: Props) -> exp.Expression:
    """The event's value of `expr` in DECIMAL(38, 18) (see the module's docstring)."""
    if isinstance(expr, Property):
        return quantity_value(props(expr.name))
    if isinstance(expr, Number):
        return cast(lit(format(expr.value, "f")), QUANTITY)
    assert isinstance(expr, Operation), expr
    left, right = value(expr.left, props), value(expr.right, props)
    if expr.op in "+-":
        node = exp.Add if expr.op == "+" else exp.Sub
        return cast(exp.Paren(this=node(this=cast(left, OPERAND), expression=cast(right, OPERAND))), QUANTITY)
    if expr.op == "*":
        return cast(exp.Paren(this=exp.Mul(this=cast(left, FACTOR), expression=cast(right, FACTOR))), QUANTITY)
    return _quotient(left, right)


def problem(expr: Expression, props: Props) -> exp.Expression | None:
    """TRUE when the event's value is a bad row for a reason the query flags (a zero
    divisor, an operand of `*` or `/` with more than 9 places); None for an expression
    without `*` or `/`. NULL only where an inner divisor is zero, which is flagged too."""
    if not isinstance(expr, Operation):
        return None
    parts = [p for p in (problem(expr.left, props), problem(expr.right, props)) if p is not None]
    if expr.op in "*/":
        left, right = value(expr.left, props), value(expr.right, props)
        parts += [exp.NEQ(this=cast(cast(v.copy(), FACTOR), QUANTITY), expression=v) for v in (left, right)]
        if expr.op == "/":
            parts.append(exp.EQ(this=right.copy(), expression=lit(0)))
    return exp.Paren(this=exp.or_(*parts)) if parts else None


def _whole(e: exp.Expression) -> exp.Expression:
    return cast(e, WHOLE)


def _div(a: exp.Expression, b: exp.Expression) -> exp.Expression:
    return _whole(exp.IntDiv(this=a, expression=b))


def _mod(a: exp.Expression, b: exp.Expression) -> exp.Expression:
    return _whole(exp.Paren(this=exp.Mod(this=a, expression=b)))


def _n(k: int) -> exp.Expression:
    return _whole(lit(k))


def _quotient(left: exp.Expression, right: exp.Expression) -> exp.Expression:
    """`left / right` to 18 places, half-even (`rows.quotient`, step for step)."""
    def scaled(v: exp.Expression) -> exp.Expression:  # |v| as a whole number of 10**-9, below 10**29
        factor = cast(lit(str(_STEP)), exp.DataType.build("DECIMAL(10, 0)"))
        return _whole(exp.Mul(this=exp.Abs(this=cast(v.copy(), FACTOR)), expression=factor))

    dividend = scaled(left)
    # a zero divisor gives NULL, never an error: the event is flagged by `problem`
    divisor = exp.func("NULLIF", scaled(right), _n(0))
    # the dividend's digits, nine at a time (the first below 10**11), then two steps of zeros
    digits = [_div(dividend.copy(), _n(_STEP * _STEP)),
              _mod(_div(dividend.copy(), _n(_STEP)), _n(_STEP)),
              _mod(dividend.copy(), _n(_STEP)), None, None]
    rest: exp.Expression | None = None
    quotients = []
    for d in digits:
        step = d if rest is None else exp.Add(this=exp.Mul(this=rest, expression=_n(_STEP)),
                                              expression=d if d is not None else _n(0))
        if rest is not None:
            step = _whole(step)
        quotients.append(_div(step.copy(), divisor.copy()))
        rest = _mod(step, divisor.copy())
    whole = quotients[0]
    for q in quotients[1:]:
        whole = _whole(exp.Add(this=exp.Mul(this=whole, expression=_n(_STEP)), expression=q))
    twice = exp.Mul(this=rest, expression=_n(2))
    up = exp.Case(ifs=[exp.If(this=exp.or_(
        exp.GT(this=twice, expression=divisor.copy()),
        exp.and_(exp.EQ(this=twice.copy(), expression=divisor.copy()),
                 exp.EQ(this=_mod(quotients[-1].copy(), _n(2)), expression=_n(1)))), true=_n(1))], default=_n(0))
    rounded = _whole(exp.Add(this=whole, expression=up))
    unit = cast(lit("0." + "0" * (QUANTITY_SCALE - 1) + "1"), UNIT)
    magnitude = cast(exp.Paren(this=exp.Mul(this=cast(rounded, exp.DataType.build("DECIMAL(38, 0)")),
                                            expression=unit)), QUANTITY)
    opposite = exp.NEQ(this=exp.Paren(this=exp.LT(this=left.copy(), expression=lit(0))),
                       expression=exp.Paren(this=exp.LT(this=right.copy(), expression=lit(0))))
    return exp.Case(ifs=[exp.If(this=opposite, true=exp.Neg(this=magnitude.copy()))], default=magnitude)
