"""The aggregation's result kept in the engine's columns (Arrow) until billing reads it,
one range of contracts at a time, in the process that prices them.

A large JSON run prices its contracts in several processes (`billing.parallel`).
Reading every aggregate into Python (`arrow_result.python_columns`, then
`result.read_columns`) before they fork is work on one core that the forked
processes then inherit, half of it for the other process: ~0.45 s of the
1M-event run (~0.8 s with `--price-in engine`, whose rated columns are read
too). Kept as the table, each process reads the rows of its own contracts'
windows (`for_windows`), into the same `Aggregate`s in the same order, and
billing balances its ranges on the rows per window (`window_counts`) without
reading any row into Python.

Only a result without `step` rows (no `weighted` meter) is kept so: a weighted
line is integrated from pieces across rows (`result.held_aggregates`). Anything
else that reads the aggregates (iterating, indexing, comparing) reads all of
them once, as `read_columns` does.
"""

from __future__ import annotations

import array
from collections import Counter
from collections.abc import Sequence
from typing import Collection

from ..model import RatingPlan
from .arrow_result import python_columns
from .records import Aggregate
from .result import QueryResult, read_columns


def column_result(plan: RatingPlan, table, width: int, rated_columns: int = 0) -> QueryResult:
    """`read_columns` of the table's rows, with the aggregates kept as columns
    (`ColumnAggregates`) when there are no `step` rows; the counts read at once."""
    kinds = table.column(0).to_pylist()
    if "step" in kinds:
        return read_columns(plan, python_columns(table), width, rated_columns)
    others = [i for i, kind in enumerate(kinds) if kind != "agg"]  # the count rows: few
    counted = read_columns(plan, python_columns(_slices(table, [(i, i + 1) for i in others])), width,
                           rated_columns)
    return QueryResult(ColumnAggregates(plan, table, width, rated_columns, others), counted.reasons,
                       counted.counts)


def _slices(table, spans: list[tuple[int, int]]):
    """The rows of `spans` ((start, stop) pairs, in order) as one table, without copying them."""
    import pyarrow as pa

    return pa.concat_tables([table.slice(start, stop - start) for start, stop in spans]) if spans \
        else table.slice(0, 0)


def _indices(rows: list[int]):
    """Row numbers as an Arrow int64 array, made from their buffer: `pa.array` of Python values
    imports pandas where it is installed (~0.15 s), as does any compute function handed a
    Python value."""
    import pyarrow as pa

    return pa.Array.from_buffers(pa.int64(), len(rows), [None, pa.py_buffer(array.array("q", rows))])


class ColumnAggregates(Sequence):
    """The `agg` rows of a result (a table without `step` rows; `others` are the numbers of
    its other rows) as a sequence of `Aggregate`s, read into Python when asked: the rows of
    some windows (`for_windows`), or all of them (any other use, once)."""

    def __init__(self, plan: RatingPlan, table, width: int, rated_columns: int, others: list[int]):
        self.plan, self.table, self.width, self.rated_columns = plan, table, width, rated_columns
        self.others = others
        self._all: list[Aggregate] | None = None
        self._windows: list[str | None] | None = None

    def _read(self, table) -> list[Aggregate]:
        return read_columns(self.plan, python_columns(table), self.width, self.rated_columns).aggregates

    @property
    def aggregates(self) -> list[Aggregate]:
        """Every aggregate, in the result's order (read once)."""
        if self._all is None:
            bounds = zip([-1, *self.others], [*self.others, self.table.num_rows])
            self._all = self._read(_slices(self.table, [(a + 1, b) for a, b in bounds if b > a + 1]))
        return self._all

    @property
    def windows(self) -> list[str | None]:
        """Each row's window (None on the other rows), read once."""
        if self._windows is None:
            self._windows = self.table.column(1).to_pylist()
            for i in self.others:
                self._windows[i] = None
        return self._windows

    def window_counts(self) -> dict[str, int]:
        """The number of aggregates of each window."""
        counts = Counter(self.windows)
        counts.pop(None, None)
        return dict(counts)

    def for_windows(self, keys: Collection[str]) -> list[Aggregate]:
        """The aggregates of the windows `keys`, in the result's order: each `Aggregate`
        equal to the one reading them all gives."""
        wanted = set(keys)
        if self._all is not None:
            return [a for a in self._all if a.window in wanted]
        rows = [i for i, window in enumerate(self.windows) if window in wanted]
        return self._read(self.table.take(_indices(rows)))

    def __len__(self) -> int:
        return self.table.num_rows - len(self.others)  # one aggregate per `agg` row

    def __getitem__(self, index):
        return self.aggregates[index]

    def __iter__(self):
        return iter(self.aggregates)

    def __eq__(self, other) -> bool:
        return isinstance(other, Sequence) and self.aggregates == list(other)

    __hash__ = None  # type: ignore[assignment]  # a mutable sequence's equality

    def __repr__(self) -> str:
        return f"ColumnAggregates({self.aggregates!r})"
