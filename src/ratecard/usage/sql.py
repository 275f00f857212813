"""sqlglot building blocks for the usage query, and the SQL twins of `rows`' number rules.

Nothing here pastes text into SQL: names become identifiers and values
become literals through sqlglot, which quotes them for the target dialect.
`number_text`, `plain_number`, `strip_zeros` and `exponent_quantity` are
`rows`' functions of the same names, step for step, so every engine reads a
number's text as the row reader does.
"""

from __future__ import annotations

import functools

from sqlglot import exp

from .rows import EXPONENT_PATTERN, QUANTITY_DIGITS, QUANTITY_SCALE


QUANTITY = exp.DataType.build(f"DECIMAL({QUANTITY_DIGITS}, {QUANTITY_SCALE})")
# An operand of `+`/`-` in a derived quantity: one digit less, so the sum is a QUANTITY.
OPERAND = exp.DataType.build(f"DECIMAL({QUANTITY_DIGITS - 1}, {QUANTITY_SCALE})")
TEXT = exp.DataType.build("VARCHAR")
STAMP = exp.DataType.build("TIMESTAMPTZ")
INT = exp.DataType.build("INT")
NUMERIC_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                 "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL", "REAL"}




def col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table, quoted=True)


def lit(value) -> exp.Expression:
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int):
        return exp.Literal.number(value)
    return exp.Literal.string(str(value))


def fn(name: str, *args) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def cast(e: exp.Expression, to: exp.DataType, safe: bool = False) -> exp.Expression:
    return exp.TryCast(this=e, to=to.copy()) if safe else exp.Cast(this=e, to=to.copy())


def alias(e: exp.Expression, name: str) -> exp.Alias:
    return exp.alias_(e, name, quoted=True, copy=False)


# The builders below take their operands as they are, never a deep copy: every
# expression of the usage query is built fresh for the one place it goes (a node
# wanted twice is `.copy()`-ed where it is reused), and copying the operands at
# every step cost more than a second per run on a query with a derived quotient.
# tests/test_query_structure.py holds the built trees to it (no node in two places).


def and_(*parts: exp.Expression) -> exp.Expression:
    return exp.and_(*parts, copy=False)


def or_(*parts: exp.Expression) -> exp.Expression:
    return exp.or_(*parts, copy=False)


def index(items: exp.Expression, i: int) -> exp.Expression:
    """items[i], 1-based (DuckDB lists)."""
    return exp.Bracket(this=items.copy(), expressions=[exp.Literal.number(i)], offset=1)


def like(text: exp.Expression, pattern: str) -> exp.Expression:
    return exp.Like(this=text.copy(), expression=lit(pattern))


def regex(text: exp.Expression, pattern: str) -> exp.Expression:
    return exp.RegexpLike(this=text.copy(), expression=lit(pattern))


def _has_exponent(text: exp.Expression) -> exp.Expression:
    """Cheap first: `e` in the text at all, then the whole exponent form (a CASE:
    DuckDB evaluates both sides of an AND for every row)."""
    return exp.Case(ifs=[exp.If(this=or_(like(text, "%e%"), like(text, "%E%")),
                                true=regex(text, EXPONENT_PATTERN))], default=exp.false())


def _concat(*parts: exp.Expression) -> exp.Expression:
    return exp.DPipe(this=parts[0], expression=_concat(*parts[1:])) if len(parts) > 1 else parts[0]


def _lambda(name: str, body: exp.Expression) -> exp.Lambda:
    return exp.Lambda(this=body, expressions=[exp.to_identifier(name)])


def let(value: exp.Expression, name: str, body: exp.Expression) -> exp.Expression:
    """`body` with `name` bound to `value`, computed once (DuckDB: a one-element list
    transformed by a lambda): keeps an expression that reads `value` often small."""
    return index(fn("list_transform", exp.Array(expressions=[value]), _lambda(name, body)), 1)


def _field(name: str, field: str) -> exp.Expression:
    return exp.Dot(this=exp.column(name), expression=exp.to_identifier(field))


def _struct(**fields: exp.Expression) -> exp.Expression:
    return exp.Struct(expressions=[exp.PropertyEQ(this=exp.to_identifier(k), expression=v)
                                   for k, v in fields.items()])


def plain_number(text: exp.Expression, checked: bool = False) -> exp.Expression:
    """The DuckDB twin of `rows.plain_number`, step for step: `1.5e3` -> `1500`; text
    without an exponent (of one to three digits) is left as it is. `checked`: the
    caller has matched `text` against the exponent form already (`number_text`), so
    the point is moved without asking again. Each intermediate value is bound once
    (`let`): the expression names `text` once or, unchecked, three times more."""
    parts = exp.RegexpExtract(this=text.copy(), expression=lit(r"^([+-]?)([0-9]*)[.]?([0-9]*)[eE]([+-]?[0-9]+)$"),
                              group=exp.Array(expressions=[lit("s"), lit("i"), lit("f"), lit("x")]))
    digits, point, size = _field("q", "d"), _field("q", "pt"), exp.Length(this=_field("q", "d"))
    body = exp.Case(ifs=[
        exp.If(this=exp.LTE(this=point.copy(), expression=exp.Literal.number(0)),
               true=_concat(lit("0."), exp.Pad(this=digits.copy(), expression=cast(exp.Sub(
                   this=size.copy(), expression=point.copy()), INT), fill_pattern=lit("0"), is_left=True))),
        exp.If(this=exp.GTE(this=point.copy(), expression=size.copy()),
               true=exp.Pad(this=digits.copy(), expression=cast(point.copy(), INT), fill_pattern=lit("0"),
                            is_left=False)),
    ], default=_concat(exp.Substring(this=digits.copy(), start=exp.Literal.number(1), length=point.copy()), lit("."),
                       exp.Substring(this=digits.copy(), start=exp.Add(this=point.copy(),
                                                                       expression=exp.Literal.number(1)))))
    moved = let(_struct(s=_field("p", "s"), d=_concat(_field("p", "i"), _field("p", "f")),
                         pt=exp.Add(this=exp.Length(this=_field("p", "i")), expression=cast(_field("p", "x"), INT))),
                 "q", _concat(_field("q", "s"), exp.Paren(this=body)))
    if checked:
        return let(parts, "p", moved)
    return exp.Case(ifs=[exp.If(this=_has_exponent(text), true=let(parts, "p", moved))], default=text.copy())


