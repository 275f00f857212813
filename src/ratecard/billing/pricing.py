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


@dataclass(frozen=True)
class TierStep:
    lower: Decimal
    upper: Decimal | None
    quantity: Decimal  # units billed in this tier
    unit_price: Decimal  # per price unit
    flat: Decimal
    amount: Decimal  # exact


@dataclass(frozen=True)
class Priced:
    amount: Decimal  # exact, unrounded
    unit_price: Decimal | None  # the per-unit (or per-package) price, when there is one
    unit_label: str
    steps: tuple[TierStep, ...] = ()
    packages: Decimal | None = None
    formula: str = ""


def _per(quantity: Decimal, size: Decimal) -> Decimal:
    return EXACT.divide(quantity, size)


def price_quantity(price: Price, quantity: Decimal) -> Priced:
    if isinstance(price, UnitPrice):
        amount = EXACT.multiply(_per(quantity, price.unit.size), price.amount)
        return Priced(amount, price.amount, price.unit.label(),
                      formula=f"{_fmt(quantity)} / {_fmt(price.unit.size)} x {_fmt(price.amount)}")
    if isinstance(price, PackagePrice):
        packages = _per(quantity, price.size).to_integral_value(rounding=ROUND_CEILING)
        amount = EXACT.multiply(packages, price.amount)
        return Priced(amount, price.amount, f"{_fmt(price.size)} {price.unit_name}", packages=packages,
                      formula=f"ceil({_fmt(quantity)} / {_fmt(price.size)}) = {_fmt(packages)} packages "
                              f"x {_fmt(price.amount)}")
    if isinstance(price, TieredPrice):
        steps = _graduated(price, quantity) if price.kind == "graduated" else _volume(price, quantity)
        amount = sum((s.amount for s in steps), ZERO)
        return Priced(amount, None, price.unit.label(), steps=tuple(steps),
                      formula=f"{price.kind} tiers")
    raise TypeError(price)


def _graduated(price: TieredPrice, quantity: Decimal) -> list[TierStep]:
    steps = []
    lower = ZERO
    for tier in price.tiers:
        upper = tier.up_to
        if quantity <= lower:
            break
        top = quantity if upper is None else min(quantity, upper)
        units = top - lower
        amount = EXACT.multiply(_per(units, price.unit.size), tier.amount) + tier.flat
        steps.append(TierStep(lower, upper, units, tier.amount, tier.flat, amount))
        if upper is None:
            break
        lower = upper
    last = price.tiers[-1].up_to
    if last is not None and quantity > last:
        raise BeyondLastTier(quantity, last)
    return steps


def _volume(price: TieredPrice, quantity: Decimal) -> list[TierStep]:
    if quantity <= 0:
        return []
    lower = ZERO
    for tier in price.tiers:
        if tier.up_to is None or quantity <= tier.up_to:
            amount = EXACT.multiply(_per(quantity, price.unit.size), tier.amount) + tier.flat
            return [TierStep(lower, tier.up_to, quantity, tier.amount, tier.flat, amount)]
        lower = tier.up_to
    raise BeyondLastTier(quantity, price.tiers[-1].up_to)  # type: ignore[arg-type]

