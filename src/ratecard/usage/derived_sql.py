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
divisor, an operand of `*` or `/` with more than 9 decimal places, a value past DECIMAL(38, 18)
or an operand of `+`/`-` past DECIMAL(37, 18). None of these tests relies on a cast's
precision or scale: BigQuery's SQL has no parameterized type in a CAST (sqlglot writes plain
BIGNUMERIC, which keeps 38 places and 38 integer digits), so a cast there neither rounds an
operand to 9 places nor stops at 20 integer digits. Places are tested on the value itself
(`|v| * 10**9` is a whole number: its fraction, scaled, equals its own FLOOR) and the
ranges by comparison; a magnitude becomes a whole number of 10**-9 by an explicit FLOOR.

Each node of the expression (each property, each operation) is a column computed once per
event (`Nodes`), in nested projections before the bad-row check (`with_levels`, from
`query.build_query`): a node's SQL refers to its children's columns, never repeats them,
and `problem` and the meter's aggregate read the columns. Every column is NULL unless the
meter reads the event and its operands are quantities (the guard the bad-row check uses), so
no cast sees a bad operand. A quotient takes three levels (its whole numbers, its magnitude,
its value), so its long division copies only column names. The printed SQL of one `a / b`
is some 20 KB, not the 230 KB that writing each operand out in place took.
"""

from __future__ import annotations

from typing import Callable

from sqlglot import exp

from ..model import Expression, Number, Operation, Property
from .rows import FACTOR_SCALE, QUANTITY_DIGITS, QUANTITY_SCALE
from .sql import OPERAND, QUANTITY, alias, and_, cast, col, lit, or_

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


class Nodes:
    """A derived quantity's nodes as columns, each computed once per event (the module's
    docstring): `<prefix>_ok`, the meter's guard, then one column `<prefix>_<k>` per
    property and per operation (equal ones once, numbered children first), by level: a
    node's column is a level above its children's (a quotient's three levels above: its
    whole numbers `_<k>d`, `_<k>v`, then its magnitude `_<k>m`, then its value)."""

    def __init__(self, expr: Expression, prefix: str):
        self.expr, self.prefix = expr, prefix
        self.index: dict[Expression, int] = {}
        self.level: dict[Expression, int] = {}
        self._number(expr)

    def _number(self, e: Expression) -> int:
        if isinstance(e, Number):
            return 0
        if e not in self.index:
            if isinstance(e, Operation):
                below = max(self._number(e.left), self._number(e.right))
                level = below + (_QUOTIENT_LEVELS if e.op == "/" else 1)
            else:
                level = 1
            self.index[e], self.level[e] = len(self.index), level
        return self.level[e]

    @property
    def guard(self) -> str:
        return f"{self.prefix}_ok"

    def ref(self, e: Expression, table: str | None = None, part: str = "") -> exp.Expression:
        """A node's value (or a quotient's `part`): its column, or a number's literal."""
        if isinstance(e, Number):
            return cast(lit(format(e.value, "f")), QUANTITY)
        return col(f"{self.prefix}_{self.index[e]}{part}", table)

    def levels(self, props: Props, good: exp.Expression) -> list[list[exp.Expression]]:
        """The columns by level: the guard `good` (the meter reads the event and its
        operands are quantities), then the nodes' columns, each NULL unless the guard
        holds, so no cast sees a bad operand. A column refers only to columns of lower
        levels."""
        out: list[list[exp.Expression]] = [[alias(good, self.guard)]]
        for e in sorted(self.index, key=lambda e: (self.level[e], self.index[e])):
            if isinstance(e, Property):
                stages = [[("", quantity_value(props(e.name)))]]
            elif e.op == "/":
                stages = _quotient(self.ref(e.left), self.ref(e.right), lambda part, e=e: self.ref(e, part=part))
            else:
                stages = [[("", _operation(e.op, self.ref(e.left), self.ref(e.right)))]]
            for i, stage in enumerate(stages):
                level = self.level[e] - len(stages) + 1 + i
                while len(out) <= level:
                    out.append([])
                out[level] += [alias(exp.Case(ifs=[exp.If(this=col(self.guard), true=v)]), self.ref(e, part=part).name)
                               for part, v in stage]
        return out


def with_levels(relation: exp.Expression, meters: list[list[list[exp.Expression]]]) -> exp.Expression:
    """`relation` with the columns of each meter's `Nodes.levels`: one `SELECT *, <columns>
    FROM (...) AS lv` per level, every meter's columns of that level together (no lateral
    column alias, which not every dialect has)."""
    levels: list[list[exp.Expression]] = []
    for own in meters:
        for i, columns in enumerate(own):
            if len(levels) <= i:
                levels.append([])
            levels[i].extend(columns)
    for columns in levels:
        relation = exp.select("*", *columns).from_(relation.subquery("lv", copy=False), copy=False)
    return relation


def _operation(op: str, left: exp.Expression, right: exp.Expression) -> exp.Expression:
    """`left op right` in DECIMAL(38, 18) for `+ - *` (see the module's docstring)."""
    if op in "+-":
        node = exp.Add if op == "+" else exp.Sub
        return cast(exp.Paren(this=node(this=cast(left, OPERAND), expression=cast(right, OPERAND))), QUANTITY)
    return cast(exp.Paren(this=exp.Mul(this=cast(left, FACTOR), expression=cast(right, FACTOR))), QUANTITY)


# The largest value of DECIMAL(38, 18) and of DECIMAL(37, 18) (an operand of `+`/`-`): a value
# the query keeps has at most 18 places, so `|v| > LARGEST` is `|v| >= 10**20`, and the
# literal itself is a quantity in every dialect (10**20 is not, nor an INT64 in BigQuery).
LARGEST = "9" * (QUANTITY_DIGITS - QUANTITY_SCALE) + "." + "9" * QUANTITY_SCALE
LARGEST_OPERAND = LARGEST[1:]


