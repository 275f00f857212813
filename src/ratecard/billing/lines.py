"""Line building: a period's fee lines and usage lines, each priced and rounded once.

    fees (prorated by days when the period is cut short)
    -> usage: the period's aggregates in charge order, then by dimension
       values, then in time; each priced by the rules of its first day
       (`pricer.py`) and the charge model (`pricing.py`)

Every line is computed exactly and rounded once, in the project's rounding
mode, to the currency's minor unit.

Effective dates (see `segments.py`): a `count` or `sum` meter whose rules
change inside a period is aggregated per segment; segments are priced in time
order, each at the rules of its first day, with tiers continuing from what the
earlier segments used; adjacent segments priced by the same rule and
modifiers are billed as one line, so a change that keeps the price changes
nothing on the invoice.

A usage line that cannot be priced (no rule, beyond the last tier, below
zero) becomes a diagnostic, never a line billed as zero; E502 and E503 carry a
note at the rate card to edit (`places.py`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, NamedTuple

from .. import rules
from ..diagnostics import Diagnostic, error
from ..model import CADENCE_MONTHS, Contract, Fee, Plan, RatingPlan
from ..money import EXACT, ZERO, plain, units
from ..usage.overflow import BOUND, weighted_past_bound
from ..usage.records import Aggregate
from ..usage.weighted import joined, line_from_pieces
from .context import RunContext
from .documents import Line, PeriodRange, TierLine, tier_line, trusted
from .periods import Period
from .places import tiers_note, unpriced_note
from .pricer import LineFacts, as_written, describe_dims, line_attributes
from .pricing import BeyondLastTier, NegativeQuantity, Priced, price_quantity
from .segments import Segment, SplitInfo, affecting, pricing_key, within

if TYPE_CHECKING:
    from .pools import PoolShare


@dataclass(frozen=True)
class PricedLine:
    """A usage line with everything `explain` shows about how it was priced."""

    contract: str
    period: Period
    line: Line
    aggregate: Aggregate
    resolution: rules.Resolution
    priced: Priced
    exact: Decimal
    split: SplitInfo | None = None  # set when a rate changes inside the period
    pool: "PoolShare | None" = None  # a pooled line's pool and share (`pools.py`)


class LineAt(NamedTuple):
    """Where a usage line sits in its period: what pricing it needs besides the run's context."""

    contract: Contract
    period: Period
    aggregate: Aggregate
    day: dt.date  # the line is priced by the rules in effect on this day (its first)
    already: Decimal  # the period's quantity earlier segments used: tiers continue from it
    total: Decimal  # the period's quantity of this usage line, all segments
    final: bool  # the last line of the period with usage (a volume tier's flat amount goes here)
    split: SplitInfo | None  # how the line relates to rate changes inside the period (for `explain`)
    shape: tuple[int, bool] | None = None  # the pricer's shape of the line, when looked up already


def fee_lines(plan: Plan, period: Period, money) -> list[Line]:
    """The plan's fees billed in arrears, on the invoice of the period they are for (fees `in
    advance` are billed on the invoice before: `advance.py`)."""
    return [fee_line(fee, period, money) for fee in plan.fees if not fee.in_advance]


def fee_cadence(fee: Fee, period: Period) -> tuple[int, int]:
    """A whole period's share of the fee's cadence, as (numerator, denominator): a monthly
    period bills 1/12 of `$300 per year`, a quarterly one 3 of `$25 per month`."""
    months = CADENCE_MONTHS.get(fee.cadence)
    return (1, 1) if months is None else (period.months, months)


def fee_exact(fee: Fee, period: Period) -> Decimal:
    """What the fee bills for `period` (prorated by days), exactly, before its one rounding."""
    return period.share(fee.amount, *fee_cadence(fee, period))


def fee_line(fee: Fee, period: Period, money) -> Line:
    """One fee for `period`, prorated by days when the period is not a whole one."""
    numerator, denominator = fee_cadence(fee, period)
    share = period.fraction(numerator, denominator)
    return Line(
        kind="fee",
        charge=fee.name,
        description=fee.name,
        quantity=shown(period.share(Decimal(1), numerator, denominator)),
        unit=fee.cadence,
        unit_price=fee.amount,
        amount=money(period.share(fee.amount, numerator, denominator)),
        prorated=shown(period.proration) if period.is_partial else None,
        share=share if share.denominator != 1 else None,
    )


_SHOWN = Decimal("1e-10")


