"""Billing's side of rating in the engine: the rules resolved once per key, as relations.

The usage engine prices the usage lines of whole periods in SQL
(`usage/rating.py`); what each line costs is still decided here, by the
pricer (`pricer.py`), once per distinct key (line shape, meter, dimension
values, and the day when the shape's rules are dated), never per line. The
engine hands every line back with its exact and rounded amount, and
`priced` turns those figures into the `Priced` the Python pricer would have
built, so the line, `explain` and the views cannot tell the two apart; a run
that keeps no `Priced` (a JSON run) takes `shown` instead: what the line
shows of its price (unit label, unit price, tier lines), once per price where
it can.

Which lines the engine prices (the rest go through `pricing.price_quantity`
as before):
- lines of a meter that is not `weighted` (its quantity is the integral of
  step pieces, worked out in Python: `usage/result.held_aggregates`);
- lines of a contract without plan changes, for a whole billing period (a
  segment of a period split at a rate change, and a combined aggregate, are
  priced in Python: their tiers continue across segments);
- unit, package, graduated and volume prices whose per-unit price and unit
  size divide exactly (`1 / size` terminates), every figure at most 18
  decimals, none below zero; pooled tiers are priced in Python (a pool needs
  the period's other lines);
- lines the engine can compute exactly: a quantity at or above zero, within
  the last tier, with no overflow. Anything else is left to Python, which
  reports it (E502, E503, E510) as it always did.
"""

from __future__ import annotations

import datetime as dt
import decimal
import itertools
import math
from decimal import Decimal
from typing import Sequence

from ..model import Contract, PackagePrice, Price, RatingPlan, TieredPrice, UnitPrice
from ..money import EXACT, ZERO, minor_units, plain
from ..usage.rating_print import PrintedRating
from ..usage.rating_query import PriceTables, RatingRequest, fits
from ..usage.records import Window
from .documents import TierLine, tier_line
from .pricer import Pricer, as_written
from .pricing import Priced, TierStep, full_tiers, label_of

# Whether `evaluate` prices in the engine by default (`--price-in engine|python` overrides it).
# Off: measured end to end, pricing in the engine is not cheaper than pricing in Python. A JSON
# run builds an engine-priced line from the engine's figures without a `Priced` (`shown`), and
# every line without validating; what the engine's pricing still costs more is its own SQL (the
# rating query, the keys, the rated columns), more than the arithmetic it takes from Python
# (docs/scale.md, "Rating in the engine"); tests/test_engine_rating.py holds it to the Python pricer.
PRICE_IN_ENGINE = False

# The most key classes `printed` resolves (each is one rule resolution, and one row of the
# printed query): beyond it `sql --priced` is refused, naming the meter with the most.
MAX_PRINTED_KEYS = 100_000
OTHER = "(any other value)"  # the class of the dimension values no rule names (made unique below)


class TooManyKeys(Exception):
    """The printed rating would enumerate more key classes than `MAX_PRINTED_KEYS`."""

    def __init__(self, meter: str, count: int, total: int):
        super().__init__(meter, count, total)
        self.meter, self.count, self.total = meter, count, total


# Division that must terminate: a price per unit the engine multiplies by.
_DIVIDE = decimal.Context(prec=60, traps=[decimal.Inexact, decimal.InvalidOperation, decimal.DivisionByZero,
                                          decimal.Overflow])
_ONE = Decimal(1)


def _divided(amount: Decimal, size: Decimal) -> Decimal | None:
    """amount / size exactly, or None when it does not terminate (or cannot be held)."""
    try:
        value = _DIVIDE.divide(amount, size)
    except decimal.DecimalException:
        return None
    return value if fits(value) else None


