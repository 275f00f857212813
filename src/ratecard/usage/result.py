"""The aggregation's result read back into Python, the same for every engine.

The query (`query.build_query`) returns rows (kind, window, meter, d0..,
quantity, events): aggregate rows, then counts by reason and the row counts;
with a `weighted` meter, also `step` rows and the columns `held_from`,
`held_until`, whose pieces are integrated here (`held_aggregates`). DuckDB
hands them over by columns (Arrow), Spark as rows; both end here.
"""

from __future__ import annotations

from decimal import Decimal
from itertools import groupby, repeat
from operator import itemgetter
from typing import Iterable, NamedTuple

from ..model import RatingPlan
from .records import Aggregate, Counts
from .weighted import Piece, line_from_pieces


class QueryResult(NamedTuple):
    """The query's result read back: aggregates in order, events by reason, counts."""

    aggregates: list[Aggregate]
    reasons: dict[str, int]
    counts: Counts


def read_result(plan: RatingPlan, rows, width: int, rated_columns: int = 0) -> QueryResult:
    """Result rows (kind, window, meter, d0.., quantity, events) -> Python values; the
    last `rated_columns` the engine's prices (`read_columns`)."""
    rows = list(rows)
    columns = [list(c) for c in zip(*rows)] if rows else [[] for _ in range(width + 5 + rated_columns)]
    return read_columns(plan, columns, width, rated_columns)


def aggregate_order(a: Aggregate) -> tuple:
    """The order of aggregates: by window, meter, then dimension values (absent first), as
    the query sorts its rows and the reference aggregator sorts its own."""
    return a.window, a.meter, tuple((v is not None, v or "") for _, v in a.dimensions)


def held_aggregates(plan: RatingPlan, keys: Iterable[tuple], pieces: Iterable[Piece],
                    dims_of=None) -> list[Aggregate]:
    """The weighted lines of the pieces the query returned: `keys` (window, meter, d0..) and
    `pieces` side by side, row by row. Per line, the exact integral, rounded once
    (`weighted.line_from_pieces`); a line that does not exist is left out. `dims_of`
    makes a line's dimensions of (meter, d0..) (the reader's cached one).

    The hot path of a run with a weighted meter (a row per piece): the query sorts its
    rows by line, so they are taken a run of one line at a time (any order works), and
    dimensions and the meter's unit are worked out once per line."""
    lines: dict[tuple, list[Piece]] = {}
    for key, run in groupby(zip(keys, pieces), key=itemgetter(0)):
        found = lines.get(key)
        if found is None:
            lines[key] = [piece for _, piece in run]
        else:
            found.extend(piece for _, piece in run)
    if dims_of is None:
        names = {m.name: m.dimension_names for m in plan.meters.values()}

        def dims_of(key: tuple) -> tuple:
            return tuple(zip(names[key[0]], key[1:]))
    per = {m.name: m.aggregation.per for m in plan.meters.values()}
    out = []
    for (window, meter, *values), found in lines.items():
        found.sort()  # by time (the query's order but for reports at one instant)
        quantity = line_from_pieces(found, per[meter])
        if quantity is not None:
            out.append(Aggregate(window, meter, dims_of((meter, *values)), quantity,
                                 sum(reported for _, _, _, reported in found), tuple(found)))
    return out


def read_columns(plan: RatingPlan, columns: list[list], width: int, rated_columns: int = 0) -> QueryResult:
    """The result by columns (kind, window, meter, d0.., quantity, events) ->
    (aggregates, reasons, counts).

    The query sorts its rows, so aggregates arrive in their final order. This
    runs once per invoice line of the run, before pricing can start: it works
    a column at a time (comprehensions, no per-row branching), and the
    dimension tuples and quantities that repeat are built once. The last
    `rated_columns` columns, when there are any, are the engine's prices
    (`rating.RATED_COLUMNS`), after the `held_*` columns of a weighted meter.
    """
    kinds, windows, meters = columns[0], columns[1], columns[2]
    dim_columns, quantities, events = columns[3:3 + width], columns[3 + width], columns[4 + width]
    steps = [i for i, kind in enumerate(kinds) if kind == "step"]
    held_columns = columns[5 + width:7 + width] if steps else []
    rated = columns[len(columns) - rated_columns:] if rated_columns else []  # the engine's prices
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
        aggregates = list(map(Aggregate, windows, meters, dims, map(number, quantities), map(int, events),
                              repeat((), len(prices)), prices))
    else:
        aggregates = list(map(Aggregate, windows, meters, dims, map(number, quantities), map(int, events)))
    if steps:
        def picked(column: list) -> list:
            return [column[i] for i in steps]

        keys = zip(*map(picked, columns[1:3 + width]))
        # (values as Decimal directly: they vary from piece to piece, a cache would not pay)
        pieces = zip(*map(picked, held_columns), map(Decimal, picked(columns[3 + width])),
                     [n == 1 for n in picked(columns[4 + width])])
        aggregates += held_aggregates(plan, keys, pieces, dims_of)
        aggregates.sort(key=aggregate_order)

    reasons: dict[str, int] = {}
    counts = Counts()
    for kind, meter, n in zip(kinds, columns[2], columns[4 + width]):
        if kind == "reason":
            reasons[meter] = reasons.get(meter, 0) + int(n)
        elif kind not in ("agg", "step"):
            setattr(counts, kind, getattr(counts, kind) + int(n))
    return QueryResult(aggregates, reasons, counts)