def shown(share: Decimal) -> Decimal:
    """A prorated share as shown on a line (7/30 -> 0.2333333333); the amount is
    computed from the exact fraction, never from this."""
    if share.as_tuple().exponent < -10:
        share = share.quantize(_SHOWN, context=EXACT)
    return as_written(share)


def usage_lines(run: RunContext, contract: Contract, period: Period):
    """The period's usage lines, in charge order, then by dimension values, then in time.

    Yields (aggregate, line, priced, resolution, split info, None), or a
    diagnostic as the last item when a line cannot be priced. `priced` is None
    for a line the engine priced in a run that keeps no `Priced` (`priced_line`).
    """
    pricer, by_window = run.pricer, run.by_window
    splits = run.splits.get(period.key, {})
    order = pricer.charge_order(run.plan_of(contract))
    dims_key = pricer.dims_key
    last = len(order)
    if not splits:
        # no rate changes inside the period (the common case): one aggregate per line
        ranked = sorted(by_window.get(period.key, ()),
                        key=lambda a: (order.get(a.meter, last), a.meter, dims_key(a.dimensions)))
        i, n = 0, len(ranked)
        while i < n:
            agg, j = ranked[i], i + 1
            while j < n and ranked[j].meter == agg.meter and ranked[j].dimensions == agg.dimensions:
                j += 1
            if j > i + 1:
                agg = _combined(ranked[i:j], run)
            i = j
            yield _whole_line(run, contract, period, agg)
        return
    groups: dict[tuple, list[tuple[Segment | None, Aggregate]]] = {}
    for agg in by_window.get(period.key, []):
        groups.setdefault((agg.meter, agg.dimensions), []).append((None, agg))
    for segments in splits.values():
        for seg in segments:
            for agg in by_window.get(seg.key, []):
                groups.setdefault((agg.meter, agg.dimensions), []).append((seg, agg))
    ranked_keys = sorted(groups, key=lambda g: (order.get(g[0], last), g[0], dims_key(g[1])))
    for meter_name, dims in ranked_keys:
        entries = groups[(meter_name, dims)]
        whole = [agg for seg, agg in entries if seg is None]
        by_segment = {seg.key: agg for seg, agg in entries if seg is not None}
        if whole:
            # unsplit; a conforming usage stage never puts a split meter's usage here
            agg = whole[0] if len(whole) == 1 else _combined(whole, run)
            yield _whole_line(run, contract, period, agg)
        if by_segment:
            yield from _segment_lines(run, contract, period, meter_name, dims, splits[meter_name], by_segment)


def _whole_line(run: RunContext, contract: Contract, period: Period, agg: Aggregate):
    """A line for the whole period; `explain` is told of rate changes inside it that
    apply to the line but do not split it (max, unique and latest meters)."""
    info = None
    pricer = run.pricer
    shape = pricer.shape_of(contract, agg.meter)
    if shape[1]:  # the contract's rules for this meter change on some date
        dated = pricer.changes_of(contract, agg.meter)
        inside = affecting(within(dated, period.start, period.end), line_attributes(contract, agg.dimensions))
        if inside:
            fn = run.plan.meters[agg.meter].aggregation.function
            info = SplitInfo(period, period.start, period.end, (), inside, ZERO, agg.quantity, fn)
    return priced_line(run, LineAt(contract, period, agg, period.start, ZERO, agg.quantity, True, info, shape))


def _combined(aggs: list[Aggregate], run: RunContext) -> Aggregate:
    """Aggregates of one line from several segments (additive meters only) as one. A
    weighted line's quantity is integrated again from its segments' pieces, so that it
    is rounded once, as one line (adding rounded segments could be off by 1e-9)."""
    first = aggs[0]
    if first.held:
        pieces = joined(sorted(p for a in aggs for p in a.held))
        quantity = line_from_pieces(pieces, run.plan.meters[first.meter].aggregation.per)
        return Aggregate(first.window, first.meter, first.dimensions, quantity,
                         sum(a.events for a in aggs), tuple(pieces))
    return Aggregate(first.window, first.meter, first.dimensions,
                     sum((a.quantity for a in aggs), ZERO), sum(a.events for a in aggs))


