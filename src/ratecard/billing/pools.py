"""Pooled tiers: the lines of a pool priced together, then shared by largest remainder.

`charge M : pooled graduated|volume { tiers }` fills its tiers with the sum of
the charge's quantities over all its lines of the period, not line by line
(object storage: the account's total GB-months reach the cheaper tiers, while
the invoice keeps one line per bucket). So a pooled line cannot be priced on
its own: `lines.py` prices every usage line of the period first, and only then,
when the period's lines are all known, `share_pools` prices each pool and
gives each of its lines its share.

    pool     = the usage lines of one period priced by the same pooled rule (the
               same winning rule and modifiers: `segments.pricing_key`), in
               invoice line order; a line another rule prices is not in it
    quantity = the sum of the lines' quantities as shown on them
    total    = the tier price of that quantity (`pricing.price_quantity`, from
               zero, or from the earlier pools' quantity when the period is split
               at a rate change: `_place_in_period`), exact, rounded ONCE
    shares   = total x q_i / Q in minor units, exactly (fractions); each floored,
               the minor units left go one each to the largest fractional
               remainders, ties to the line that comes first on the invoice;
               Q = 0 gives the whole total to the first line

The line amounts therefore add up to the rounded total exactly, and no line is
rounded twice. Why per winning rule: lines priced by different rules have
different tiers, so they cannot fill one set of tiers (an override for one
bucket takes that bucket out of the pool). A rate change inside the period
that changes the pooled rule starts a new pool whose tiers continue from the
earlier pools' quantity, as a line's segments do (docs/billing.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from ..diagnostics import error
from ..model import TieredPrice
from ..money import EXACT, ZERO, minor_units, plain, units
from ..usage.overflow import BOUND, HOLDS
from .documents import PoolLine, TierLine
from .places import tiers_note
from .pricer import as_written
from .pricing import BeyondLastTier, Priced, price_quantity
from .segments import pricing_key


@dataclass(frozen=True)
class PoolShare:
    """What `explain` shows of a pooled line: its pool and how its share came about."""

    quantity: Decimal  # the pool's quantity: the sum of its lines' quantities
    priced: Priced  # the pool's tiers and exact amount
    total: Decimal  # the pool's amount, rounded once
    lines: int  # how many lines share it
    exact_share: Fraction  # total x q / Q, in currency units, before the remainder rule
    bonus: bool  # the line got one minor unit from the largest remainder rule
    already: Decimal = ZERO  # the quantity of the charge's earlier pools in the period (tiers continue)


def exact_decimal(value: Fraction) -> Decimal:
    """An exact share as a decimal for display (60 significant digits when it does not terminate)."""
    return EXACT.divide(Decimal(value.numerator), Decimal(value.denominator))


def is_pooled(resolution) -> bool:
    price = resolution.price if resolution is not None else None
    return isinstance(price, TieredPrice) and price.pooled


def largest_remainder(total_minor: int, weights: list[Decimal]) -> tuple[list[int], list[Fraction], list[bool]]:
    """`total_minor` minor units shared in proportion to `weights`: (the shares, their exact
    values, which got a unit from the remainder). Floors (toward negative infinity), then one
    unit each to the largest remainders, ties to the earlier weight. All-zero weights: the
    whole total to the first."""
    n = len(weights)
    whole = sum((Fraction(w) for w in weights), Fraction(0))
    if whole == 0:
        exact = [Fraction(total_minor) if i == 0 else Fraction(0) for i in range(n)]
    else:
        exact = [Fraction(total_minor) * Fraction(w) / whole for w in weights]
    floors = [math.floor(x) for x in exact]
    left = total_minor - sum(floors)
    ranked = sorted(range(n), key=lambda i: (-(exact[i] - floors[i]), i))
    bonus = [False] * n
    for i in ranked[:left]:
        bonus[i] = True
        floors[i] += 1
    return floors, exact, bonus


def share_pools(run, items: list[tuple]) -> tuple[list[tuple], dict[int, PoolShare]]:
    """The period's usage items (`lines.usage_lines`'s tuples, in invoice line order) with
    every pooled line's amount replaced by its share of its pool, and each pooled line's
    `PoolShare` by position. A pool beyond its last tier is E503, and one whose quantity is
    past DECIMAL(38, 18) E506, once, on its first line; its other lines are left out (line
    None), never billed on their own."""
    pools: dict[tuple, list[int]] = {}
    for index, (agg, line, _priced, resolution, _info, problem) in enumerate(items):
        if problem is None and is_pooled(resolution):
            pools.setdefault((agg.meter, pricing_key(resolution)), []).append(index)
    shares_of: dict[int, PoolShare] = {}
    if not pools:
        return items, shares_of
    out = list(items)
    digits = minor_units(run.plan.currency)
    scale = Fraction(10) ** digits
    sizes = {key: sum((items[i][1].quantity for i in members), ZERO) for key, members in pools.items()}
    spans = {key: _span(items, members) for key, members in pools.items()}
    for key, members in pools.items():
        first = items[members[0]]
        quantities = [items[i][1].quantity for i in members]
        quantity = sizes[key]
        already, total, final = _place_in_period(key, spans, sizes)
        lines = f"{len(members)} line{'s' if len(members) != 1 else ''}"
        problem = None
        if abs(quantity) >= BOUND:
            # each line is within DECIMAL(38, 18), their sum is not: the same usage in one line
            # is E506 (the engine's sum overflows), so pooled it is too, never billed
            problem = error("E506", f"usage total past the exact range: the pool of `{first[0].meter}` "
                                    f"({lines}) comes to {plain(quantity)}, past {HOLDS}, as a `sum` "
                                    "meter's total does", hints=[
                "ratecard never rounds a quantity: check the events' values and their unit, or measure "
                "the meter in a larger unit and price it per that unit"])
        else:
            try:
                priced = price_quantity(first[3].price, quantity, already=already, total=total, final=final)
            except BeyondLastTier as exc:
                note = tiers_note(run.spans, first[3].base.id, plain(exc.bound))
                problem = error(
                    "E503", f"usage beyond the last tier: the pool of `{first[0].meter}` ({lines}) comes to "
                            f"{units(exc.quantity)}, but the tiers stop at `up to {plain(exc.bound)}`",
                    hints=["add an `above : PRICE` tier; a pooled charge's tiers are filled by the "
                           "sum of its lines' quantities"], notes=[note] if note is not None else [])
        if problem is not None:  # once, on the pool's first line; its other lines are never billed alone
            out[members[0]] = (*first[:5], problem)
            for i in members[1:]:
                out[i] = (items[i][0], None, None, None, None, None)
            continue
        total = run.money(priced.amount)
        shares, exact, bonus = largest_remainder(int(total.scaleb(digits)), quantities)
        tiers = [TierLine(lower=as_written(s.lower), upper=as_written(s.upper) if s.upper is not None else None,
                          quantity=as_written(s.quantity), unit_price=as_written(s.unit_price),
                          flat=as_written(s.flat), amount=as_written(s.amount))
                 for s in priced.steps]
        pool_doc = PoolLine(quantity=as_written(quantity), amount=total, lines=len(members))
        for k, i in enumerate(members):
            agg, line, _old, resolution, info, _ = items[i]
            amount = Decimal(shares[k]).scaleb(-digits, context=EXACT).quantize(total)
            out[i] = (agg, line.model_copy(update={"amount": amount, "unit_price": None, "tiers": tiers,
                                                   "pool": pool_doc}),
                      priced, resolution, info, None)
            shares_of[i] = PoolShare(quantity, priced, total, len(members), exact[k] / scale, bonus[k], already)
    return out, shares_of


def _span(items: list[tuple], members: list[int]) -> tuple | None:
    """The stretch of the period a pool's lines bill: None when one of them is the whole period."""
    infos = [items[i][4] for i in members]
    if any(info is None or not info.is_segment for info in infos):
        return None
    return min(info.start for info in infos), max(info.end for info in infos)


def _place_in_period(key: tuple, spans: dict, sizes: dict) -> tuple[Decimal, Decimal, bool]:
    """(already, total, final) of a pool, as `price_quantity` takes them for a segment.

    A period split where the charge's rates change bills the segments priced by another
    rule as another pool; its tiers continue from the quantities of the charge's pools
    that lie wholly before it in the period (what `already` does for one line's segments),
    a volume tier is chosen by the total of the pools in that sequence, and only the last
    adds the tier's flat amount. Pools that overlap in time (two rules on different
    dimension values) are separate: each fills its tiers from zero."""
    span = spans[key]
    if span is None:
        return ZERO, sizes[key], True
    before = after = ZERO
    later = False
    for other, other_span in spans.items():
        if other == key or other[0] != key[0] or other_span is None:
            continue
        if other_span[1] <= span[0]:
            before += max(sizes[other], ZERO)
        elif other_span[0] >= span[1]:
            after += sizes[other]
            later = later or sizes[other] != 0
    return before, before + sizes[key] + after, not later
