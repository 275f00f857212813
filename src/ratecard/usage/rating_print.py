"""The printed rating (`ratecard sql --priced`): the aggregation and its rating as one query.

There is no usage to take keys from, so billing resolves every key class
before any usage is seen (`engine_rating.EnginePrices.printed`); the price
relations go into the query as typed VALUES, and every row carries a
fingerprint of them (`rc_prices`) that `invoice --aggregates` checks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Sequence

from sqlglot import exp

from .rating_query import PriceTables, price_relations, priced_query

# The decimals of a quantity the printed query prices (a line with more is left to the
# Python pricer): it cannot look at the usage first, as `rate` does.
PRINTED_QUANTITY_SCALE = 9


@dataclass(frozen=True)
class PrintedRating:
    """The whole rating of a printed query, resolved by billing before any usage is seen
    (`engine_rating.EnginePrices.printed`): every key class (shape, meter, day, classes
    of the dimension values) with its price.

    named: meter -> per dimension, the values some rule or modifier of its layers names;
    every other value of that dimension resolves alike, as the one class `other`.
    """

    shapes: Sequence[tuple[str, str, int, bool]]
    tables: PriceTables
    named: dict[str, tuple[frozenset[str], ...]]
    other: str
    minor_units: int
    rounding: str


def _class_of(index: int, named: dict[str, tuple[frozenset[str], ...]], other: str) -> exp.Expression:
    """A line's value of dimension `index` as its key class: itself when a rule of its
    meter names it, else `other` (absent stays absent)."""
    value = exp.column(f"d{index}", "l")
    tests = [exp.and_(exp.EQ(this=exp.column("meter", "l"), expression=exp.Literal.string(meter)),
                      exp.In(this=value.copy(), expressions=[exp.Literal.string(v) for v in sorted(sets[index])]))
             for meter, sets in sorted(named.items()) if index < len(sets) and sets[index]]
    ifs = [exp.If(this=exp.Is(this=value.copy(), expression=exp.Null()), true=exp.Null())]
    if tests:
        ifs.append(exp.If(this=exp.or_(*tests) if len(tests) > 1 else tests[0], true=value.copy()))
    return exp.Case(ifs=ifs, default=exp.Literal.string(other))


def _values(columns: Sequence[tuple[str, str, list]]) -> exp.Select:
    """A relation as typed VALUES, every cell cast to its column's type (a decimal written
    as its exact text), typed even when empty (one row of NULLs, `WHERE FALSE`)."""
    from .sql import alias, cast, col, lit

    types = [(name, exp.DataType.build(kind)) for name, kind, _ in columns]

    def cell(value, kind: exp.DataType) -> exp.Expression:
        if isinstance(value, Decimal):
            value = format(value, "f")
        elif isinstance(value, dt.date):
            value = value.isoformat()
        elif value is not None:  # text, a whole number, a boolean: typed as the literal is
            return lit(value)
        return cast(lit(value), kind)

    rows = list(zip(*[values for _, _, values in columns]))
    cells = rows or [[None] * len(columns)]
    values = exp.values([tuple(cell(v, kind) for v, (_, kind) in zip(row, types)) for row in cells],
                        alias="v", columns=[exp.to_identifier(n, quoted=True) for n, _ in types])
    select = exp.select(*[alias(cast(col(n), kind), n) for n, kind in types]).from_(values)
    return select.where(exp.false()) if not rows else select


def _printed_parts(printed: PrintedRating, width: int, held: bool,
                   ctes: bool = True) -> tuple[exp.Select, str]:
    """The priced select with the price relations as its CTEs (no `rc_prices` column yet),
    and its fingerprint: `sha256:` + 16 hex digits of the select's DuckDB text and the
    relations' rows (their columns, types and values as text; cheaper than their SQL)."""
    import hashlib
    import json

    shapes = printed.shapes
    relations, rate_scale, exact_scale, bound_scale = price_relations(width, printed.tables)
    relations.insert(0, ("rc_shapes", [
        ("contract", "VARCHAR", [s[0] for s in shapes]), ("meter", "VARCHAR", [s[1] for s in shapes]),
        ("shape", "INTEGER", [s[2] for s in shapes]), ("dated", "BOOLEAN", [s[3] for s in shapes])]))
    exact_scale = max(exact_scale, PRINTED_QUANTITY_SCALE + rate_scale, printed.minor_units)
    classes = [_class_of(i, printed.named, printed.other) for i in range(width)]
    query = priced_query(width, PRINTED_QUANTITY_SCALE, exact_scale, printed.minor_units, printed.rounding,
                          held, classes, bound_scale)
    digest = hashlib.sha256(query.sql(dialect="duckdb").encode("utf-8"))
    digest.update(json.dumps([[name, [[c, kind, [None if v is None else str(v) for v in values]]
                                      for c, kind, values in columns]] for name, columns in relations],
                             separators=(",", ":")).encode("utf-8"))
    if ctes:
        query.set("with_", exp.With(expressions=[
            exp.CTE(this=_values(columns), alias=exp.TableAlias(this=exp.to_identifier(name)))
            for name, columns in relations]))
    return query, "sha256:" + digest.hexdigest()[:16]


def printed_fingerprint(printed: PrintedRating, width: int, held: bool) -> str:
    """What the printed rating prices with (`_printed_parts`); the `rc_prices` column carries it."""
    return _printed_parts(printed, width, held, ctes=False)[1]


# `rc_prices` of a result computed where a product of two DECIMAL(38, s) is rounded to fit
# (`printed_query(..., probed=True)`): `invoice --aggregates` refuses it (E504).
INEXACT = "inexact: decimal products rounded to fit (spark.sql.decimalOperations.allowPrecisionLoss)"


def _exact_products() -> exp.Expression:
    """TRUE where DECIMAL products are exact: 10^-18 x 10^-18, typed DECIMAL(38, 36), is
    10^-36; an engine that rounds a product to fit 38 digits (Spark with
    `allowPrecisionLoss`, which keeps 6 decimals here) makes it 0."""
    tiny = exp.cast(exp.Literal.string("0.000000000000000001"), exp.DataType.build("DECIMAL(38, 18)"))
    return exp.GT(this=exp.Mul(this=tiny, expression=tiny.copy()), expression=exp.Literal.number(0))


def printed_query(aggregation: exp.Select, printed: PrintedRating, width: int, held: bool,
                  probed: bool = False) -> exp.Select:
    """The aggregation and its rating as one query: the aggregation's CTEs, the aggregation
    itself as rc_result, the price relations as VALUES, then the priced select with the
    `rc_prices` fingerprint on every row. `aggregation` becomes part of it (not copied).

    `probed` (Spark, whose exactness rests on a session setting the query cannot set):
    `rc_prices` is the fingerprint only where the session computes products exactly,
    else `INEXACT`, which `invoice --aggregates` refuses -- never a figure rounded twice."""
    query, fingerprint = _printed_parts(printed, width, held)
    value: exp.Expression = exp.Literal.string(fingerprint)
    if probed:
        value = exp.Case(ifs=[exp.If(this=_exact_products(), true=value)], default=exp.Literal.string(INEXACT))
    query.select(exp.alias_(exp.cast(value, exp.DataType.build("VARCHAR")), "rc_prices"), copy=False)
    own = aggregation.args.get("with_")  # the aggregation is taken over, not copied
    aggregation.set("with_", None)
    result = exp.CTE(this=aggregation, alias=exp.TableAlias(this=exp.to_identifier("rc_result")))
    query.set("with_", exp.With(expressions=[*(own.expressions if own else []), result,
                                             *query.args["with_"].expressions]))
    return query
