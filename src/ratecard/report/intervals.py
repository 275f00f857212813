"""What `explain` shows of a `weighted` line: the report intervals its quantity integrates.

part2-decisions 14.3: for each value, the stretch it held in the line's window (cut at
calendar month bounds, since each month has its own length), the length of the unit it
is divided by, and what it adds; then the exact sum and the one rounding to 9 places.
The figures come from the line's own pieces (`Aggregate.held`), the ones it was priced
from, never recomputed from the usage.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from fractions import Fraction

from ..billing import PricedLine
from ..model import RatingPlan
from ..money import EXACT, exact_text, plain
from ..usage.weighted import instant, month_pieces, pieces_integral

_SIZED = re.compile(r"^\d+ ")
_UNIT = {"month": "its month", "day": "a day", "hour": "an hour"}
_SHOWN = Decimal("1e-12")


def written(t: dt.datetime) -> str:
    """`2026-01-11T00:00:00Z`, with microseconds when it has some."""
    t = t.astimezone(dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + (f".{t.microsecond:06d}" if t.microsecond else "") + "Z"


def about(value: Fraction) -> str:
    """An exact figure: its decimal when it has a finite one, else `about` 12 places of it."""
    text = exact_text(value)
    if "/" not in text:
        return text
    return f"about {plain(EXACT.divide(Decimal(value.numerator), Decimal(value.denominator)).quantize(_SHOWN))}"


def held_intervals(pl: PricedLine, plan: RatingPlan) -> list[str]:
    """The lines `explain` prints under a weighted usage line (none for another meter)."""
    pieces = pl.aggregate.held
    if not pieces:
        return []
    per = plan.meters[pl.aggregate.meter].aggregation.per
    units = _SIZED.sub("", pl.line.unit) + "s"  # `GB-month` (a price `per 1K GB-month`: still GB-months)
    out = [f"report intervals (a value holds from its report until the next one; each stretch x its "
           f"seconds / the seconds of {_UNIT[per]}):"]
    for piece in pieces:
        start, end, value, reported = piece
        when = "" if reported else " (carried over from an earlier report)"
        if start == end:
            out.append(f"  {plain(value)} at {written(instant(start))}: held for no time (a report with a "
                       f"greater id at the same instant holds)")
            continue
        for since, until, unit, weighed in month_pieces(piece, per):
            seconds = Decimal((until - since) // dt.timedelta(microseconds=1)).scaleb(-6)
            out.append(f"  {plain(value)} from {written(since)} to {written(until)}{when}: "
                       f"{plain(value)} x {plain(seconds)} s / {unit} s = {about(weighed)} {units}")
    total = pieces_integral(pieces, per)
    out.append(f"integral {about(total)} {units}, rounded once to 9 places (half even): "
               f"{pl.line.quantity:f}")
    return out
