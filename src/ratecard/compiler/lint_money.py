"""Lints for money that surprises (LANGUAGE.md Part 2): modifiers and negotiated prices.

- W010 two percentage modifiers of different layers that both apply to one
  line: `50% off` in the contract and `50% off` in the meter's rate card are
  75% off, which is rarely what either author meant;
- W011 a negotiated contract price that hides a modifier of the plan's or the
  meter's rate card: a price set in the contract layer is final, so lines it
  prices lose the modifier (the batch discount of a negotiated model price).

Both are about *line-level* modifiers: ones conditioned on a dimension of the
meter (`batch = "true"`, `region = "eu"`), which treat lines of one invoice
differently. A modifier on nothing or only on the contract's own dimensions
(`customer_tier = "enterprise"`) is a customer-wide term: a negotiator prices
against it, and a plan's blanket discount composing with a customer tier's is
the price list as published. So W010 needs one of the two modifiers to be
line-level, and W011 a line-level hidden modifier (docs/language.md).

Both are decided per contract (and, for plan and meter layers, per plan) with
the matching rules' own "can these two rules match one line" (`can_both_match`,
dates included); a contract's dimensions decide its conditions on them. As in
`lint.py`, nothing is concluded from what the compiler could not build.
"""

from __future__ import annotations

from decimal import Decimal
from typing import AbstractSet, Iterable, Iterator, Mapping

from ..diagnostics import Diagnostic, Note, Span, warning
from ..model import Contract, Meter, Modifier, RateCard, RatingPlan, Rule
from ..rules import can_both_match, line_attributes, windows_overlap
from .checks import conditions_text

_NOTHING: AbstractSet[str] = frozenset()


def _universes(meter: Meter) -> dict[str, frozenset[str]]:
    return {d.name: frozenset(d.values) for d in meter.dimensions if d.values is not None}


def _for_contract(rules: Iterable[Rule], meter: Meter, contract: Contract | None) -> list[Rule]:
    """The rules that can match some line of `contract` (its dimensions decide the conditions on
    keys that are not the meter's); every rule when there is no contract."""
    if contract is None:
        return list(rules)
    own = set(meter.dimension_names)
    attrs = line_attributes(contract, {})
    return [r for r in rules if all(c.key in own or c.matches(attrs) for c in r.conditions)]


def _layers(plan: RatingPlan, meter: Meter, plan_name: str, contract: Contract | None
            ) -> list[tuple[str, str, RateCard]]:
    """(kind, owner, card) highest first: the contract's override, the plan's charge, the meter's card."""
    out = []
    if contract is not None and meter.name in contract.overrides:
        out.append(("contract", f"contract `{contract.name}`", contract.overrides[meter.name]))
    p = plan.plans.get(plan_name)
    charge = p.charge(meter.name) if p is not None else None
    if charge is not None and charge.rates is not None:
        out.append(("plan", f"plan `{plan_name}`", charge.rates))
    if meter.rates is not None:
        out.append(("meter", f"meter `{meter.name}`", meter.rates))
    return out


def _subjects(plan: RatingPlan) -> Iterator[tuple[Meter, str, Contract | None]]:
    """Every (meter, plan, contract) whose layers price lines: each plan's charges without a
    contract, then each contract's overrides on each plan it is on."""
    for p in plan.plans.values():
        for charge in p.charges:
            if charge.meter in plan.meters:
                yield plan.meters[charge.meter], p.name, None
    for c in plan.contracts.values():
        for plan_name in dict.fromkeys([c.plan] + [change.plan for change in c.plan_changes]):
            p = plan.plans.get(plan_name)
            for meter_name in c.overrides:
                if p is not None and p.charge(meter_name) is not None and meter_name in plan.meters:
                    yield plan.meters[meter_name], plan_name, c


def _line_level(rule: Rule, meter: Meter) -> bool:
    """Is the rule conditioned on a dimension of the meter (so it treats lines differently)?"""
    return any(c.key in meter.dimension_names for c in rule.conditions)


def _text(rule: Rule) -> str:
    return "every line" if rule.is_default or not rule.conditions else conditions_text(rule.conditions)


def _action(rule: Rule) -> str:
    a = rule.action
    if isinstance(a, Modifier):
        return f"{a.percent.normalize():f}% {a.direction}"
    return "a price"


def _covered(price_rules: Iterable[Rule], a: Rule, b: Rule) -> bool:
    """Does one price rule match every line that both `a` and `b` match (its conditions are
    among theirs)? Then a higher layer prices those lines, and lower modifiers do not apply."""
    both = set(a.conditions) | set(b.conditions)
    return any(set(r.conditions) <= both and windows_overlap(r, a) and windows_overlap(r, b)
               for r in price_rules)


