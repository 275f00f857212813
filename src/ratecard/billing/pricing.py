"""A quantity and a price -> an exact amount, with the arithmetic shown.

Nothing here rounds: the invoice line rounds the exact amount once. Each
function also returns the steps (tier by tier, packages) so `explain` and the
rendered invoices can show the derivation without redoing it.

Charge models:
- unit:       quantity / per x price
- package:    ceil(quantity / size) packages x price
- graduated:  each unit at the price of the tier it falls in; every tier the
              quantity reaches (goes above its lower bound) adds its flat amount
- volume:     every unit at the price of the tier the total falls in, plus that
              tier's flat amount; a zero quantity costs nothing

Negative quantities: usage values below zero are corrections. They net
within their line (the usage stage sums a line's events, negative ones
included), and the line is priced on what it nets to. A line that nets below
zero has nothing a price could be applied to: `price_quantity` refuses it
(`NegativeQuantity`) for every charge model, before any of them runs, so no
price form can turn it into a negative amount (or silently into zero). The
evaluator reports it as E510. Because every line is at least zero, a
period's running total (`already`) never goes below zero either.

A period split at a price change is priced segment by segment, in time order,
and a segment does not start from zero: `already` is what earlier segments of
the period used. A graduated segment bills the units from `already` on (a
tier's flat amount goes to the segment that first goes above the tier's lower
bound); a package segment bills the packages the running total opens; a volume
segment bills its own units at the tier the period's `total` falls in, and
only the `final` segment adds that tier's flat amount. With the same price in
every segment, the segments add up to exactly the unsplit amount.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from ..model import PackagePrice, Price, TieredPrice, UnitPrice
from ..money import EXACT, ZERO, plain as _fmt


class BeyondLastTier(Exception):
    """The quantity exceeds the last `up to` bound and there is no `above` tier."""

    def __init__(self, quantity: Decimal, bound: Decimal):
        super().__init__(f"quantity {quantity} is beyond the last tier (up to {bound})")
        self.quantity = quantity
        self.bound = bound


class NegativeQuantity(Exception):
    """A line whose quantity nets below zero: a correction with no usage to correct."""

    def __init__(self, quantity: Decimal):
        super().__init__(f"quantity {quantity} is below zero")
        self.quantity = quantity


@dataclass(frozen=True)
class TierStep:
    lower: Decimal
    upper: Decimal | None
    quantity: Decimal  # units billed in this tier
    unit_price: Decimal  # per price unit
    flat: Decimal
    amount: Decimal  # exact


@dataclass(slots=True)
class Priced:
    amount: Decimal  # exact, unrounded
    unit_price: Decimal | None  # the per-unit (or per-package) price, when there is one
    unit_label: str
    steps: tuple[TierStep, ...] = ()
    packages: Decimal | None = None
    derivation: tuple = ()  # what `formula` is written from, kept so pricing stays cheap

    @property
    def formula(self) -> str:
        """The arithmetic as text, for `explain` (written only when asked for)."""
        kind, *args = self.derivation or ("",)
        if kind == "unit":
            quantity, size, amount = args
            return f"{_fmt(quantity)} / {_fmt(size)} x {_fmt(amount)}"
        if kind == "package":
            quantity, already, size, amount = args
            packages = self.packages
            if not already:
                text = f"ceil({_fmt(quantity)} / {_fmt(size)}) = {_fmt(packages)} packages"
            else:
                text = (f"ceil({_fmt(already + quantity)} / {_fmt(size)}) - ceil({_fmt(already)} / "
                        f"{_fmt(size)}) = {_fmt(packages)} packages")
            return f"{text} x {_fmt(amount)}"
        if kind == "tiers":
            return f"{args[0]} tiers"
        return ""


_LABELS: dict = {}


def label_of(unit) -> str:
    """A unit's label, computed once per distinct unit (labels are formatted text)."""
    found = _LABELS.get(id(unit))
    if found is None or found[0] is not unit:  # keep the unit alive so its id stays its own
        found = _LABELS[id(unit)] = (unit, unit.label())
    return found[1]