class EnginePrices:
    """The prices the engine was handed, by id, and what the documents show of each."""

    def __init__(self, plan: RatingPlan, pricer: Pricer, checked: bool = False):
        self.plan, self.pricer = plan, pricer
        # figures read from a file (`sql --priced`, `invoice --aggregates`) are checked against the
        # Python pricer's, line by line (`agrees`), never billed as given: a file can be edited
        self.checked = checked
        self.prices: list[Price] = []
        self.ids: dict[int, int | None] = {}  # id(price) -> price id (None: not the engine's)
        self.below: list[tuple[tuple[TierStep, ...], ...]] = []  # per price, per tier: the full tiers below
        self.representative: dict[int, Contract] = {}  # shape -> a contract of that shape
        self.fixed: dict[int, tuple[str, Decimal | None]] = {}  # price -> (unit label, unit price) shown
        self.below_lines: dict[tuple[int, int], tuple[TierLine, ...]] = {}  # (price, tier) -> full tiers below

    def request(self, contracts: Sequence[Contract]) -> RatingRequest:
        """Which (contract, meter) lines the engine may price, and how to resolve their keys."""
        shapes = []
        for contract in contracts:
            if contract.plan_changes:  # each plan part is priced by its own plan: Python's
                continue
            for charge in self.plan.plans[contract.plan].charges:
                meter = self.plan.meters.get(charge.meter)
                if meter is None or meter.aggregation.function == "weighted":
                    continue  # a weighted line's quantity is integrated (and priced) in Python
                shape, dated = self.pricer.shape_of(contract, charge.meter)
                self.representative.setdefault(shape, contract)
                shapes.append((contract.name, charge.meter, shape, dated))
        return RatingRequest(shapes, self.resolve, minor_units(self.plan.currency), self.plan.rounding)

    def printed(self, windows: Sequence[Window], bound: int | None = None) -> PrintedRating:
        """The whole rating for a query printed before any usage is seen (`ratecard sql
        --priced`), resolved once per key *class*, never per line, for every contract of
        the plan (in name order: the fingerprint `invoice --aggregates` checks is the plan's,
        whatever part of it a run bills).

        For a (shape, meter), the dimension values that no condition of its layers' rules
        names all resolve alike: each value some rule names is its own class, every other
        value one class (`other`), and an absent value its own. The classes are the product
        of those per dimension, times, when the shape's rules are dated, the first days of
        its contracts' billing periods (a whole-period line is priced as of that day).
        Deterministic: the same plan, contracts and windows give the same relations, so
        `invoice --aggregates` recomputes them to check the file's fingerprint.
        Raises `TooManyKeys` beyond `bound` classes (default `MAX_PRINTED_KEYS`)."""
        bound = MAX_PRINTED_KEYS if bound is None else bound
        contracts = sorted(self.plan.contracts.values(), key=lambda c: c.name)
        request = self.request(contracts)
        width = max((len(m.dimensions) for m in self.plan.meters.values()), default=0)
        named: dict[str, list[set[str]]] = {}
        contract_of = {c.name: c for c in contracts}
        for contract_name, meter, _shape, _dated in request.shapes:
            names = self.plan.meters[meter].dimension_names
            sets = named.setdefault(meter, [set() for _ in names])
            for layer in self.pricer.layers_of(contract_of[contract_name], meter):
                for rule in layer.card.rules:
                    for condition in rule.conditions:
                        if condition.key in names:
                            sets[names.index(condition.key)].update(condition.values)
        other = OTHER
        while any(other in s for sets in named.values() for s in sets):
            other += "~"
        days: dict[int, set[dt.date]] = {}
        periods: dict[str, set[dt.date]] = {}
        for w in windows:
            if w.meter is None:
                start = w.start if w.start.tzinfo is None else w.start.astimezone(dt.UTC)
                periods.setdefault(w.contract, set()).add(start.date())
        classes: dict[tuple[int, str], tuple[bool, list]] = {}
        for contract_name, meter, shape, dated in request.shapes:
            if dated:
                days.setdefault(shape, set()).update(periods.get(contract_name, ()))
            classes.setdefault((shape, meter), (dated, [[None, *sorted(s), other] for s in named[meter]]))
        counts: dict[str, int] = {}
        for (shape, meter), (dated, values) in classes.items():
            count = math.prod(len(v) for v in values) * (len(days.get(shape, ())) if dated else 1)
            counts[meter] = counts.get(meter, 0) + count
        total = sum(counts.values())
        if total > bound:
            meter = max(sorted(counts), key=lambda m: counts[m])
            raise TooManyKeys(meter, counts[meter], total)
        keys = []
        for (shape, meter), (dated, values) in classes.items():
            pad = (None,) * (width - len(values))
            for day in (sorted(days.get(shape, ())) if dated else [None]):
                keys.extend((shape, meter, day, *combo, *pad) for combo in itertools.product(*values))
        frozen = {m: tuple(frozenset(s) for s in sets) for m, sets in named.items()}
        return PrintedRating(request.shapes, self.resolve(keys), frozen, other, request.minor_units,
                             request.rounding)

    def resolve(self, keys: list[tuple]) -> PriceTables:
        """(shape, meter, day, d0..) -> the price of each key the engine can price exactly."""
        rates: dict[int, tuple] = {}
        tiers: list[tuple] = []
        priced_keys = []
        for shape, meter, day, *values in keys:
            contract = self.representative[shape]
            names = self.plan.meters[meter].dimension_names
            dims = tuple(zip(names, values))
            dated = day is not None
            facts = self.pricer.facts(contract, meter, dims, day or dt.date.min, (shape, dated))
            if facts is None:
                continue  # unpriced: Python reports it (E502)
            price_id = self._price_id(facts.resolution.price, rates, tiers)
            if price_id is not None:
                priced_keys.append((shape, meter, day, *values, price_id))
        return PriceTables(priced_keys, rates, tiers)

    def _price_id(self, price: Price, rates: dict[int, tuple], tiers: list[tuple]) -> int | None:
        found = self.ids.get(id(price), -1)
        if found != -1 and (found is None or found in rates):
            return found
        row, tier_rows = _relations(price)
        if row is None:
            self.ids[id(price)] = None
            return None
        if found == -1:
            found = len(self.prices)
            self.prices.append(price)
            self.below.append(tuple(full_tiers(price, t[1]) for t in tier_rows)
                              if isinstance(price, TieredPrice) and price.kind == "graduated" else ())
            self.ids[id(price)] = found
        rates[found] = row
        tiers.extend((found, *t) for t in tier_rows)
        return found

    def agrees(self, priced: Priced, amount: Decimal, rated: tuple) -> bool:
        """A file's figures for a line are what the Python pricer makes of its quantity:
        the same exact amount (`priced`) and the same amount rounded once (`amount`)."""
        return rated[1] == amount and rated[2] == priced.amount

    def priced(self, price: Price, quantity: Decimal, rated: tuple) -> Priced | None:
        """The engine's figures for a line as the Python pricer's `Priced`; None when they are
        not for this price (then the line is priced in Python)."""
        if not self._figures_for(price, rated):
            return None
        price_id, _amount, exact, packages, tier, units, last = rated
        label = _unit_label(price)
        if isinstance(price, UnitPrice):
            return Priced(exact, price.amount, label, derivation=("unit", quantity, price.unit.size, price.amount))
        if isinstance(price, PackagePrice):
            return Priced(exact, price.amount, label, packages=packages,
                          derivation=("package", quantity, ZERO, price.size, price.amount))
        if tier is None:  # a zero quantity: no tier reached
            return Priced(ZERO, None, label, derivation=("tiers", price.kind))
        t = price.tiers[tier]
        lower = price.tiers[tier - 1].up_to if tier else ZERO
        if price.kind == "graduated":
            steps = self.below[price_id][tier] + (TierStep(lower, t.up_to, units, t.amount, t.flat, last),)
        else:
            steps = (TierStep(lower, t.up_to, quantity, t.amount, t.flat, last),)
        return Priced(exact, None, label, steps=steps, derivation=("tiers", price.kind))

    def shown(self, price: Price, quantity: Decimal, rated: tuple) -> tuple | None:
        """What the line shows of the engine's pricing -- (unit label, unit price, tier lines) --
        without a `Priced`: the line's fields `priced` would lead to, for a run that keeps no
        `Priced` (a JSON run); None when the figures are not for this price."""
        if not self._figures_for(price, rated):
            return None
        price_id, _amount, _exact, _packages, tier, units, last = rated
        found = self.fixed.get(price_id)
        if found is None:  # once per price: its label and unit price (the tiers' come per line)
            unit_price = None if isinstance(price, TieredPrice) else self.pricer.exact(price.amount)
            found = self.fixed[price_id] = (_unit_label(price), unit_price)
        if tier is None or not isinstance(price, TieredPrice):  # a zero quantity reaches no tier
            return (*found, [])
        t = price.tiers[tier]
        exact = self.pricer.exact
        lower = price.tiers[tier - 1].up_to if tier else ZERO
        upper = exact(t.up_to) if t.up_to is not None else None
        if price.kind == "graduated":
            return (*found, [*self._below(price_id, tier),
                             tier_line(exact(lower), upper, as_written(units), exact(t.amount), exact(t.flat),
                                       as_written(last))])
        return (*found, [tier_line(exact(lower), upper, as_written(quantity), exact(t.amount), exact(t.flat),
                                   as_written(last))])

    def _figures_for(self, price: Price, rated: tuple) -> bool:
        """The engine's figures are for `price` (the one its id names, or an equal copy: a
        modifier scales a copy per resolution) and are figures it can give (a tier it has,
        with its units; a file edited by hand may say otherwise): else Python prices the line."""
        price_id, _amount, _exact, _packages, tier, units, last = rated
        if price_id >= len(self.prices):
            return False
        known = self.prices[price_id]
        if known is not price and known != price:
            return False
        return not (isinstance(price, TieredPrice) and tier is not None and not (
            0 <= tier < len(price.tiers) and units is not None and last is not None))

    def _below(self, price_id: int, tier: int) -> tuple[TierLine, ...]:
        """The tier lines of a graduated price's full tiers below `tier`, built once."""
        found = self.below_lines.get((price_id, tier))
        if found is None:
            exact = self.pricer.exact
            found = self.below_lines[(price_id, tier)] = tuple(
                tier_line(exact(s.lower), exact(s.upper) if s.upper is not None else None,
                          as_written(s.quantity), exact(s.unit_price), exact(s.flat), as_written(s.amount))
                for s in self.below[price_id][tier])
        return found


