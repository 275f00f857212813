"""The aggregation's result read back into Python, the same for every engine.

The query (`query.build_query`) returns rows (kind, window, meter, d0..,
quantity, events): aggregate rows, then counts by reason and the row counts.
DuckDB hands them over by columns (Arrow), Spark as rows; both end here.
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

from ..model import RatingPlan
from .records import Aggregate, Counts


class QueryResult(NamedTuple):
    """The query's result read back: aggregates in order, events by reason, counts."""

    aggregates: list[Aggregate]
    reasons: dict[str, int]
    counts: Counts


def read_result(plan: RatingPlan, rows, width: int) -> QueryResult:
    """Result rows (kind, window, meter, d0.., quantity, events) -> Python values."""
    rows = list(rows)
    columns = [list(c) for c in zip(*rows)] if rows else [[] for _ in range(width + 5)]
    return read_columns(plan, columns, width)


def read_columns(plan: RatingPlan, columns: list[list], width: int) -> QueryResult:
    """The result by columns (kind, window, meter, d0.., quantity, events) ->
    (aggregates, reasons, counts).

    The query sorts its rows, so aggregates arrive in their final order. This
    runs once per invoice line of the run, before pricing can start: it works
    a column at a time (comprehensions, no per-row branching), and the
    dimension tuples and quantities that repeat are built once.
    """
    kinds, windows, meters = columns[0], columns[1], columns[2]
    dim_columns, quantities, events = columns[3:3 + width], columns[3 + width], columns[4 + width]
    rated = columns[5 + width:]  # the engine's prices (`rating.RATED_COLUMNS`), when it priced
    agg = [i for i, kind in enumerate(kinds) if kind == "agg"]
    if len(agg) != len(kinds):  # counts rows are few; keep the aggregate rows only
        windows, meters = [windows[i] for i in agg], [meters[i] for i in agg]
        dim_columns = [[col[i] for i in agg] for col in dim_columns]
        quantities, events = [quantities[i] for i in agg], [events[i] for i in agg]
        rated = [[col[i] for i in agg] for col in rated]
    names = {m.name: m.dimension_names for m in plan.meters.values()}
    shapes: dict[tuple, tuple] = {}

    def dims_of(key: tuple) -> tuple:
        found = shapes.get(key)
        if found is None:
            found = shapes[key] = tuple(zip(names[key[0]], key[1:]))
        return found

    numbers: dict[str | None, Decimal] = {None: Decimal(0)}

    def number(text: str | None) -> Decimal:
        found = numbers.get(text)
        if found is None:
            found = numbers[text] = Decimal(text)
        return found

    dims = [dims_of(key) for key in zip(meters, *dim_columns)]
    if rated:
        prices = [None if row[0] is None else row for row in zip(*rated)]
        aggregates = list(map(Aggregate, windows, meters, dims, map(number, quantities), map(int, events), prices))
    else:
        aggregates = list(map(Aggregate, windows, meters, dims, map(number, quantities), map(int, events)))

    reasons: dict[str, int] = {}
    counts = Counts()
    for kind, meter, n in zip(kinds, columns[2], columns[4 + width]):
        if kind == "reason":
            reasons[meter] = reasons.get(meter, 0) + int(n)
        elif kind != "agg":
            setattr(counts, kind, getattr(counts, kind) + int(n))
    return QueryResult(aggregates, reasons, counts)
