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
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

from ..diagnostics import Diagnostic

# Why an event was not billed. Each event read lands in exactly one bucket.
REJECTION_REASONS = (
    "duplicate",          # same customer and id as an event already counted
    "bad_row",            # malformed, skipped with --skip-bad-rows
    "unknown_customer",   # no contract has this customer
    "outside_contract",   # the customer's contracts do not cover its time
    "not_yet_billable",   # in a contract period that has not ended by --through
    "no_meter",           # no meter reads its event type
    "filtered",           # meters read its type, but every `where` excludes it
    "not_in_plan",        # its meters are not charged by the contract's plan
)


@dataclass(frozen=True)
class ContractTerm:
    """A contract's customer and dates, for classifying events."""

    contract: str
    customer: str
    plan: str
    starts: dt.datetime          # UTC, inclusive
    ends: dt.datetime | None     # UTC, exclusive (None: open-ended)
    charged_meters: tuple[str, ...]


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
    events: int                  # events that contributed


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
