"""Which price applies: layered rate cards, specificity, `default`, modifiers.

For one usage line (a contract, a meter, one combination of dimension values)
the layers are, highest first: the contract's override for the meter, the
plan's charge price, the meter's rate card. The base price is the most
specific matching price rule of the highest layer that has any match; then
every matching modifier of that layer or a higher one applies, most specific
first. A price negotiated in the contract layer is therefore final: lower
layers' modifiers never touch it.

The same module answers the compiler's static question, "can these two rules
ever match the same line?", which is what makes two equally specific rules
ambiguous. The evaluator and the compiler share this one definition of a match.
"""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Iterable, Mapping

from .model import (
    Condition,
    Contract,
    Meter,
    Plan,
    Modifier,
    PackagePrice,
    Price,
    RateCard,
    RatingPlan,
    Rule,
    Tier,
    TieredPrice,
    Unit,
    UnitPrice,
)

@dataclass(frozen=True)
class Layer:
    """One rate card in the stack for a (contract, meter), named for explanations."""

    kind: str  # contract | plan | meter
    owner: str  # "contract acme", "plan pro", "meter LLM_TOKENS"
    card: RateCard


def layers_for(plan: RatingPlan, contract: Contract, meter_name: str) -> tuple[Layer, ...]:
    """The rate cards that can price `meter_name` for `contract`, highest first."""
    layers: list[Layer] = []
    override = contract.overrides.get(meter_name)
    if override is not None:
        layers.append(Layer("contract", f"contract {contract.name}", override))
    contract_plan = plan.plans.get(contract.plan)
    charge = contract_plan.charge(meter_name) if contract_plan else None
    if charge is not None and charge.rates is not None:
        layers.append(Layer("plan", f"plan {contract_plan.name}", charge.rates))
    meter = plan.meters.get(meter_name)
    if meter is not None and meter.rates is not None:
        layers.append(Layer("meter", f"meter {meter.name}", meter.rates))
    return tuple(layers)


def line_attributes(contract: Contract, dimensions: Mapping[str, str]) -> dict[str, str]:
    """What conditions test: the contract's dimensions, then the line's own (which win)."""
    attrs = dict(contract.dimensions)
    attrs.update(dimensions)
    return attrs


def active_on(rule: Rule, day: dt.date | None) -> bool:
    if day is None:
        return True
    if rule.valid_from is not None and day < rule.valid_from:
        return False
    if rule.valid_until is not None and day >= rule.valid_until:
        return False
    return True


@dataclass(frozen=True)
class Candidate:
    """A rule considered for a line, and what became of it (for `explain`)."""

    rule: Rule
    layer: Layer
    matched: bool
    outcome: str  # "won", "applied", "matched, less specific", "lower layer", "no match", ...


@dataclass(frozen=True)
class Resolution:
    """The outcome of pricing one line: the winning rule, modifiers, the final price."""

    base: Rule
    base_layer: Layer
    modifiers: tuple[tuple[Rule, Layer], ...]
    price: Price  # the base price scaled by every modifier
    candidates: tuple[Candidate, ...] = field(default=(), compare=False)

    @property
    def factor(self) -> Decimal:
        f = Decimal(1)
        for rule, _ in self.modifiers:
            f *= rule.action.factor  # type: ignore[union-attr]
        return f


def _by_specificity(rules: Iterable[Rule]) -> list[Rule]:
    # most specific first; ties keep a stable, order-independent key (the id's
    # position can differ between formattings, so sort by conditions' text)
    return sorted(rules, key=lambda r: (-r.specificity, _condition_key(r), r.id))


def _condition_key(rule: Rule) -> tuple:
    return tuple((c.key, c.op, c.values) for c in rule.conditions)


def resolve(layers: tuple[Layer, ...], attrs: Mapping[str, str],
            day: dt.date | None = None, *, explain: bool = True) -> Resolution | None:
    """Price a line described by `attrs`, or None when no rule prices it.

    `explain=False` leaves out `candidates` (every rule's outcome, which only
    `explain` shows): a run that streams invoices never reads them.

    When the compiler reported no ambiguity, the result does not depend on the
    order the rules were written in: the base is the unique most specific match
    (equal-specificity matches must have equal actions), and modifiers commute.
    """
    candidates: list[Candidate] = []
    base: Rule | None = None
    base_index = -1
    for index, layer in enumerate(layers):
        prices = [r for r in layer.card.rules
                  if not r.is_modifier and active_on(r, day) and r.matches(attrs)]
        if prices:
            ranked = _by_specificity(prices)
            base = ranked[0]
            base_index = index
            break
    if base is None:
        return None

    modifiers: list[tuple[Rule, Layer]] = []
    for index, layer in enumerate(layers[: base_index + 1]):
        mods = [r for r in layer.card.rules
                if r.is_modifier and active_on(r, day) and r.matches(attrs)]
        modifiers.extend((r, layer) for r in _by_specificity(mods))

    for index, layer in enumerate(layers if explain else ()):
        for rule in layer.card.rules:
            matched = active_on(rule, day) and rule.matches(attrs)
            if rule is base:
                outcome = "won"
            elif any(rule is m for m, _ in modifiers):
                outcome = "applied"
            elif not active_on(rule, day):
                outcome = "not in effect"
            elif not matched:
                outcome = "no match"
            elif rule.is_modifier:
                outcome = "lower layer than the price (a negotiated price is final)"
            elif index > base_index:
                outcome = "lower layer"
            else:
                outcome = "less specific"
            candidates.append(Candidate(rule, layer, matched, outcome))

    factor = Decimal(1)
    for rule, _ in modifiers:
        factor *= rule.action.factor  # type: ignore[union-attr]
    price = scale(base.action, factor)  # type: ignore[arg-type]
    return Resolution(base, layers[base_index], tuple(modifiers), price, tuple(candidates))


