"""Time-weighted quantities (`weighted F per month|day|hour`): the exact integral of a
step function, as LANGUAGE.md Part 2 and part2-decisions section 2 define it.

Two ways to the same figure, held equal by the tests:

- the oracle's (`reference`): a key's reports -> `integral` / `line_quantity`
  over a window, and `window_pieces` for what `explain` shows;
- the engines' (`query.weighted_select`, docs/usage.md "Time-weighted meters"): the
  query hands back, per window, the *pieces* of the step function (a value and the
  stretch [start, end) it held, clipped to the window), and `line_from_pieces`
  finishes the integral here, exactly (no SQL engine divides exactly).

- Reports of one key (customer, meter, dimension values: a level is the customer's,
  whatever contract, or none, a report fell in; part2-decisions 2.3) are ordered by
  (time, id), ids as strings; at one instant the greater id holds (the other for zero time).
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
from typing import Iterable, NamedTuple, Sequence

PLACES = 9
_SECOND = 1_000_000  # microseconds: the resolution of an event's time (docs/usage.md, "Times")
_SCALE = 10 ** 18  # a quantity's decimal places at most (rows.QUANTITY_SCALE): values as whole numbers
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class Report(NamedTuple):
    """One report of a key (a kept event the meter reads): its instant, id and value."""

    time: dt.datetime
    id: str
    value: Decimal


# One piece of a window's step function: (start, end, value, reported), a plain tuple.
#
# [start, end) is a stretch of one window over which one reported value held, in whole
# microseconds since 1970-01-01 UTC (how the query hands instants over: exact, and cheap
# to integrate; `instant` makes one a datetime again). `reported`: the report itself is
# inside the window (at `start`); otherwise the value was reported before the window and
# carried into it. A piece of zero length is a report that held for no time (a report
# with a greater id at the same instant holds instead): it still makes its line exist
# (decisions 2.7). A plain tuple, not a named one: a run builds one per report and
# window, and in this order a window's pieces sort by time as they are, the one order
# of every engine and the oracle.
Piece = tuple[int, int, Decimal, bool]


def micros(t: dt.datetime) -> int:
    """A UTC datetime as whole microseconds since 1970 (negative before)."""
    return _micros(EPOCH, t)


def instant(us: int) -> dt.datetime:
    """Microseconds since 1970-01-01 UTC as a UTC datetime."""
    return EPOCH + dt.timedelta(microseconds=us)


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


def window_pieces(reports: Sequence[Report], start: dt.datetime, end: dt.datetime) -> list[Piece]:
    """The oracle's pieces of the window [start, end): each report (ordered by time, then
    id) holds until the next one; one inside the window gives a piece from its time,
    one before it that still holds at `start` gives the piece it carries in."""
    ordered = sorted(reports, key=lambda r: (r.time, r.id))
    out = []
    for i, r in enumerate(ordered):
        until = ordered[i + 1].time if i + 1 < len(ordered) else None
        inside = start <= r.time < end
        if inside or (r.time < start and (until is None or until > start)):
            out.append((micros(max(r.time, start)), micros(end if until is None else min(until, end)),
                        r.value, inside))
    return sorted(out)


def _month_of(us: int) -> tuple[int, int]:
    """[start, end) of the calendar month (UTC) that contains the instant `us`, in microseconds
    (counted from the month's days, so December 9999 has an end too)."""
    first = _month_start(instant(us))
    start = micros(first)
    return start, start + _unit_micros("month", first)


def _divisor(per: str, month: tuple[int, int]) -> int:
    if per == "month":
        return month[1] - month[0]
    return _unit_micros(per, EPOCH)


def pieces_integral(pieces: Iterable[Piece], per: str) -> Fraction:
    """The exact integral of the pieces in `per` units: value x microseconds summed as whole
    numbers per calendar month (values scaled by 10**18), then each month's sum divided
    once by its unit. The hot path of a weighted run: whole-number arithmetic, the month
    of the last piece reused for the next (a line's pieces are in time order)."""
    sums: dict[tuple[int, int], int | Fraction] = {}
    lo = hi = 0
    for start, end, value, _ in pieces:
        if start >= end or not value:
            continue
        numerator, denominator = value.as_integer_ratio()
        scaled, rest = divmod(_SCALE * numerator, denominator)  # whole for every quantity (18 places)
        if rest:
            scaled = Fraction(_SCALE * numerator, denominator)
        while start < end:
            if not lo <= start < hi:
                lo, hi = _month_of(start)
            stop = end if end <= hi else hi
            month = lo, hi
            sums[month] = sums.get(month, 0) + scaled * (stop - start)
            start = stop
    total = Fraction(0)
    for month, weighed in sums.items():
        total += Fraction(weighed) / (_SCALE * _divisor(per, month))
    return total


def line_from_pieces(pieces: Sequence[Piece], per: str) -> Decimal | None:
    """A line's quantity from its window's pieces, rounded once; None when the line does
    not exist (its integral is zero and no report is inside the window)."""
    exact = pieces_integral(pieces, per)
    if exact == 0 and not any(reported for _, _, _, reported in pieces):
        return None
    return round_half_even(exact)


def month_pieces(piece: Piece, per: str) -> list[tuple[dt.datetime, dt.datetime, int, Fraction]]:
    """A piece cut at calendar month bounds: (from, to, seconds of its unit, its exact
    integral), what `explain` prints for a weighted line."""
    out = []
    start, end, value, _ = piece
    while start < end:
        month = _month_of(start)
        stop = min(end, month[1])
        unit = _divisor(per, month)
        out.append((instant(start), instant(stop), unit // _SECOND, Fraction(value) * (stop - start) / unit))
        start = stop
    return out


def joined(pieces: Sequence[Piece]) -> list[Piece]:
    """Pieces in time order with a value carried across a cut (a segment's bound) made one
    piece again: what adding segments back into one line shows."""
    out: list[Piece] = []
    for start, end, value, reported in pieces:
        if out and not reported and out[-1][1] == start and out[-1][2] == value:
            out[-1] = (out[-1][0], end, value, out[-1][3])
        else:
            out.append((start, end, value, reported))
    return out
