"""Time-weighted quantities (`weighted F per month|day|hour`): the exact integral of a
step function, as LANGUAGE.md Part 2 and part2-decisions section 2 define it.

Two ways to the same figure, held equal by the tests:

- the oracle's (`reference`): a key's accepted reports -> `integral` / `line_quantity`
  over a window, and `window_pieces` for what `explain` shows;
- the engines' (`query.weighted_select`, docs/usage.md "Time-weighted meters"): the
  query hands back, per window, the *pieces* of the step function (a value and the
  stretch [start, end) it held, clipped to the window), and `line_from_pieces`
  finishes the integral here, exactly (no SQL engine divides exactly).

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
from typing import Iterable, NamedTuple, Sequence

PLACES = 9
_SECOND = 1_000_000  # microseconds: the resolution of an event's time (docs/usage.md, "Times")
_SCALE = 10 ** 18  # a quantity's decimal places at most (rows.QUANTITY_SCALE): values as whole numbers
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class Report(NamedTuple):
    """One accepted report of a key: its instant, id and value."""

    time: dt.datetime
    id: str
    value: Decimal


class Piece(NamedTuple):
    """A stretch [start, end) of one window over which one reported value held (UTC).

    `reported`: the report itself is inside the window (at `start`); otherwise the
    value was reported before the window and carried into it. A piece of zero length
    is a report that held for no time (a report with a greater id at the same instant
    holds instead): it still makes its line exist (decisions 2.7)."""

    value: Decimal
    start: dt.datetime
    end: dt.datetime
    reported: bool


def piece_order(piece: Piece) -> tuple:
    """The one order of a window's pieces, for every engine and the oracle: by time."""
    return piece.start, piece.end, piece.value, piece.reported


def from_micros(micros: int) -> dt.datetime:
    """Microseconds since 1970-01-01 UTC (how the query hands instants over) as a UTC datetime."""
    return EPOCH + dt.timedelta(microseconds=micros)


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
            out.append(Piece(r.value, max(r.time, start), end if until is None else min(until, end), inside))
    return sorted(out, key=piece_order)


def _scaled(value: Decimal) -> int | Fraction:
    """`value` x 10**18, exactly: a whole number for every quantity (at most 18 places)."""
    numerator, denominator = value.as_integer_ratio()
    whole, rest = divmod(_SCALE * numerator, denominator)
    return whole if rest == 0 else Fraction(_SCALE * numerator, denominator)


def pieces_integral(pieces: Iterable[Piece], per: str) -> Fraction:
    """The exact integral of the pieces in `per` units: value x microseconds summed as whole
    numbers per calendar month, then each month's sum divided once by its unit."""
    sums: dict[tuple[int, int], int | Fraction] = {}
    for value, start, end, _ in pieces:
        if start >= end or not value:
            continue
        scaled = _scaled(value)
        while start < end:
            piece_end = min(end, _next_month(start))
            month = (start.year, start.month)
            sums[month] = sums.get(month, 0) + scaled * _micros(start, piece_end)
            start = piece_end
    total = Fraction(0)
    for (year, month), weighed in sums.items():
        total += Fraction(weighed) / (_SCALE * _unit_micros(per, dt.datetime(year, month, 1)))
    return total


def line_from_pieces(pieces: Sequence[Piece], per: str) -> Decimal | None:
    """A line's quantity from its window's pieces, rounded once; None when the line does
    not exist (its integral is zero and no report is inside the window)."""
    exact = pieces_integral(pieces, per)
    if exact == 0 and not any(p.reported for p in pieces):
        return None
    return round_half_even(exact)


def month_pieces(piece: Piece, per: str) -> list[tuple[dt.datetime, dt.datetime, int, Fraction]]:
    """A piece cut at calendar month bounds: (from, to, seconds of its unit, its exact
    integral), what `explain` prints for a weighted line."""
    out = []
    start = piece.start
    while start < piece.end:
        piece_end = min(piece.end, _next_month(start))
        unit = _unit_micros(per, start)
        out.append((start, piece_end, unit // _SECOND,
                    Fraction(piece.value) * _micros(start, piece_end) / unit))
        start = piece_end
    return out


def joined(pieces: Sequence[Piece]) -> list[Piece]:
    """Pieces in time order with a value carried across a cut (a segment's bound) made one
    piece again: what adding segments back into one line shows."""
    out: list[Piece] = []
    for p in pieces:
        last = out[-1] if out else None
        if last is not None and not p.reported and last.end == p.start and last.value == p.value:
            out[-1] = last._replace(end=p.end)
        else:
            out.append(p)
    return out