def scale(price: Price, factor: Decimal) -> Price:
    """A price with every amount multiplied by `factor` (exactly; rounding comes later)."""
    if factor == 1:
        return price
    if isinstance(price, UnitPrice):
        return price.model_copy(update={"amount": price.amount * factor})
    if isinstance(price, PackagePrice):
        return price.model_copy(update={"amount": price.amount * factor})
    if isinstance(price, TieredPrice):
        tiers = tuple(Tier(up_to=t.up_to, amount=t.amount * factor, flat=t.flat * factor)
                      for t in price.tiers)
        return price.model_copy(update={"tiers": tiers})
    raise TypeError(f"not a price: {price!r}")


# ----------------------------------------------------------------- static analysis


@dataclass(frozen=True)
class ValueSet:
    """The values of one key that a set of conditions admits.

    `inclusive=True`: exactly `values`. `inclusive=False`: anything but `values`
    (a missing key included).
    """

    inclusive: bool
    values: frozenset[str]

    @classmethod
    def of(cls, condition: Condition) -> "ValueSet":
        return cls(condition.positive, frozenset(condition.values))

    def meet(self, other: "ValueSet") -> "ValueSet":
        if self.inclusive and other.inclusive:
            return ValueSet(True, self.values & other.values)
        if self.inclusive:
            return ValueSet(True, self.values - other.values)
        if other.inclusive:
            return ValueSet(True, other.values - self.values)
        return ValueSet(False, self.values | other.values)

    def within(self, universe: frozenset[str] | None) -> "ValueSet":
        if universe is None:
            return self
        if self.inclusive:
            return ValueSet(True, self.values & universe)
        return ValueSet(True, universe - self.values)

    @property
    def empty(self) -> bool:
        """No value is admitted (an exclusive set always admits some other value)."""
        return self.inclusive and not self.values


def satisfiable(conditions: Iterable[Condition],
                universes: Mapping[str, frozenset[str]] | None = None) -> bool:
    """Can some line satisfy all `conditions` at once?

    The `ValueSet` algebra (meet, then `within` the declared values), on plain
    tuples: the compiler asks this for every rule and every pair of rules.
    """
    by_key: dict[str, tuple[bool, frozenset[str]]] = {}
    for c in conditions:
        inclusive = c.op == "=" or c.op == "in"
        values = frozenset(c.values)
        prev = by_key.get(c.key)
        if prev is not None:
            if prev[0] and inclusive:
                values = prev[1] & values
            elif prev[0]:
                inclusive, values = True, prev[1] - values
            elif inclusive:
                values = values - prev[1]
            else:
                values = prev[1] | values
        by_key[c.key] = (inclusive, values)
    for key, (inclusive, values) in by_key.items():
        universe = universes.get(key) if universes else None
        if universe is not None:
            values = values & universe if inclusive else universe - values
            inclusive = True
        if inclusive and not values:
            return False
    return True


def version_key(rule: Rule) -> tuple:
    """What makes two rules of one card versions of the same rule: price or modifier,
    and the same conditions (in any order; `=` is `in` of one value)."""
    conds = frozenset(("in" if c.op in ("=", "in") else "not in", c.key, frozenset(c.values))
                      for c in rule.conditions)
    return (rule.is_modifier, rule.is_default, conds)


def close_versions(rules: Iterable[Rule]) -> list[Rule]:
    """Each version of a rule that states no `until` ends where the next version of the
    same rule (a later `from`) starts: a price change is written once, with its date.

    The starts of each rule's versions are sorted once and the next one found by
    bisection, so a card of thousands of versions closes in n log n."""
    rules = list(rules)
    starts: dict[tuple, list[dt.date]] = {}
    for r in rules:
        if r.valid_from is not None:
            starts.setdefault(version_key(r), []).append(r.valid_from)
    for days in starts.values():
        days.sort()
    out = []
    for r in rules:
        if r.valid_until is None:
            days = starts.get(version_key(r))
            if days:
                k = 0 if r.valid_from is None else bisect.bisect_right(days, r.valid_from)
                if k < len(days):
                    r = r.model_copy(update={"valid_until": days[k]})
        out.append(r)
    return out