def _segment_lines(run: RunContext, contract: Contract, period: Period, meter_name: str, dims: tuple,
                   segments: tuple[Segment, ...], by_segment: dict[str, Aggregate]):
    """One usage line per run of adjacent segments that the same rule prices, in time order.

    Tiers fill across the runs: each run starts at the quantity the earlier ones used.
    """
    pricer = run.pricer
    runs: list[tuple[object, list[Segment]]] = []
    for seg in segments:
        key = pricing_key(pricer.resolve(contract, meter_name, dims, seg.start))
        if runs and runs[-1][0] == key:
            runs[-1][1].append(seg)
        else:
            runs.append((key, [seg]))
    billed = [(segs, [by_segment[s.key] for s in segs if s.key in by_segment]) for _, segs in runs]
    billed = [(segs, aggs) for segs, aggs in billed if aggs]
    quantities = [sum((a.quantity for a in aggs), ZERO) for _, aggs in billed]
    total = sum(quantities, ZERO)
    nonzero = [i for i, q in enumerate(quantities) if q != 0]
    final = nonzero[-1] if nonzero else len(billed) - 1
    all_changes = affecting(pricer.changes_of(contract, meter_name), line_attributes(contract, dims))
    fn = run.plan.meters[meter_name].aggregation.function
    already = ZERO
    for index, (segs, aggs) in enumerate(billed):
        start, end = segs[0].start, segs[-1].end
        agg = _combined(aggs, run)
        cuts = tuple(c for c in all_changes
                     if (c.day == start and start != period.start) or (c.day == end and end != period.end))
        info = SplitInfo(period, start, end, cuts, within(all_changes, start, end), already, total, fn,
                         index == final)
        # without a cut or an unchanged rate inside it, the rates that change inside the period
        # do not concern this line
        concerned = info if info.is_segment or info.unchanged else None
        yield priced_line(run, LineAt(contract, period, agg, start, already, total, index == final, concerned))
        # a segment below zero is E510 (the run stops); it is not carried into the next
        # segment's position, which would report that segment too
        already += max(agg.quantity, ZERO)


def priced_line(run: RunContext, at: LineAt):
    """One usage line: (aggregate, line, priced, resolution, split info, None), or a
    diagnostic as the last item. The hot path of a large run: per-shape facts
    come from the pricer's cache, so only the arithmetic is done per line, and
    the `Line` is built without validating (`usage_line`). A line the engine
    priced, in a run that keeps no `Priced` (no explain, views or pools: a JSON
    run), is built from the engine's amount and what its price shows
    (`EnginePrices.shown`), with `priced` None."""
    contract, agg, info = at.contract, at.aggregate, at.split
    if agg.held and abs(agg.quantity) >= BOUND:  # a weighted integral past DECIMAL(38, 18): E506, as a sum
        how = run.plan.meters[agg.meter].aggregation
        return agg, None, None, None, None, weighted_past_bound(how.text, how.per, contract.customer, _where(at),
                                                                agg.quantity)
    pricer = run.pricer
    facts = pricer.facts(contract, agg.meter, agg.dimensions, at.day, at.shape)
    if facts is None:
        note = unpriced_note(run.plan, run.spans, run.plan_of(contract), agg.meter)
        return agg, None, None, None, None, error(
            "E502", f"unpriced usage: no rule prices {_where(at)} ({units(agg.quantity)})",
            hints=[f"add a `default` rule to meter `{agg.meter}`'s rate card or to plan "
                   f"`{run.plan_of(contract).name}`'s charge; ratecard never bills unpriced usage as zero"],
            notes=[note] if note is not None else [])
    resolution = facts.resolution
    rated = agg.rated  # the usage engine priced a whole-period line already (`engine_rating.py`)
    engine, priced = run.engine, None
    if rated is not None and engine is not None and not engine.checked:
        if not run.keep_priced:
            # nothing will read a `Priced` (no explain, no views): the line straight from the
            # engine's figures, with what its price shows worked out once per price
            shown = engine.shown(resolution.price, agg.quantity, rated)
            if shown is not None:
                unit, unit_price, tiers = shown
                return agg, usage_line(facts, agg.meter, as_written(agg.quantity), unit, unit_price, rated[1],
                                       tiers, _segment(info)), None, resolution, info, None
        else:
            priced = engine.priced(resolution.price, agg.quantity, rated)
    if priced is not None:
        amount = rated[1]
    else:
        try:
            priced = price_quantity(resolution.price, agg.quantity, already=at.already, total=at.total,
                                    final=at.final)
        except BeyondLastTier as exc:
            note = tiers_note(run.spans, resolution.base.id, plain(exc.bound))
            return agg, None, None, None, None, error(
                "E503", f"usage beyond the last tier: {units(exc.quantity)} for "
                        f"{_where(at)}, but the tiers stop at `up to {plain(exc.bound)}`",
                hints=["add an `above : PRICE` tier"], notes=[note] if note is not None else [])
        except NegativeQuantity:
            return agg, None, None, None, None, _negative(run.plan, at)
        amount = run.money(priced.amount)
        if rated is not None and engine is not None and engine.checked and not engine.agrees(priced, amount, rated):
            return agg, None, None, None, None, error(
                "E504", f"the figures of the aggregates file do not price the line: {_where(at)}, "
                        f"{plain(agg.quantity)} units, says {plain(rated[1])} (exact {plain(rated[2])}), "
                        f"this pricing gives {plain(amount)} (exact {plain(priced.amount)})",
                hints=["run the query `ratecard sql --priced` prints again and save its whole result unchanged, "
                       "or bill with `--price-in python` to price every line here"])
    exact = pricer.exact
    line = usage_line(
        facts, agg.meter,
        # a weighted quantity keeps its 9 places: it is what was priced (decisions 2.6)
        agg.quantity if agg.held else as_written(agg.quantity),
        priced.unit_label, exact(priced.unit_price) if priced.unit_price is not None else None, amount,
        [tier_line(exact(s.lower), exact(s.upper) if s.upper is not None else None, as_written(s.quantity),
                   exact(s.unit_price), exact(s.flat), as_written(s.amount))
         for s in priced.steps] if priced.steps else [],
        _segment(info))
    return agg, line, priced, resolution, info, None