def zero(text: exp.Expression) -> exp.Expression:
    return exp.Case(ifs=[exp.If(this=exp.In(this=text.copy(), expressions=[lit("-0"), lit("+0")]),
                                true=lit("0"))], default=text)


def strip_zeros(text: exp.Expression) -> exp.Expression:
    """`2.0` -> `2`, `1.50` -> `1.5`, `-0.0` -> `0` (text without an exponent). Only text
    that ends in a storage zero or a point is trimmed: trimming copies the text."""
    stripped = exp.func("RTRIM", exp.func("RTRIM", text.copy(), lit("0")), lit("."))
    ends = or_(like(text, "%.%0"), like(text, "%."))
    return exp.Case(ifs=[exp.If(this=ends, true=zero(stripped))], default=text.copy())


def fast_number_text(text: exp.Expression) -> exp.Expression:
    """`number_text` (the macro) called only for text with an `e` in it: plain numbers,
    nearly all of them, are only stripped of storage zeros."""
    exponent = or_(like(text, "%e%"), like(text, "%E%"))
    return exp.Case(ifs=[exp.If(this=exponent, true=fn(NUMBER_TEXT, text.copy()))], default=strip_zeros(text))


def number_text(text: exp.Expression) -> exp.Expression:
    """The DuckDB twin of `rows.number_text`: a number's text as rules and dimensions
    compare it (the plain decimal, no storage zeros, zero as "0"). The written-out
    number, its sign and its digits are each bound once (`let`), so `text` is named
    only by the tests that pick the branch and the branches themselves."""
    sign = exp.Left(this=col("n"), expression=exp.Literal.number(1))
    signed = exp.In(this=sign, expressions=[lit("+"), lit("-")])
    body = exp.func("LTRIM", exp.func("LTRIM", col("n"), lit("+-")), lit("0"))
    leading = let(body, "b", exp.Case(ifs=[exp.If(this=or_(exp.EQ(this=col("b"), expression=lit("")),
                                                                  like(col("b"), ".%")),
                                                   true=_concat(lit("0"), col("b")))], default=col("b")))
    written_out = let(plain_number(text, checked=True), "n", _concat(
        exp.Case(ifs=[exp.If(this=signed, true=sign.copy())], default=lit("")), leading))
    canonical = let(written_out, "w", let(strip_zeros(col("w")), "z", zero(col("z"))))
    return exp.Case(ifs=[exp.If(this=_has_exponent(text), true=canonical),
                         exp.If(this=like(text, "%.%"), true=strip_zeros(text))],
                    default=text.copy())


# `number_text` as a DuckDB macro the readers call (`macros`): the expression is
# large, and a call keeps the query small to build, print and bind.
NUMBER_TEXT = "rc_number_text"


@functools.cache
def _macro_statements() -> tuple[str, ...]:
    body = number_text(exp.column("text")).sql(dialect="duckdb")
    return (f"CREATE OR REPLACE TEMPORARY MACRO {NUMBER_TEXT}(text) AS {body}",)


def macros() -> list[str]:
    """The statements that define the macros the DuckDB readers call, for `duckdb.connect`
    (built once per process: the text never changes)."""
    return list(_macro_statements())


def exponent_quantity(text: exp.Expression) -> exp.Expression:
    """A quantity written with an exponent that DECIMAL(38, 18) holds exactly (the
    twin of `rows.exponent_quantity`, in SQL every dialect runs): at most 18 decimal
    places and 20 integer digits once written out, computed from the digits."""
    w = exp.Lower(this=text.copy())
    mantissa = exp.SplitPart(this=w, delimiter=lit("e"), part_index=exp.Literal.number(1))
    exponent = cast(exp.SplitPart(this=w.copy(), delimiter=lit("e"), part_index=exp.Literal.number(2)), INT)
    fraction = exp.Length(this=exp.SplitPart(this=mantissa.copy(), delimiter=lit("."),
                                             part_index=exp.Literal.number(2)))
    significant = exp.Length(this=exp.func("LTRIM", exp.func("REPLACE", exp.func("LTRIM", mantissa.copy(), lit("+-")),
                                                             lit("."), lit("")), lit("0")))
    places = exp.Sub(this=fraction.copy(), expression=exponent.copy())
    integer = exp.Add(this=exp.Sub(this=significant, expression=fraction.copy()), expression=exponent.copy())
    fits = and_(exp.LTE(this=places, expression=exp.Literal.number(QUANTITY_SCALE)),
                    exp.LTE(this=integer, expression=exp.Literal.number(QUANTITY_DIGITS - QUANTITY_SCALE)))
    return exp.Case(ifs=[exp.If(this=_has_exponent(text), true=exp.Paren(this=fits))], default=exp.false())