def windows_overlap(a: Rule, b: Rule) -> bool:
    start = max(a.valid_from or dt.date.min, b.valid_from or dt.date.min)
    end = min(a.valid_until or dt.date.max, b.valid_until or dt.date.max)
    return start < end


def can_both_match(a: Rule, b: Rule, universes: Mapping[str, frozenset[str]] | None = None) -> bool:
    return windows_overlap(a, b) and satisfiable(a.conditions + b.conditions, universes)


def ambiguous_pairs(card: RateCard,
                    universes: Mapping[str, frozenset[str]] | None = None) -> list[tuple[Rule, Rule]]:
    """Pairs of price rules in one layer that tie on specificity, can match one
    line together, and disagree on the price; in card order.

    Only pairs that could overlap are compared (`_overlap_candidates`), so a
    card of thousands of rules -- a price grid over many keys, a rule with
    thousands of dated versions -- is checked in about n log n, not n^2."""
    prices = [r for r in card.rules if not r.is_modifier]
    by_specificity: dict[int, list[int]] = {}
    for i, r in enumerate(prices):
        by_specificity.setdefault(r.specificity, []).append(i)
    pairs = []
    for group in by_specificity.values():
        if len(group) < 2:
            continue
        for i, j in _overlap_candidates([prices[k] for k in group]):
            a, b = prices[group[i]], prices[group[j]]
            if a.action != b.action and can_both_match(a, b, universes):
                pairs.append((group[i], group[j]))
    return [(prices[i], prices[j]) for i, j in sorted(pairs)]


def _positive_sets(rule: Rule) -> dict[str, frozenset[str]] | None:
    """Per key a rule tests with `=`/`in`: the values it admits (None: it matches nothing)."""
    by_key: dict[str, ValueSet] = {}
    for c in rule.conditions:
        vs = ValueSet.of(c)
        by_key[c.key] = by_key[c.key].meet(vs) if c.key in by_key else vs
    out = {}
    for key, vs in by_key.items():
        if vs.empty:
            return None
        if vs.inclusive:
            out[key] = vs.values
    return out


_NO_KEY = object()  # the bucket of the rules that admit any value of a key


def _overlap_candidates(rules: list[Rule]) -> set[tuple[int, int]]:
    """Index pairs (i < j) that may match one line on one day: a superset of the pairs
    `can_both_match` accepts, found through an index instead of trying every pair.

    Two rules can only both match when, for every key one of them tests with
    `=`/`in`, the other admits one of those values: each rule looks only into the
    buckets of one such key (its most selective), holding the rules that admit one
    of its values or put no `=`/`in` on that key. Two windows overlap only if one
    starts inside the other, so within a bucket sorted by start date each rule
    takes only the rules that start during its own window (bisection).
    """
    sets = [_positive_sets(r) for r in rules]
    live = [i for i, s in enumerate(sets) if s is not None]
    keys = {k for i in live for k in sets[i]}
    buckets: dict[tuple, list[int]] = {}
    for i in live:
        for key in keys:
            values = sets[i].get(key)
            for v in (values if values is not None else (_NO_KEY,)):
                buckets.setdefault((key, v), []).append(i)
    start = [r.valid_from or dt.date.min for r in rules]
    end = [r.valid_until or dt.date.max for r in rules]
    sorted_buckets = {}
    for bucket_key, members in buckets.items():
        members.sort(key=lambda i: start[i])
        sorted_buckets[bucket_key] = (members, [start[i] for i in members])
    everyone = sorted(live, key=lambda i: start[i])
    everyone = (everyone, [start[i] for i in everyone])

    out: set[tuple[int, int]] = set()
    for i in live:
        own = sets[i]
        lists = [everyone]
        if own:
            best = None
            for key, values in own.items():
                chosen = [sorted_buckets[(key, v)] for v in values if (key, v) in sorted_buckets]
                none = sorted_buckets.get((key, _NO_KEY))
                if none is not None:
                    chosen.append(none)
                size = sum(len(m) for m, _ in chosen)
                if best is None or size < best[0]:
                    best = (size, chosen)
            lists = best[1]
        for members, starts in lists:
            lo = bisect.bisect_left(starts, start[i])
            hi = bisect.bisect_left(starts, end[i], lo)
            for j in members[lo:hi]:
                if j != i:
                    out.add((i, j) if i < j else (j, i))
    return out


DEFAULT_UNIT = Unit(size=Decimal(1), name="unit")


def override_unit(plan: "Plan | None", meter: "Meter | None") -> Unit:
    """The unit of a contract override price that states none of its own:
    the plan charge's unit if the plan prices the meter, else the meter rate
    card's, else per 1 unit. Pricing files and JSON contracts share this."""
    charge = plan.charge(meter.name) if plan is not None and meter is not None else None
    if charge is not None and charge.rates is not None:
        return charge.rates.unit
    if meter is not None and meter.rates is not None:
        return meter.rates.unit
    return DEFAULT_UNIT


def is_modifier(action) -> bool:
    return isinstance(action, Modifier)
