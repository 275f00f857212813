"""`python_columns`: the engine's result as Python lists, the values `to_pylist` gives."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
from hypothesis import example, given
from hypothesis import strategies as st

from ratecard.usage.arrow_result import python_columns


def _same(a: list, b: list) -> bool:
    """Equal lists, each Decimal with the same sign, digits and exponent (what JSON writes)."""
    return len(a) == len(b) and all(
        (x is None and y is None) or (type(x) is type(y) and x == y and
                                      (not isinstance(x, Decimal) or x.as_tuple() == y.as_tuple()))
        for x, y in zip(a, b))


@st.composite
def decimal_columns(draw):
    scale = draw(st.integers(0, 18))
    precision = draw(st.sampled_from([38, 18, 10])) if scale <= 10 else 38
    digits = st.integers(-(10 ** (precision - 1)), 10 ** (precision - 1))
    values = draw(st.lists(st.one_of(st.none(), digits.map(lambda n: Decimal(n).scaleb(-scale))), max_size=30))
    return pa.chunked_array([pa.array(values[:len(values) // 2], pa.decimal128(precision, scale)),
                             pa.array(values[len(values) // 2:], pa.decimal128(precision, scale))])


@given(decimal_columns())
@example(pa.chunked_array([pa.array([Decimal("0.00"), Decimal("-1.50"), None, Decimal("0.00"), Decimal("12")],
                                    pa.decimal128(38, 2))]))
def test_decimal_columns_are_what_arrow_converts(column):
    table = pa.table({"d": column, "s": pa.array([str(i) for i in range(len(column))]),
                      "n": pa.array(list(range(len(column))), pa.int64())})
    converted = python_columns(table)
    assert all(_same(mine, theirs.to_pylist()) for mine, theirs in zip(converted, table.columns))


def test_an_empty_result():
    table = pa.table({"d": pa.array([], pa.decimal128(38, 10)), "s": pa.array([], pa.string())})
    assert python_columns(table) == [[], []]
