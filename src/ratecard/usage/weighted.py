"""Time-weighted quantities (`weighted F per month|day|hour`): the exact integral of a
step function, as LANGUAGE.md Part 2 and part2-decisions section 2 define it.

NOT BILLED YET: billing/unsupported.py still refuses `weighted` (E970). This is the
oracle's arithmetic, kept apart so that the engines' form (LEAD over time per key,
clipped at period and month bounds) can be held equal to it, and so that an engine
that returns the accepted reports can finish the integral here, exactly.

- Reports of one key (contract, meter, dimension values) are ordered by (time, id),
  ids as strings; at one instant the greater id holds (the other for zero time).
- A value holds from its time until the next report; before the first report of
  the period, the last earlier report's value, else 0. No interpolation.
- Each piece of the period is split at calendar month bounds (UTC) and weighed
  `value x seconds / seconds of the unit`: a month's own length for `per month`,
  86,400 for `per day`, 3,600 for `per hour`.
- The integral is a `Fraction` (no rounding at all) until `line_quantity` rounds it
  once, to 9 places, half-even.
"""

from __future__ import annotations

import calendar
import datetime as dt
from decimal import Decimal
from fractions import Fraction
from typing import NamedTuple, Sequence

PLACES = 9
_SECOND = 1_000_000  # microseconds: the resolution of an event's time (docs/usage.md, "Times")


class Report(NamedTuple):
    """One accepted report of a key: its instant, id and value."""

    time: dt.datetime
    id: str
    value: Decimal


def _month_start(t: dt.datetime) -> dt.datetime:
    return t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _next_month(t: dt.datetime) -> dt.datetime:
    start = _month_start(t)
    return start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)


def _micros(a: dt.datetime, b: dt.datetime) -> int:
    delta = b - a
    return (delta.days * 86_400 + delta.seconds) * _SECOND + delta.microseconds


def _unit_micros(per: str, t: dt.datetime) -> int:
    if per == "hour":
        return 3_600 * _SECOND
    if per == "day":
        return 86_400 * _SECOND
    return calendar.monthrange(t.year, t.month)[1] * 86_400 * _SECOND


def _weigh(value: Decimal, start: dt.datetime, end: dt.datetime, per: str) -> Fraction:
    """`value` held over [start, end), split at month bounds."""
    total = Fraction(0)
    while start < end:
        piece_end = min(end, _next_month(start))
        total += Fraction(value) * _micros(start, piece_end) / _unit_micros(per, start)
        start = piece_end
    return total


def integral(reports: Sequence[Report], start: dt.datetime, end: dt.datetime, per: str) -> Fraction:
    """The exact integral over [start, end) of the step function the reports draw."""
    ordered = sorted(reports, key=lambda r: (r.time, r.id))
    total = Fraction(0)
    for i, r in enumerate(ordered):
        held_until = ordered[i + 1].time if i + 1 < len(ordered) else end
        lo, hi = max(r.time, start), min(held_until, end)
        if lo < hi and r.value:
            total += _weigh(r.value, lo, hi, per)
    return total


def round_half_even(value: Fraction, places: int = PLACES) -> Decimal:
    """`value` rounded once to `places` decimal places, half to even, from the exact fraction."""
    scaled = value * 10 ** places
    whole, rest = divmod(scaled.numerator, scaled.denominator)  # floor, for negatives too
    twice = 2 * rest
    if twice > scaled.denominator or (twice == scaled.denominator and whole % 2 == 1):
        whole += 1
    return Decimal(whole).scaleb(-places)


def line_quantity(reports: Sequence[Report], start: dt.datetime, end: dt.datetime, per: str) -> Decimal | None:
    """A line's quantity for the period [start, end), rounded once; None when the line does
    not exist: its integral is zero and it has no report inside the period (decisions 2.7)."""
    exact = integral(reports, start, end, per)
    if exact == 0 and not any(start <= r.time < end for r in reports):
        return None
    return round_half_even(exact)