def problem(nodes: Nodes) -> exp.Expression | None:
    """TRUE when the event's value is a bad row (`rows.derived_value`): a zero divisor, an
    operand of `*` or `/` with more than 9 places, an operand of `+`/`-` of 19 integer digits
    or more, a value of 20 or more; None for a property or a number. NULL only where an inner
    divisor is zero, which is flagged too. Explicit tests, not casts (the module's docstring),
    on the node columns (`Nodes`), so only where the meter's guard holds."""
    expr = nodes.expr
    if not isinstance(expr, Operation):
        return None
    parts = [_inner(expr, nodes)]
    if expr.op in "*/":  # (a sum or difference of operands below 10**19 is below 10**20)
        parts.append(_beyond(nodes.ref(expr), LARGEST))
    return exp.Paren(this=exp.or_(*parts))


def _inner(expr: Operation, nodes: Nodes) -> exp.Expression:
    """`problem` without the range of `expr`'s own value, which its parent tests."""
    parts = [_inner(e, nodes) for e in (expr.left, expr.right) if isinstance(e, Operation)]
    for side in (expr.left, expr.right):
        v = nodes.ref(side)
        if expr.op in "+-":
            parts.append(_beyond(v, LARGEST_OPERAND))
        else:
            parts.append(_more_places(v))
            if not isinstance(side, Property):  # (a property is a quantity: below 10**20)
                parts.append(_beyond(v, LARGEST))
    if expr.op == "/":
        parts.append(exp.EQ(this=nodes.ref(expr.right), expression=lit(0)))
    return exp.Paren(this=exp.or_(*parts))


def _beyond(v: exp.Expression, largest: str) -> exp.Expression:
    return exp.GT(this=exp.Abs(this=v.copy()), expression=cast(lit(largest), QUANTITY))


def _scale(v: exp.Expression) -> exp.Expression:
    """`v * 10**9`, exact: 10**9 as DECIMAL(10, 0), whose product with DECIMAL(38, 9)
    (or with a fraction in DECIMAL(38, 18)) still fits 38 digits."""
    return exp.Mul(this=v, expression=cast(lit(str(_STEP)), exp.DataType.build("DECIMAL(10, 0)")))


def _more_places(v: exp.Expression) -> exp.Expression:
    """`v` has more than 9 decimal places: the fraction of |v| (below 1, so its product with
    10**9 fits DECIMAL(38, 18) in every engine), times 10**9, is not its own FLOOR."""
    magnitude = exp.Abs(this=v.copy())
    fraction = exp.Paren(this=exp.Sub(this=magnitude, expression=exp.Floor(this=magnitude.copy())))
    scaled = _scale(fraction)
    return exp.NEQ(this=scaled, expression=exp.Floor(this=scaled.copy()))


def _whole(e: exp.Expression) -> exp.Expression:
    return cast(e, WHOLE)


def _div(a: exp.Expression, b: exp.Expression) -> exp.Expression:
    return _whole(exp.IntDiv(this=a, expression=b))


def _mod(a: exp.Expression, b: exp.Expression) -> exp.Expression:
    return _whole(exp.Paren(this=exp.Mod(this=a, expression=b)))


def _n(k: int) -> exp.Expression:
    return _whole(lit(k))


# A quotient's levels of columns: its operands as whole numbers of 10**-9, its magnitude, its value.
_QUOTIENT_LEVELS = 3
Stages = list[list[tuple[str, exp.Expression]]]


def _quotient(left: exp.Expression, right: exp.Expression, part: Callable[[str], exp.Expression]) -> Stages:
    """`left / right` to 18 places, half-even (`rows.quotient`, step for step), as three
    levels of columns, `part(name)` reading one: the dividend `d` and divisor `v` as whole
    numbers of 10**-9, the magnitude `m`, the value."""
    def scaled(v: exp.Expression) -> exp.Expression:  # |v| as a whole number of 10**-9, below 10**29
        # FLOOR: truncated here, not by a cast (which rounds in some engines and, in
        # BigQuery, has no scale); a value it changes is a bad row (`_more_places`)
        return _whole(exp.Floor(this=_scale(exp.Abs(this=cast(v.copy(), FACTOR)))))

    # a zero divisor gives NULL, never an error: the event is flagged by `problem`
    operands = [("d", scaled(left)), ("v", exp.func("NULLIF", scaled(right), _n(0)))]
    dividend, divisor = part("d"), part("v")
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
    up = exp.Case(ifs=[exp.If(this=or_(
        exp.GT(this=twice, expression=divisor.copy()),
        and_(exp.EQ(this=twice.copy(), expression=divisor.copy()),
                 exp.EQ(this=_mod(quotients[-1].copy(), _n(2)), expression=_n(1)))), true=_n(1))], default=_n(0))
    rounded = _whole(exp.Add(this=whole, expression=up))
    unit = cast(lit("0." + "0" * (QUANTITY_SCALE - 1) + "1"), UNIT)
    magnitude = cast(exp.Paren(this=exp.Mul(this=cast(rounded, exp.DataType.build("DECIMAL(38, 0)")),
                                            expression=unit)), QUANTITY)
    opposite = exp.NEQ(this=exp.Paren(this=exp.LT(this=left.copy(), expression=lit(0))),
                       expression=exp.Paren(this=exp.LT(this=right.copy(), expression=lit(0))))
    signed = exp.Case(ifs=[exp.If(this=opposite, true=exp.Neg(this=part("m")))], default=part("m"))
    return [operands, [("m", magnitude)], [("", signed)]]
