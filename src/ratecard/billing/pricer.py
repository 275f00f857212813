"""The pricer: which rule prices a usage line, worked out once per line shape.

A usage line is priced by the rules (`ratecard.rules`) that match its
contract, meter and dimension values on its first day. Resolving them is
the costly part of pricing a line, so `Pricer` caches it per *shape*: per
(plan, meter, the contract when it overrides the meter, contract dimensions),
the line's dimension values, and the day when the rules are dated. Pricing
a million aggregates resolves each distinct line shape once; what a line
priced by a resolution shows (its rule, modifiers, title) is written then
too (`LineFacts`), so only the arithmetic is done per line.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import NamedTuple

from .. import rules
from ..model import Contract, Plan, RatingPlan
from ..money import plain
from .segments import Change, changes

_MISSING = object()
_ONE = Decimal(1)


class LineFacts(NamedTuple):
    """A resolution and what a line priced by it shows, shared by every line of its shape."""

    resolution: rules.Resolution
    rule: str
    modifiers: tuple[str, ...]
    dimensions: dict[str, str]  # the line's present dimension values (copied by each Line)
    title: str


def as_written(value: Decimal) -> Decimal:
    """A quantity or unit price as written: exact, without storage zeros."""
    exponent = value.as_tuple().exponent
    if exponent == 0:
        return value
    if exponent > 0 or value == value.to_integral_value():
        return value.quantize(_ONE)
    return Decimal(plain(value))


def describe_dims(dims: tuple) -> str:
    """A line's dimension values in words, for diagnostics."""
    shown = ", ".join(f'{k} = "{v}"' for k, v in dims if v is not None)
    return shown or "no dimensions"


def line_attributes(contract: Contract, dims: tuple) -> dict[str, str]:
    """What rules match a line on: the contract's attributes and the line's present values."""
    return rules.line_attributes(contract, {k: v for k, v in dims if v is not None})


class Pricer:
    """Prices usage aggregates for one plan, caching rule resolution."""

    def __init__(self, plan: RatingPlan, explain: bool = True):
        self.plan = plan
        self.explain = explain  # keep each resolution's candidates (for `explain`)
        self.cache: dict[tuple, LineFacts | None] = {}
        self.shape_ids: dict[tuple[str, str, str], tuple[int, bool]] = {}
        self.interned: dict[tuple, int] = {}
        self.layers: dict[tuple[str, str, str], tuple[rules.Layer, ...]] = {}

        self.changes: dict[tuple[str, str, str], tuple[Change, ...]] = {}
        self.descriptions: dict[int, tuple[str, tuple[str, ...]]] = {}
        self.normal: dict[Decimal, Decimal] = {}
        self.orders: dict[str, dict[str, int]] = {}
        self.dim_keys: dict[tuple, tuple] = {}

    def layers_of(self, contract: Contract, meter: str) -> tuple[rules.Layer, ...]:
        lk = (contract.name, contract.plan, meter)
        if lk not in self.layers:
            self.layers[lk] = rules.layers_for(self.plan, contract, meter)
        return self.layers[lk]

    def changes_of(self, contract: Contract, meter: str) -> tuple[Change, ...]:
        lk = (contract.name, contract.plan, meter)
        if lk not in self.changes:
            self.changes[lk] = changes(self.layers_of(contract, meter))
        return self.changes[lk]

    def resolve(self, contract: Contract, meter: str, dims: tuple, day: dt.date):
        """The resolution for a line; cached per *shape*, not per contract.

        Contracts that share a plan, have no override for the meter and carry
        the same dimensions resolve alike, so ten thousand contracts on three
        plans resolve each (meter, dimension values) a handful of times. The
        day matters only when the layers carry dated rules.
        """
        facts = self.facts(contract, meter, dims, day)
        return None if facts is None else facts.resolution

    def facts(self, contract: Contract, meter: str, dims: tuple, day: dt.date,
              shape: tuple[int, bool] | None = None) -> LineFacts | None:
        """What every line of this shape shares: the resolution and what it prints.

        One dictionary lookup per line for the shape (interned to a number;
        `shape` when the caller has looked it up already) and one for the line;
        everything else is worked out on a shape's first line.
        """
        shape, dated = shape or self.shape_of(contract, meter)
        key = (shape, dims, day) if dated else (shape, dims)
        found = self.cache.get(key, _MISSING)
        if found is _MISSING:
            present = {k: v for k, v in dims if v is not None}
            attrs = rules.line_attributes(contract, present)
            resolution = rules.resolve(self.layers_of(contract, meter), attrs, day, explain=self.explain)
            found = self.cache[key] = None if resolution is None else LineFacts(
                resolution, *self.describe(resolution), present, self.plan.meters[meter].title)
        return found

    def describe(self, resolution: rules.Resolution) -> tuple[str, tuple[str, ...]]:
        """The winning rule's origin and the modifiers' text, once per resolution."""
        key = id(resolution)
        found = self.descriptions.get(key)
        if found is None:
            origins = self.plan.origins
            found = self.descriptions[key] = (
                origins.get(resolution.base.id, resolution.base.id),
                tuple(f"{plain(r.action.percent)}% {r.action.direction} ({origins.get(r.id, r.id)})"
                      for r, _ in resolution.modifiers))
        return found

    def exact(self, value: Decimal) -> Decimal:
        """`as_written` for the few distinct prices and tier bounds of a plan, memoised."""
        found = self.normal.get(value)
        if found is None:
            found = self.normal[value] = as_written(value)
        return found

    def shape_of(self, contract: Contract, meter: str) -> tuple[int, bool]:
        """(the shape as a number, whether its rules are dated), worked out once per
        (contract, meter). A shape is what a resolution depends on besides the
        line: plan, meter, the contract when it overrides the meter, contract
        dimensions."""
        found = self.shape_ids.get((contract.name, contract.plan, meter))
        if found is None:
            shape = (contract.plan, meter, contract.name if meter in contract.overrides else None,
                     tuple(sorted(contract.dimensions.items())))
            found = self.shape_ids[(contract.name, contract.plan, meter)] = (
                self.interned.setdefault(shape, len(self.interned)), bool(self.changes_of(contract, meter)))
        return found

    def charge_order(self, plan: Plan) -> dict[str, int]:
        """Meter name -> its position among the plan's charges (lines follow it)."""
        found = self.orders.get(plan.name)
        if found is None:
            found = self.orders[plan.name] = {c.meter: i for i, c in enumerate(plan.charges)}
        return found

    def dims_key(self, dims: tuple) -> tuple:
        """How lines of one meter sort by dimension values: absent first, then by text."""
        found = self.dim_keys.get(dims)
        if found is None:
            found = self.dim_keys[dims] = tuple((v is not None, v or "") for _, v in dims)
        return found