def _segment(info: SplitInfo | None) -> PeriodRange | None:
    """What a line shows of the segment it bills (none for a whole period)."""
    return PeriodRange(start=info.start, end=info.end) if info is not None and info.is_segment else None


# The fields a usage line is given; the others keep their defaults (`trusted` needs the set).
_USAGE_FIELDS = frozenset(("kind", "charge", "description", "dimensions", "quantity", "unit", "unit_price",
                           "amount", "rule", "modifiers", "tiers", "segment"))


def usage_line(facts: LineFacts, meter: str, quantity: Decimal, unit: str, unit_price: Decimal | None,
               amount: Decimal, tiers: list[TierLine], segment: PeriodRange | None) -> Line:
    """`Line(kind="usage", ...)` for a line of `facts`' shape, built without validating
    (`documents.trusted`): every value here is of its field's type already, and the containers
    are the line's own."""
    return trusted(Line, {
        "kind": "usage", "charge": meter, "description": facts.title, "dimensions": dict(facts.dimensions),
        "quantity": quantity, "unit": unit, "unit_price": unit_price, "amount": amount, "rule": facts.rule,
        "modifiers": list(facts.modifiers), "tiers": tiers, "prorated": None, "segment": segment,
        "plan": None, "service_period": None, "pool": None, "share": None, "notes": ()}, _USAGE_FIELDS)


def _where(at: LineAt) -> str:
    """The line a diagnostic is about, in words (written only when a line cannot be priced)."""
    agg, period, info = at.aggregate, at.period, at.split
    text = (f"contract `{at.contract.name}`, meter `{agg.meter}`, {describe_dims(agg.dimensions)}, "
            f"period {period.start} to {period.end}")
    if info is not None and info.is_segment:
        text += f" (segment {info.start} to {info.end})"
    return text


def _negative(plan: RatingPlan, at: LineAt) -> Diagnostic:
    """E510: a usage line whose quantity is below zero (the negative-quantity rule,
    docs/billing.md): an error naming the line, never a negative or zero amount."""
    agg = at.aggregate
    how = plan.meters[agg.meter].aggregation
    what = how.function if how.field is None and how.expression is None else \
        f"{how.function} of `{how.text.partition(' ')[2]}`"
    events = f"{agg.events} event{'s' if agg.events != 1 else ''}"
    if how.function == "sum":
        hint = ("negative values are corrections: they net against the usage of the same line (meter, "
                "dimension values, and period, or segment where a rate changes inside it); date a "
                "correction in the period (or segment) of the usage it corrects")
    else:
        hint = (f"a `{how.function}` meter bills one value of the period, which must not be below zero; "
                "corrections are for `sum` meters")
    return error("E510", f"negative usage: {_where(at)} comes to "
                         f"{plain(agg.quantity)} ({what} over {events}); a line's quantity must not be "
                         f"below zero", hints=[hint])
