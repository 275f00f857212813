"""What the usage stage takes in and hands out (no DuckDB types cross this line).

Billing decides *which* windows are billable (contract periods that ended by
`--through`, possibly split at effective-date changes); the usage stage
assigns each event to at most one window and aggregates per
(window, meter, dimension values). Every event read is accounted for: billed,
or counted under exactly one rejection reason.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, NamedTuple, Sequence

from ..diagnostics import Diagnostic, Span, error
from ..io import write_atomic

if TYPE_CHECKING:
    from .weighted import Piece

# The warehouses `ratecard sql` writes the usage query for, and how their events
# table may store `time` (here, not in `warehouse`, so that the command line can
# offer them without importing the query builder).
DIALECTS = ("duckdb", "spark", "clickhouse", "bigquery", "snowflake", "postgres")
TIME_TYPES = ("text", "timestamp")

# Why an event was not billed. Each event read lands in exactly one bucket.
REJECTION_REASONS = (
    "duplicate",          # same customer and id as an event already counted
    "bad_row",            # malformed, skipped with --skip-bad-rows
    "unknown_customer",   # no contract has this customer
    "outside_contract",   # the customer's contracts do not cover its time
    "not_yet_billable",   # in a contract period that has not ended by --through
    "no_meter",           # no meter reads its event type
    "filtered",           # meters read its type, but every `where` excludes it
    "not_in_plan",        # its meters are not charged by the plan in effect at its time
)


@dataclass(frozen=True)
class ContractTerm:
    """A stretch of a contract's time over which one set of meters is billable: its customer,
    dates, and the meters the plan in effect charges, for classifying events.

    A contract that changes plan (`plan NAME from DATE`) to one that charges other meters
    has a term per stretch, in time order; they tile the contract's dates, so an event
    falls in at most one. An event is billable when its term's plan charges a meter that
    reads it, and `not_in_plan` otherwise: billability follows the plan in effect at the
    event's time, never the contract's first plan alone. (Stretches whose plans charge the
    same meters are one term, named by the first plan: they bill the same events.)
    """

    contract: str
    customer: str
    plan: str                    # the plan in effect from `starts` (see above)
    starts: dt.datetime          # UTC, inclusive
    ends: dt.datetime | None     # UTC, exclusive (None: open-ended)
    charged_meters: tuple[str, ...]  # the meters that plan charges


@dataclass(frozen=True)
class Window:
    """A billable slice of one contract's time: [start, end), UTC.

    Windows with `meter=None` are the contract's billing periods: they decide
    whether an event is billable at all. A window with a meter is a *segment*
    of a period for that meter only (a rate change inside the period splits
    it): the meter's events inside a segment are aggregated under the
    segment's key instead of the period's. Segments of one meter never overlap.
    """

    key: str                     # unique, e.g. "acme@2026-01-01"
    contract: str
    start: dt.datetime
    end: dt.datetime
    meter: str | None = None


class Aggregate(NamedTuple):
    """One usage line before pricing: a meter's quantity in one window.

    A named tuple: a large run hands hundreds of thousands of these from the
    engine to billing, and a tuple is built several times faster than a
    frozen dataclass.
    """

    window: str                  # Window.key
    meter: str
    dimensions: tuple[tuple[str, str | None], ...]  # in the meter's dimension order; None: absent
    quantity: Decimal
    events: int                  # events that contributed (a weighted line: its reports inside the window)
    # A `weighted` line's step function over its window, in time order (`weighted.Piece`):
    # what its quantity was integrated from, for `explain` and for adding segments
    # back into one line exactly. Empty for every other meter.
    held: tuple["Piece", ...] = ()
    # the engine's figures when it priced the line (`rating.RATED_COLUMNS`); None: billing
    # prices it in Python (always so for a weighted line: its quantity is integrated in Python)
    rated: tuple | None = None


@dataclass(frozen=True)
class BadRow:
    file: str
    line: int                    # 1-based physical line (JSONL/CSV) or row (Parquet)
    reason: str
    text: str = ""               # the raw row, when available


@dataclass
class UsageReport:
    aggregates: list[Aggregate] = field(default_factory=list)
    events_read: int = 0
    billed: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    bad_rows: list[BadRow] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def reconciles(self) -> bool:
        return self.events_read == self.billed + sum(self.rejected.values())


@dataclass
class Counts:
    """The query's own counts: rows read, rows failing the row checks, events left
    after dedup (duplicates = read - bad - kept)."""

    read: int = 0
    bad: int = 0
    kept: int = 0


def fill_report(report: UsageReport, aggregates, reasons: dict[str, int], counts: Counts,
                bad_rows: int) -> UsageReport:
    """`report` with an engine's result: the aggregates, and every event read in
    exactly one bucket (`bad_rows` set aside with --skip-bad-rows)."""
    report.aggregates = aggregates
    report.events_read = counts.read + bad_rows
    report.billed = reasons.pop("billed", 0)
    for reason, n in reasons.items():
        report.rejected[reason] = report.rejected.get(reason, 0) + n
    report.rejected["duplicate"] = counts.read - counts.bad - counts.kept
    report.rejected["bad_row"] = bad_rows
    return report


# Past this many bad rows, one diagnostic says how many more there are.
MAX_ROW_DIAGNOSTICS = 1000


def bad_row_diagnostics(bad: Sequence[BadRow]) -> list[Diagnostic]:
    """An E500 per bad row (the first `MAX_ROW_DIAGNOSTICS`), naming its file and line:
    what every engine, and the reference aggregator, says about bad rows."""
    shown = []
    for b in bad[:MAX_ROW_DIAGNOSTICS]:
        hints = [f"the row: {b.text[:120]}{'...' if len(b.text) > 120 else ''}"] if b.text else []
        hints.append("fix the row, or pass `--skip-bad-rows FILE` to set bad rows aside and bill the rest")
        shown.append(error("E500", f"bad usage row at {b.file}:{b.line}: {b.reason}", Span(b.file, b.line, 1, b.line, 2),
                           hints=hints))
    if len(bad) > MAX_ROW_DIAGNOSTICS:
        shown.append(error("E500", f"{len(bad) - MAX_ROW_DIAGNOSTICS} more bad usage rows not shown"))
    return shown


def write_bad_rows(path: str, bad: Sequence[BadRow]) -> None:
    """The `--skip-bad-rows` file: one JSON object per bad row (file, line, reason, row)."""
    lines = [json.dumps({"file": b.file, "line": b.line, "reason": b.reason, "row": b.text},
                        ensure_ascii=False) for b in bad]
    write_atomic(path, "".join(line + "\n" for line in lines))


# ----------------------------------------------------------------- the engine's memory

# Below this DuckDB cannot hold even the query's own read buffers: a smaller
# limit fails every run, so it is refused where it enters (`--memory-limit`).
MIN_MEMORY_BYTES = 64 * 2**20


def size_bytes(text: str | None) -> int | None:
    """`1GB`, `512 MiB`, `2.5GB` -> bytes, as DuckDB reads a memory limit; None if unreadable."""
    m = re.fullmatch(r"\s*([0-9]+(?:[.][0-9]+)?)\s*([kmgt]i?b|b|bytes)?\s*", text or "", re.IGNORECASE)
    if m is None:
        return None
    unit = (m.group(2) or "b").lower()
    scale = {"b": 1, "bytes": 1}.get(unit) or (1024 if "i" in unit else 1000) ** ("kmgt".index(unit[0]) + 1)
    return int(Decimal(m.group(1)) * scale)


def memory_limit_problem(text: str | None) -> str | None:
    """Why `text` cannot be the usage engine's memory limit (None: it can, or no limit)."""
    if text is None:
        return None
    size = size_bytes(text)
    if size is None:
        return f"`{text}` is not a memory size (e.g. 2GB, 512MiB)"
    if size < MIN_MEMORY_BYTES:
        return f"`{text}` is below the 64MiB the usage engine needs at least (e.g. 2GB)"
    return None


def memory_limit_arg(text: str) -> str:
    """argparse `type` of `--memory-limit`: a bad size is a usage error (exit 2)."""
    problem = memory_limit_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return text