def stacked_modifiers(plan: RatingPlan, spans: Mapping[str, Span],
                      unresolved: AbstractSet[str] = _NOTHING) -> list[Diagnostic]:
    """W010: percentage modifiers of two layers that both apply to one line."""
    out: list[Diagnostic] = []
    seen: set[tuple[str, str]] = set()
    for meter, plan_name, contract in _subjects(plan):
        layers = _layers(plan, meter, plan_name, contract)
        universes = _universes(meter)
        mods = [[r for r in _for_contract(card.rules, meter, contract) if r.is_modifier and r.id not in unresolved]
                for _, _, card in layers]
        prices = [[r for r in _for_contract(card.rules, meter, contract) if not r.is_modifier]
                  for _, _, card in layers]
        for i, upper in enumerate(mods):
            for j in range(i + 1, len(layers)):
                if contract is not None and layers[i][0] != "contract":
                    continue  # plan and meter layers are checked once per plan, without a contract
                above = [r for k in range(j) for r in prices[k]]  # price rules of the layers above j
                for a in upper:
                    for b in mods[j]:
                        if (a.id, b.id) in seen or not (_line_level(a, meter) or _line_level(b, meter)):
                            continue
                        if not can_both_match(a, b, universes):
                            continue
                        if _covered(above, a, b):
                            continue
                        seen.add((a.id, b.id))
                        out.append(_stacked(a, layers[i][1], b, layers[j][1], spans))
    return out


def _stacked(a: Rule, a_owner: str, b: Rule, b_owner: str, spans: Mapping[str, Span]) -> Diagnostic:
    factor = a.action.factor * b.action.factor  # type: ignore[union-attr]
    change = (Decimal(1) - factor) * 100
    total = f"{change.normalize():f}% off" if change >= 0 else f"{(-change).normalize():f}% up"
    where = _text(a) if not (b.conditions and not a.conditions) else _text(b)
    return warning(
        "W010",
        f"`{_action(a)}` of {a_owner} and `{_action(b)}` of {b_owner} both apply to {where}: "
        f"together {total}",
        spans.get(a.id),
        notes=[Note(f"the modifier of {b_owner}", spans[b.id])] if b.id in spans else [],
        hints=["modifiers of every layer down to the price's multiply; if one should replace the other, "
               "set the price in the higher layer (a contract price is final)"],
    )


def hidden_modifiers(plan: RatingPlan, spans: Mapping[str, Span],
                     unresolved: AbstractSet[str] = _NOTHING) -> list[Diagnostic]:
    """W011: a contract price that keeps a lower layer's modifier off lines it prices."""
    out: list[Diagnostic] = []
    seen: set[tuple[str, str]] = set()
    for meter, plan_name, contract in _subjects(plan):
        if contract is None:
            continue
        layers = _layers(plan, meter, plan_name, contract)
        if not layers or layers[0][0] != "contract":
            continue
        universes = _universes(meter)
        own = _for_contract(layers[0][2].rules, meter, contract)
        own_mods = [r for r in own if r.is_modifier]
        own_prices = [r for r in own if not r.is_modifier]
        for price in (r for r in own_prices if r.id not in unresolved):
            narrower = [r for r in own_prices if len(r.conditions) > len(price.conditions)]
            for _, owner, card in layers[1:]:
                for mod in _for_contract(card.rules, meter, contract):
                    if not mod.is_modifier or mod.id in unresolved or (price.id, mod.id) in seen:
                        continue
                    if not _line_level(mod, meter):
                        continue  # a customer-wide term: the negotiated price is priced against it
                    if not can_both_match(price, mod, universes):
                        continue
                    if any(can_both_match(m, mod, universes) for m in own_mods):
                        continue  # the contract states a modifier of its own there: a conscious choice
                    if set(mod.conditions) <= set(price.conditions):
                        continue  # the negotiated price is for exactly those lines: priced knowingly
                    if _covered(narrower, price, mod):
                        continue  # a narrower contract price takes those lines (checked on its own)
                    seen.add((price.id, mod.id))
                    out.append(warning(
                        "W011",
                        f"the price contract `{contract.name}` negotiated for {_text(price)} of meter "
                        f"`{meter.name}` hides `{_action(mod)}` of {owner} ({_text(mod)}): a contract price is "
                        "final, so lines matching both are billed without it",
                        spans.get(price.id),
                        notes=[Note(f"the modifier of {owner}", spans[mod.id])] if mod.id in spans else [],
                        hints=[f"if those lines should keep it, add `{_both(price, mod)} : {_action(mod)}` "
                               "to the contract's override: it applies to the negotiated price, and only there "
                               "(a contract modifier on every such line would stack with the rate card's)"],
                    ))
    return out


def _both(price: Rule, mod: Rule) -> str:
    """The conditions of a rule matching what both match (`default` when neither has any)."""
    conditions = tuple(dict.fromkeys(price.conditions + mod.conditions))
    return conditions_text(conditions) if conditions else "default"


MONEY_LINTS = (stacked_modifiers, hidden_modifiers)
