"""Billing periods anchored at the contract start, in UTC.

Monthly periods start on the contract's day of the month, clamped to the
month's last day (a contract starting Jan 31 has periods starting Feb 28,
Mar 31, Apr 30, ...): each start is computed from the anchor, never from the
previous clamped start, so one short month does not drift every later one.
A contract's `ends` (inclusive) cuts the last period short; that period is
billed with its fees and minimum prorated by days.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
from dataclasses import dataclass
from decimal import Decimal

from ..model import CYCLE_MONTHS, Contract
from ..money import EXACT

UTC = dt.timezone.utc


def add_months(anchor: dt.date, months: int) -> dt.date:
    """`anchor` moved by whole months, its day clamped to the target month's length."""
    index = anchor.year * 12 + (anchor.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    day = min(anchor.day, calendar.monthrange(year, month)[1])
    return dt.date(year, month, day)


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=UTC)


@dataclass(frozen=True)
class Period:
    """One billing period `[start, end)`; `full_end` is where it would end uncut."""

    contract: str
    index: int
    start: dt.date
    end: dt.date
    full_end: dt.date
    months: int  # the cycle's length in months

    @property
    def key(self) -> str:
        return f"{self.contract}@{self.start.isoformat()}"

    @property
    def proration(self) -> Decimal:
        """1 for a whole period; days billed / days in the uncut period otherwise."""
        if self.end == self.full_end:
            return Decimal(1)
        return Decimal((self.end - self.start).days) / Decimal((self.full_end - self.start).days)

    def share(self, amount: Decimal, numerator: int = 1, denominator: int = 1) -> Decimal:
        """`amount x numerator/denominator x proration`, with one exact division last.

        Dividing first would round 7/30 to 28 digits and could push an amount
        that lands exactly on a half cent (21.45 x 7/30 = 5.005) below it.
        """
        days, full = (self.end - self.start).days, (self.full_end - self.start).days
        top = amount * numerator * (days if self.is_partial else 1)
        bottom = denominator * (full if self.is_partial else 1)
        return EXACT.divide(top, Decimal(bottom))

    @property
    def is_partial(self) -> bool:
        return self.end != self.full_end


def periods(contract: Contract, through: dt.date) -> list[Period]:
    """Every period of `contract` that has ended on or before `through`."""
    months = CYCLE_MONTHS[contract.billing]
    return [Period(contract.name, k, start, end, full_end, months)
            for k, start, end, full_end in _bounds(contract.starts, contract.end_exclusive, months, through)]


@functools.lru_cache(maxsize=4096)
def _bounds(starts: dt.date, stop: dt.date | None, months: int,
            through: dt.date) -> tuple[tuple[int, dt.date, dt.date, dt.date], ...]:
    """(index, start, end, full end) of each period; contracts that start on the same
    day with the same cycle share them (ten thousand contracts, a handful of calendars)."""
    out = []
    k = 0
    while True:
        start = add_months(starts, k * months)
        if stop is not None and start >= stop:
            break
        full_end = add_months(starts, (k + 1) * months)
        end = min(full_end, stop) if stop is not None else full_end
        if end > through:
            break
        out.append((k, start, end, full_end))
        k += 1
    return tuple(out)


def last_period_start_before(contract: Contract, instant: dt.datetime | None) -> dt.date | None:
    """Start of the contract's last period that begins before `instant` (None: no bound).

    A credit grant can burn invoices up to and including that period; once it
    has been invoiced, whatever is left of the grant is breakage. An
    open-ended contract with a grant that never expires has no such period.
    """
    stop = contract.end_exclusive
    if instant is None and stop is None:
        return None
    months = CYCLE_MONTHS[contract.billing]
    last = None
    k = 0
    while True:
        start = add_months(contract.starts, k * months)
        if stop is not None and start >= stop:
            break
        if instant is not None and midnight(start) >= instant:
            break
        last = start
        k += 1
    return last