def _unit_label(price: Price) -> str:
    """What a line shows its quantity in: the price's unit, or its package (`100 GB`)."""
    if isinstance(price, PackagePrice):
        return f"{plain(price.size)} {price.unit_name}"
    return label_of(price.unit)


def _relations(price: Price) -> tuple[tuple | None, list[tuple]]:
    """A price as the engine's rows: (form, rate, inverse size, amount) and its tiers
    (index, lower, upper, rate, flat, base); (None, []) when the engine cannot price it exactly."""
    # the Python pricer divides the quantity by the size first: only a size whose inverse
    # terminates keeps that exact, and so the two sides equal to the last digit
    if isinstance(price, (UnitPrice, TieredPrice)) and _divided(_ONE, price.unit.size) is None:
        return None, []
    if isinstance(price, UnitPrice):
        rate = _divided(price.amount, price.unit.size)
        return (("unit", rate, None, None) if rate is not None and fits(price.amount) else None), []
    if isinstance(price, PackagePrice):
        inverse = _divided(_ONE, price.size)
        ok = inverse is not None and fits(price.amount)
        return (("package", None, inverse, price.amount) if ok else None), []
    if isinstance(price, TieredPrice) and not price.pooled:
        rows = []
        lower, below = ZERO, ZERO  # the cost of the full tiers below this one
        for index, tier in enumerate(price.tiers):
            rate = _divided(tier.amount, price.unit.size)
            if rate is None or not fits(tier.flat) or not fits(lower) or not fits(tier.up_to):
                return None, []
            base = below + tier.flat
            if not fits(base):
                return None, []
            rows.append((index, lower, tier.up_to, rate, tier.flat, base))
            if tier.up_to is None:
                break
            below = base + EXACT.multiply(EXACT.divide(tier.up_to - lower, price.unit.size), tier.amount)
            lower = tier.up_to
        return (price.kind, None, None, None), rows
    return None, []