def _per(quantity: Decimal, size: Decimal) -> Decimal:
    return EXACT.divide(quantity, size)


def price_quantity(price: Price, quantity: Decimal, *, already: Decimal = ZERO,
                   total: Decimal | None = None, final: bool = True) -> Priced:
    """Price `quantity` units; `already`, `total` and `final` place a segment in its period.

    The one check of the negative-quantity rule (see the module docstring):
    whatever the charge model, a quantity below zero is refused here.
    """
    if quantity < 0 or already < 0:
        raise NegativeQuantity(quantity if quantity < 0 else already)
    if isinstance(price, UnitPrice):
        size = price.unit.size
        per = quantity if size == 1 else EXACT.divide(quantity, size)
        amount = EXACT.multiply(per, price.amount)
        return Priced(amount, price.amount, label_of(price.unit),
                      derivation=("unit", quantity, size, price.amount))
    if isinstance(price, PackagePrice):
        return _package(price, quantity, already)
    if isinstance(price, TieredPrice):
        if price.kind == "graduated":
            steps = _graduated(price, already, already + quantity)
        else:
            steps = _volume(price, quantity, already + quantity if total is None else total, final)
        amount = sum((s.amount for s in steps), ZERO)
        return Priced(amount, None, label_of(price.unit), steps=tuple(steps),
                      derivation=("tiers", price.kind))
    raise TypeError(price)


def _packages(quantity: Decimal, size: Decimal) -> Decimal:
    return _per(quantity, size).to_integral_value(rounding=ROUND_CEILING)


def _package(price: PackagePrice, quantity: Decimal, already: Decimal) -> Priced:
    label = f"{_fmt(price.size)} {price.unit_name}"
    if not already:
        packages = _packages(quantity, price.size)
    else:
        # the packages this segment opens: a package begun earlier in the period is not bought twice
        before, after = _packages(already, price.size), _packages(already + quantity, price.size)
        packages = after - before
    amount = EXACT.multiply(packages, price.amount)
    return Priced(amount, price.amount, label, packages=packages,
                  derivation=("package", quantity, already, price.size, price.amount))


def _graduated(price: TieredPrice, start: Decimal, end: Decimal) -> list[TierStep]:
    """The units from `start` to `end` of the period's running total, tier by tier
    (0 <= start <= end: `price_quantity` refuses negative quantities)."""
    last = price.tiers[-1].up_to
    if last is not None and end > last:
        raise BeyondLastTier(end, last)
    steps = []
    lower = ZERO
    for tier in price.tiers:
        upper = tier.up_to
        if end <= lower:
            break
        top = end if upper is None else min(end, upper)
        units = max(ZERO, top - max(start, lower))
        entered = start <= lower  # the total goes above the tier's lower bound in this range
        if units > 0 or entered:
            flat = tier.flat if entered else ZERO  # once per period: where the total enters the tier
            amount = EXACT.multiply(_per(units, price.unit.size), tier.amount) + flat
            steps.append(TierStep(lower, upper, units, tier.amount, flat, amount))
        if upper is None:
            break
        lower = upper
    return steps


def full_tiers(price: TieredPrice, bound: Decimal) -> tuple[TierStep, ...]:
    """The steps of a graduated price's tiers wholly below `bound` (a tier's lower bound),
    as `price_quantity` shows them: what every quantity above `bound` bills first."""
    return tuple(_graduated(price, ZERO, bound)) if bound > 0 else ()


def _volume(price: TieredPrice, quantity: Decimal, total: Decimal, final: bool) -> list[TierStep]:
    if total <= 0:  # a zero quantity costs nothing, not the first tier's flat amount
        return []
    lower = ZERO
    for tier in price.tiers:
        if tier.up_to is None or total <= tier.up_to:
            flat = tier.flat if final else ZERO
            amount = EXACT.multiply(_per(quantity, price.unit.size), tier.amount) + flat
            return [TierStep(lower, tier.up_to, quantity, tier.amount, flat, amount)]
        lower = tier.up_to
    raise BeyondLastTier(total, price.tiers[-1].up_to)  # type: ignore[arg-type]
