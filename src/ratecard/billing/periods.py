"""Billing periods anchored at the contract start, in UTC.

Monthly periods start on the contract's day of the month, clamped to the
month's last day (a contract starting Jan 31 has periods starting Feb 28,
Mar 31, Apr 30, ...): each start is computed from the anchor, never from the
previous clamped start, so one short month does not drift every later one.
A contract's `ends` (inclusive) cuts the last period short; that period is
billed with its fees and minimum prorated by days.

`billing ... on day D` (Part 2) moves the anchor to day D (clamped likewise):
when `starts` is not on day D, the stretch from `starts` to the first day D
after it is a short first period, prorated over the full period it is cut
from (the one that ends on that first day D), and full periods follow from
that day. `plan NAME from DATE` does not move periods ("periods keep their
anchor"): a change strictly inside a period cuts it into *plan parts*
(`plan_parts`), each billed with its plan, prorated over the period's full
days. Every period and part says how much of a full period it is:
`prorated_fraction` (the spend cap and the allowances prorate by it too).

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


_GREGORIAN_CYCLE = (400, 146_097)  # 400 years of the Gregorian calendar are exactly this many days


def _ordinal_after(base: int, day: int, months: int) -> int:
    """The day number (`date.toordinal()`) of day `day` of month number `base + months`, also
    past 9999-12-31: how long a period is that would end there (a contract whose `ends`
    cuts the last period of year 9999 short is prorated over the period's true length)."""
    year, month = divmod(base + months, 12)
    shift = 0
    while year > dt.MAXYEAR:
        year -= _GREGORIAN_CYCLE[0]
        shift += _GREGORIAN_CYCLE[1]
    day = min(day, calendar.monthrange(year, month + 1)[1])
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
    plan: str = ""  # the plan in effect over [start, end) (a plan part's own plan)
    part_of: str | None = None  # a plan part: the key of the whole period it is a part of

    @property
    def key(self) -> str:
        return f"{self.contract}@{self.start.isoformat()}"

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def prorated_fraction(self) -> Fraction:
        """days / full days, exactly: 1 for a whole period; less for a short first period
        (`on day D`), a last period cut by `ends`, or a plan part. What a fee, the minimum,
        the spend cap and an allowance of this period (or part) are multiplied by."""
        return Fraction(self.days, self.full_days) if self.is_partial else Fraction(1)

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
    """Every period of `contract` that has ended on or before `through`, each with the
    plan in effect on its first day."""
    months = CYCLE_MONTHS[contract.billing]
    return [Period(contract.name, k, start, end, full_days, months, plan_at(contract, start))
            for k, start, end, full_days in _bounds(contract.starts, contract.end_exclusive, months, through,
                                                    contract.billing_day)]


def period_number(contract: Contract, index: int, *, uncut: bool = False) -> Period | None:
    """The contract's period number `index` (0: the first), whether or not it has ended: an
    advance fee is billed before the period it pays for ends. With `uncut`, the period as it
    would be without `ends` (an advance fee is billed for the whole period; the days after
    `ends` come back on the last invoice as unused time). None past the contract's end, or
    where the period would end after 9999-12-31."""
    months = CYCLE_MONTHS[contract.billing]
    stop = None if uncut else contract.end_exclusive
    try:  # period `index` ends within index + 2 cycles of `starts` (a month is at most 31 days)
        bound = contract.starts + dt.timedelta(days=31 * months * (index + 2))
    except OverflowError:
        bound = dt.date.max
    for k, start, end, full_days in _bounds(contract.starts, stop, months, bound, contract.billing_day):
        if k == index:
            return Period(contract.name, k, start, end, full_days, months, plan_at(contract, start))
    return None


def plan_at(contract: Contract, day: dt.date) -> str:
    """The plan in effect on `day`: the last `plan NAME from DATE` on or before it, else
    the contract's first plan."""
    name = contract.plan
    for change in contract.plan_changes:  # in date order
        if change.effective <= day:
            name = change.plan
    return name


def switches(contract: Contract) -> list[dt.date]:
    """The days the plan in effect changes, in date order: every `plan NAME from DATE` except
    one to the plan already in effect. The compiler refuses to write that one (E210); a
    model built otherwise may hold it, and it changes nothing -- same charges, prices, fees,
    minimum and cap -- so it must not cut a period either (a cut would restart tiers and
    split fee lines: a different bill for no change)."""
    days, name = [], contract.plan
    for change in contract.plan_changes:  # in date order
        if change.plan != name:
            days.append(change.effective)
        name = change.plan
    return days


def plan_stretches(contract: Contract) -> list[tuple[dt.date, dt.date | None, str]]:
    """(start, end or None when open-ended, plan) of each stretch of the contract's time on one
    plan, in time order: they tile `[starts, end_exclusive)`. The usage stage decides with
    them whether an event is billable: by the plan in effect at the event's time."""
    bounds = [contract.starts, *switches(contract)]
    ends = [*bounds[1:], contract.end_exclusive]
    return [(a, b, plan_at(contract, a)) for a, b in zip(bounds, ends)]


def plan_parts(contract: Contract, period: Period) -> tuple[Period, ...]:
    """The period cut at each plan change strictly inside it: its plan parts, in time order,
    each a `Period` with its own plan and key and the whole period's `full_days` (so a
    part's fees and minimum are prorated by its days over the full period's). A period
    without a change inside it is its own single part. A change on a period's first day
    cuts nothing: the whole period is on the new plan; nor does a change to the plan
    already in effect (`switches`)."""
    days = [day for day in switches(contract) if period.start < day < period.end]
    if not days:
        return (period,)
    bounds = [period.start, *days, period.end]
    return tuple(Period(period.contract, period.index, a, b, period.full_days, period.months,
                        plan_at(contract, a), period.key)
                 for a, b in zip(bounds, bounds[1:]))


def contract_on(contract: Contract, period: Period) -> Contract:
    """The contract as it stands over `period` (a period or a plan part): on the plan in
    effect there, with that plan change's minimum and cap. Overrides, dimensions and
    terms are the contract's own in every part. The contract itself when nothing changed."""
    change = None
    for c in contract.plan_changes:
        if c.effective <= period.start:
            change = c
    if change is None:
        return contract
    return contract.model_copy(update={"plan": change.plan, "minimum": change.minimum, "cap": change.cap})


def _boundary(index: int, day: int) -> dt.date | None:
    """Day `day` (clamped to the month's length) of month number `index` (year x 12 +
    month - 1); None past 9999-12."""
    year, month = divmod(index, 12)
    if not dt.MINYEAR <= year <= dt.MAXYEAR:
        return None
    return dt.date(year, month + 1, min(day, calendar.monthrange(year, month + 1)[1]))


def _anchor(starts: dt.date, day: int | None) -> tuple[int, int, dt.date | None]:
    """(month number of the first full period's start, its day of the month, and the start of
    a short first period when there is one). Without `on day D` the contract's start is the
    anchor. With it, the first day D on or after `starts` is, and `starts` before it opens a
    short period."""
    index = starts.year * 12 + starts.month - 1
    if day is None:
        return index, starts.day, None
    first = _boundary(index, day)
    if first is not None and first < starts:
        index += 1
        first = _boundary(index, day)
    return index, day, (None if first == starts else starts)


@functools.lru_cache(maxsize=4096)
def _bounds(starts: dt.date, stop: dt.date | None, months: int,
            through: dt.date, day: int | None = None) -> tuple[tuple[int, dt.date, dt.date, int], ...]:
    """(index, start, end, full length in days) of each period; contracts that start on
    the same day with the same cycle share them (ten thousand contracts, a handful of
    calendars). Stops at the first period that has not ended by `through`, or that
    would end after 9999-12-31 without `ends` cutting it short (it never ends).

    With `on day D` and `starts` off day D, period 0 is the short stretch from `starts` to
    the first day D; its full length is the full period that ends on that day."""
    base, anchor_day, short = _anchor(starts, day)
    out = []
    k = 0
    if short is not None:
        first = _boundary(base, anchor_day)
        if first is None:
            return ()
        before = _boundary(base - months, anchor_day)
        full_days = (first - before).days if before is not None else (first - short).days
        end = min(first, stop) if stop is not None else first
        if end > through:
            return ()
        out.append((0, short, end, full_days))
        if stop is not None and first >= stop:
            return tuple(out)
        k = 1
    start = _boundary(base, anchor_day)
    j = 0  # full periods from the anchor
    while start is not None and (stop is None or start < stop):
        full_end = _boundary(base + (j + 1) * months, anchor_day)
        if full_end is None:
            if stop is None:
                break
            full_days = _ordinal_after(base, anchor_day, (j + 1) * months) - start.toordinal()
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
        j += 1
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
    base, day, short = _anchor(contract.starts, contract.billing_day)

    def in_time(start: dt.date | None) -> bool:
        return (start is not None and (stop is None or start < stop)
                and (instant is None or midnight(start) < instant))

    def begins_in_time(k: int) -> bool:
        return in_time(_boundary(base + k * months, day))

    if not begins_in_time(0):
        return short if short is not None and in_time(short) else None
    low, high = 0, (dt.MAXYEAR - contract.starts.year + 1) * 12 // months + 1  # begins_in_time(high) is False
    while high - low > 1:
        middle = (low + high) // 2
        if begins_in_time(middle):
            low = middle
        else:
            high = middle
    return _boundary(base + low * months, day)
