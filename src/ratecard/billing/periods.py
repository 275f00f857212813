"""Billing periods anchored at the contract start, in UTC.

Monthly periods start on the contract's day of the month, clamped to the
month's last day (a contract starting Jan 31 has periods starting Feb 28,
Mar 31, Apr 30, ...): each start is computed from the anchor, never from the
previous clamped start, so one short month does not drift every later one.
A contract's `ends` (inclusive) cuts the last period short; that period is
billed with its fees and minimum prorated by days.

Dates are Python dates, which end on 9999-12-31. A period that would end
after that has not ended by any date a run can bill through, so period
generation stops there instead of failing: every contract start and every
`--through` a user can pass gives periods, never an overflow. `--through`
itself is bounded where it enters (`LAST_THROUGH`), so that what follows a
billed period (its invoice's due date, `payment net N` days after its end)
stays inside the calendar too.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from ..limits import LAST_DATE
from ..model import CYCLE_MONTHS, Contract
from ..money import EXACT


# The latest `--through` a run accepts: the end of the year after the last date a
# pricing project may state (`limits.LAST_DATE`), so the last period of a contract
# that ends on that date can be billed, and every billed period's due date (its
# end + the payment terms, bounded by the compiler) is a date too. Periods
# themselves are safe up to `dt.date.max`.
LAST_THROUGH = dt.date(LAST_DATE.year + 1, 12, 31)


class BeyondCalendar(OverflowError):
    """A date after 9999-12-31 (or before year 1): no period starts or ends there."""


def add_months(anchor: dt.date, months: int) -> dt.date:
    """`anchor` moved by whole months, its day clamped to the target month's length.

    Raises `BeyondCalendar` when that month is outside years 1-9999."""
    index = anchor.year * 12 + (anchor.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    if not dt.MINYEAR <= year <= dt.MAXYEAR:
        raise BeyondCalendar(f"{anchor} + {months} months is outside the calendar")
    day = min(anchor.day, calendar.monthrange(year, month)[1])
    return dt.date(year, month, day)


def _month_or_none(anchor: dt.date, months: int) -> dt.date | None:
    """`add_months`, with None for a date after the calendar's end (it never comes)."""
    try:
        return add_months(anchor, months)
    except BeyondCalendar:
        return None


_GREGORIAN_CYCLE = (400, 146_097)  # 400 years of the Gregorian calendar are exactly this many days


def _ordinal_after(anchor: dt.date, months: int) -> int:
    """The day number (`date.toordinal()`) of `add_months(anchor, months)`, also past
    9999-12-31: how long a period is that would end there (a contract whose `ends`
    cuts the last period of year 9999 short is prorated over the period's true length)."""
    index = anchor.year * 12 + (anchor.month - 1) + months
    year, month = divmod(index, 12)
    shift = 0
    while year > dt.MAXYEAR:
        year -= _GREGORIAN_CYCLE[0]
        shift += _GREGORIAN_CYCLE[1]
    day = min(anchor.day, calendar.monthrange(year, month + 1)[1])
    return dt.date(year, month + 1, day).toordinal() + shift


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


@dataclass(frozen=True)
class Period:
    """One billing period `[start, end)`; `full_days` is how long it would be uncut."""

    contract: str
    index: int
    start: dt.date
    end: dt.date
    full_days: int
    months: int  # the cycle's length in months

    @property
    def key(self) -> str:
        return f"{self.contract}@{self.start.isoformat()}"

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def proration(self) -> Decimal:
        """1 for a whole period; days billed / days in the uncut period otherwise."""
        if not self.is_partial:
            return Decimal(1)
        return Decimal(self.days) / Decimal(self.full_days)

    def fraction(self, numerator: int = 1, denominator: int = 1) -> Fraction:
        """`numerator/denominator x proration`, exactly: how much of a fee a line bills."""
        if self.is_partial:
            return Fraction(numerator * self.days, denominator * self.full_days)
        return Fraction(numerator, denominator)

    def share(self, amount: Decimal, numerator: int = 1, denominator: int = 1) -> Decimal:
        """`amount x numerator/denominator x proration`, with one exact division last.

        Dividing first would round 7/30 to 28 digits and could push an amount
        that lands exactly on a half cent (21.45 x 7/30 = 5.005) below it.
        """
        part = self.fraction(numerator, denominator)
        return EXACT.divide(EXACT.multiply(amount, Decimal(part.numerator)), Decimal(part.denominator))

    @property
    def is_partial(self) -> bool:
        return self.days != self.full_days


def periods(contract: Contract, through: dt.date) -> list[Period]:
    """Every period of `contract` that has ended on or before `through`."""
    months = CYCLE_MONTHS[contract.billing]
    return [Period(contract.name, k, start, end, full_days, months)
            for k, start, end, full_days in _bounds(contract.starts, contract.end_exclusive, months, through)]


@functools.lru_cache(maxsize=4096)
def _bounds(starts: dt.date, stop: dt.date | None, months: int,
            through: dt.date) -> tuple[tuple[int, dt.date, dt.date, int], ...]:
    """(index, start, end, full length in days) of each period; contracts that start on
    the same day with the same cycle share them (ten thousand contracts, a handful of
    calendars). Stops at the first period that has not ended by `through`, or that
    would end after 9999-12-31 without `ends` cutting it short (it never ends)."""
    out = []
    k = 0
    start = starts
    while stop is None or start < stop:
        full_end = _month_or_none(starts, (k + 1) * months)
        if full_end is None:
            if stop is None:
                break
            full_days = _ordinal_after(starts, (k + 1) * months) - start.toordinal()
            end = stop
        else:
            full_days = (full_end - start).days
            end = min(full_end, stop) if stop is not None else full_end
        if end > through:
            break
        out.append((k, start, end, full_days))
        if full_end is None:
            break
        start = full_end
        k += 1
    return tuple(out)


def last_period_start_before(contract: Contract, instant: dt.datetime | None) -> dt.date | None:
    """Start of the contract's last period that begins before `instant` (None: no bound).

    A credit grant can burn invoices up to and including that period; once it
    has been invoiced, whatever is left of the grant is breakage. An
    open-ended contract with a grant that never expires has no such period.
    Found by bisection over the period index (period starts grow with it), so a
    grant expiring in year 9999 costs a few steps, not a walk through every period.
    """
    stop = contract.end_exclusive
    if instant is None and stop is None:
        return None
    months = CYCLE_MONTHS[contract.billing]

    def begins_in_time(k: int) -> bool:
        start = _month_or_none(contract.starts, k * months)
        return (start is not None and (stop is None or start < stop)
                and (instant is None or midnight(start) < instant))

    if not begins_in_time(0):
        return None
    low, high = 0, (dt.MAXYEAR - contract.starts.year + 1) * 12 // months + 1  # begins_in_time(high) is False
    while high - low > 1:
        middle = (low + high) // 2
        if begins_in_time(middle):
            low = middle
        else:
            high = middle
    return add_months(contract.starts, low * months)
