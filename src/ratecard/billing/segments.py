"""Effective dates inside a billing period: where a meter's period is split.

A rule's `from` and `until` dates are *changes*. For one contract and one
meter, the changes that fall strictly inside a period split that meter's
usage of the period into segments; the usage stage aggregates each segment
under its own key (a `Window` with the meter set), and billing prices the
segments in time order, each with the rules in effect on its first day.

Only additive meters (`count`, `sum`, and `weighted`, whose integral adds up over
time) are split: their segments add up to the period's quantity, so tiers can fill
across them. A `max`, `unique` or `latest`
quantity is one figure for the whole period (the peak, the distinct values,
the last value) that segments cannot be added back into; such a meter is not
split, and is priced with the rules in effect on the period's first day, like
any unsplit period.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from .. import rules
from ..model import Rule
from .periods import Period

SPLIT_AGGREGATIONS = ("count", "sum", "weighted")


@dataclass(frozen=True)
class Change:
    """A day on which rules of a (contract, meter)'s layers start or stop."""

    day: dt.date
    starting: tuple[tuple[Rule, rules.Layer], ...]  # `from day`
    ending: tuple[tuple[Rule, rules.Layer], ...]  # `until day`


def changes(layers: tuple[rules.Layer, ...]) -> tuple[Change, ...]:
    """Every day a rule of `layers` starts or stops, in date order."""
    days: dict[dt.date, tuple[list, list]] = {}
    for layer in layers:
        for rule in layer.card.rules:
            if rule.valid_from is not None:
                days.setdefault(rule.valid_from, ([], []))[0].append((rule, layer))
            if rule.valid_until is not None:
                days.setdefault(rule.valid_until, ([], []))[1].append((rule, layer))
    return tuple(Change(day, tuple(s), tuple(e)) for day, (s, e) in sorted(days.items()))


def affecting(found: tuple[Change, ...], attrs) -> tuple[Change, ...]:
    """The changes, narrowed to the rules that match a line described by `attrs`."""
    out = []
    for c in found:
        starting = tuple((r, layer) for r, layer in c.starting if r.matches(attrs))
        ending = tuple((r, layer) for r, layer in c.ending if r.matches(attrs))
        if starting or ending:
            out.append(Change(c.day, starting, ending))
    return tuple(out)


def within(all_changes: tuple[Change, ...], start: dt.date, end: dt.date) -> tuple[Change, ...]:
    """The changes strictly inside `[start, end)`: a change on `start` needs no split."""
    return tuple(c for c in all_changes if start < c.day < end)


@dataclass(frozen=True)
class Segment:
    """`[start, end)` of one meter's usage in one period."""

    key: str
    start: dt.date
    end: dt.date


def segment_key(period: Period, meter: str, start: dt.date) -> str:
    return f"{period.key}#{meter}#{start.isoformat()}"


def split(period: Period, meter: str, inside: tuple[Change, ...]) -> tuple[Segment, ...]:
    """The period cut at each change day: segments that cover it, in time order."""
    bounds = [period.start] + [c.day for c in inside] + [period.end]
    return tuple(Segment(segment_key(period, meter, a), a, b) for a, b in zip(bounds, bounds[1:]))


def pricing_key(resolution: rules.Resolution | None):
    """What two adjacent segments must share to be billed as one line: the same rule
    (its layer, conditions and price, whatever its dates) and the same modifiers."""
    if resolution is None:
        return None
    return (
        resolution.base_layer.owner,
        rules.version_key(resolution.base),
        resolution.base.action,
        tuple((layer.owner, rules.version_key(r), r.action) for r, layer in resolution.modifiers),
    )


@dataclass(frozen=True)
class SplitInfo:
    """How a usage line relates to a period split at price changes (for `explain`)."""

    period: Period
    start: dt.date  # the part of the period the line covers
    end: dt.date
    cuts: tuple[Change, ...]  # the changes at the line's own start and end
    unchanged: tuple[Change, ...]  # changes inside the line that did not change its price
    already: Decimal  # quantity of the period used before this line (tiers continue from it)
    total: Decimal  # the period's quantity of this usage line, all segments
    aggregation: str  # the meter's aggregation function
    final: bool = True  # the last line of the period with usage (a volume tier's flat amount goes here)

    @property
    def is_segment(self) -> bool:
        return (self.start, self.end) != (self.period.start, self.period.end)

    @property
    def split_meter(self) -> bool:
        return self.aggregation in SPLIT_AGGREGATIONS
