"""Pass 5: checks over the built model that need the rules engine.

- ambiguous rules: two equally specific price rules of one layer that can
  match the same line and disagree (the error names both lines);
- conditions on keys no meter dimension and no contract dimension defines;
- usage lines the linter can prove unpriced (closed dimension value sets);
- one customer on two contracts at once.
"""

from __future__ import annotations

import itertools
from typing import Iterable, Mapping

from ..diagnostics import Diagnostic, Note, Span, did_you_mean, error, warning
from ..model import Condition, Contract, Meter, RateCard, RatingPlan, Rule
from .. import rules as engine


def conditions_text(conditions: Iterable[Condition]) -> str:
    parts = []
    for c in conditions:
        vals = ", ".join(f'"{v}"' for v in c.values)
        parts.append(f"{c.key} {c.op} {vals}" if c.op in ("=", "!=") else f"{c.key} {c.op} ({vals})")
    return ", ".join(parts) or "default"


def _witness(a: Rule, b: Rule, universes: Mapping[str, frozenset[str]]) -> str:
    """A line both rules match, to make the ambiguity concrete."""
    by_key: dict[str, engine.ValueSet] = {}
    for c in a.conditions + b.conditions:
        vs = engine.ValueSet.of(c)
        by_key[c.key] = by_key[c.key].meet(vs) if c.key in by_key else vs
    parts = []
    for key, vs in sorted(by_key.items()):
        vs = vs.within(universes.get(key))
        if vs.inclusive:
            parts.append(f'{key} = "{sorted(vs.values)[0]}"')
        else:
            parts.append(f"{key} not in ({', '.join(sorted(vs.values))})")
    return ", ".join(parts)


def _universes(meter: Meter | None) -> dict[str, frozenset[str]]:
    if meter is None:
        return {}
    return {d.name: frozenset(d.values) for d in meter.dimensions if d.values is not None}


def cards(plan: RatingPlan) -> Iterable[tuple[str, Meter | None, RateCard, Contract | None]]:
    """Every rate card in the project with the meter it prices."""
    for meter in plan.meters.values():
        if meter.rates is not None:
            yield f"meter `{meter.name}`", meter, meter.rates, None
    for p in plan.plans.values():
        for charge in p.charges:
            if charge.rates is not None:
                yield f"plan `{p.name}`", plan.meters.get(charge.meter), charge.rates, None
    for c in plan.contracts.values():
        for meter_name, card in c.overrides.items():
            yield f"contract `{c.name}`", plan.meters.get(meter_name), card, c


def ambiguity(plan: RatingPlan, spans: Mapping[str, Span]) -> list[Diagnostic]:
    out = []
    for owner, meter, card, _ in cards(plan):
        universes = _universes(meter)
        for a, b in engine.ambiguous_pairs(card, universes):
            if engine.version_key(a) == engine.version_key(b):
                out.append(_overlapping_versions(owner, a, b, spans))
                continue
            out.append(error(
                "E400",
                f"ambiguous rules in {owner}: `{conditions_text(a.conditions)}` and "
                f"`{conditions_text(b.conditions)}` are equally specific and both match "
                f"{_witness(a, b, universes)}",
                spans.get(b.id),
                notes=[Note("the other rule", spans[a.id])] if a.id in spans else [],
                hints=["add a rule that names both conditions to decide that case, "
                       "or make the conditions exclusive"],
            ))
    return out


def window_text(start, end) -> str:
    """`from 2026-04-01 until 2026-07-01`, `from 2026-04-01 on`, `until ...`, `at all times`."""
    if start is None and end is None:
        return "at all times"
    if end is None:
        return f"from {start} on"
    if start is None:
        return f"until {end}"
    return f"from {start} until {end}"


def overlap_window(a: Rule, b: Rule):
    start = max((d for d in (a.valid_from, b.valid_from) if d is not None), default=None)
    end = min((d for d in (a.valid_until, b.valid_until) if d is not None), default=None)
    return start, end


def _overlapping_versions(owner: str, a: Rule, b: Rule, spans: Mapping[str, Span]) -> Diagnostic:
    """Two versions of one rule (same conditions) with different prices, in effect at once."""
    return error(
        "E400",
        f"ambiguous rules in {owner}: two versions of `{conditions_text(a.conditions)}` set "
        f"different prices and are both in effect {window_text(*overlap_window(a, b))}",
        spans.get(b.id),
        notes=[Note("the other version", spans[a.id])] if a.id in spans else [],
        hints=["a version without `until` ends where the next version starts; "
               "make each `until` no later than the next version's `from`"],
    )


def condition_keys(plan: RatingPlan, spans: Mapping[str, Span]) -> list[Diagnostic]:
    """A condition must test a meter dimension or some contract's dimension."""
    contract_keys = {k for c in plan.contracts.values() for k in c.dimensions}
    out = []
    for owner, meter, card, contract in cards(plan):
        if meter is None:
            continue
        meter_keys = set(meter.dimension_names)
        known = meter_keys | (set(contract.dimensions) if contract else contract_keys)
        for rule in card.rules:
            for cond in rule.conditions:
                if cond.key in known:
                    continue
                span = spans.get(rule.id)
                guess = did_you_mean(cond.key, known)
                if guess:
                    out.append(error("E401", f"unknown dimension `{cond.key}` (did you mean `{guess}`?)",
                                     span, hints=[f"meter `{meter.name}` has dimensions: "
                                                  f"{', '.join(meter.dimension_names) or 'none'}"]))
                elif contract is not None or plan.contracts:
                    out.append(error(
                        "E401",
                        f"`{cond.key}` is neither a dimension of meter `{meter.name}` nor a dimension "
                        f"of any contract, so this rule can never match",
                        span,
                        hints=[f"add `{cond.key}` to the meter's `dimensions`, or set it in a "
                               "contract's `dimensions`"],
                    ))
                else:
                    out.append(warning(
                        "W004",
                        f"`{cond.key}` is not a dimension of meter `{meter.name}`; it can only match a "
                        f"contract dimension, and this project defines no contracts",
                        span,
                        hints=["contracts loaded with `--contracts FILE.json` may set it"],
                    ))
    return out


MAX_COMBINATIONS = 10_000


def provably_unpriced(plan: RatingPlan, spans: Mapping[str, Span]) -> list[Diagnostic]:
    """Usage lines no rule can price, for meters whose dimension values are all declared."""
    out = []
    # `resolve` (dates aside) prices a line iff some price rule of some layer
    # matches it: only that is asked, with the plan's and the meter's price
    # rules gathered once per (plan, meter) rather than once per contract
    shared: dict[tuple[str, str], list[Rule]] = {}
    for contract in plan.contracts.values():
        p = plan.plans.get(contract.plan)
        if p is None:
            continue
        for charge in p.charges:
            meter = plan.meters.get(charge.meter)
            if meter is None or any(d.values is None for d in meter.dimensions):
                continue
            below = shared.get((p.name, meter.name))
            if below is None:  # the plan layer and the meter layer, as in `layers_for`
                plan_charge = p.charge(meter.name)
                cards_below = [c for c in (plan_charge.rates if plan_charge else None, meter.rates)
                               if c is not None]
                below = shared[(p.name, meter.name)] = [
                    r for card in cards_below for r in card.rules if not r.is_modifier]
            override = contract.overrides.get(meter.name)
            prices = below if override is None else (
                [r for r in override.rules if not r.is_modifier] + below)
            if any(not r.conditions for r in prices):
                continue  # a `default` (or unconditioned) price rule prices every line
            value_sets = [d.values for d in meter.dimensions]
            combos = itertools.islice(itertools.product(*value_sets), MAX_COMBINATIONS)
            names = meter.dimension_names
            for combo in combos:
                dims = dict(zip(names, combo))
                attrs = engine.line_attributes(contract, dims)
                if not any(r.matches(attrs) for r in prices):
                    shown = ", ".join(f'{k} = "{v}"' for k, v in dims.items()) or "its usage"
                    out.append(error(
                        "E402",
                        f"contract `{contract.name}` cannot price meter `{meter.name}` for {shown}: "
                        "no rule matches",
                        spans.get(f"contract:{contract.name}"),
                        notes=[Note(f"meter `{meter.name}` is defined here", spans[f"meter:{meter.name}"])]
                        if f"meter:{meter.name}" in spans else [],
                        hints=["add a `default` rule to the meter's rate card or the plan's charge"],
                    ))
                    break
    return out


def overlapping_contracts(contracts: Iterable[Contract]) -> list[tuple[Contract, Contract]]:
    """Pairs of contracts of one customer whose dates overlap."""
    by_customer: dict[str, list[Contract]] = {}
    for c in contracts:
        by_customer.setdefault(c.customer, []).append(c)
    pairs = []
    for group in by_customer.values():
        group.sort(key=lambda c: (c.starts, c.name))
        for a, b in itertools.combinations(group, 2):
            a_end = a.end_exclusive
            b_end = b.end_exclusive
            if (a_end is None or b.starts < a_end) and (b_end is None or a.starts < b_end):
                pairs.append((a, b))
    return pairs


def customer_overlaps(plan: RatingPlan, spans: Mapping[str, Span]) -> list[Diagnostic]:
    out = []
    for a, b in overlapping_contracts(plan.contracts.values()):
        out.append(error(
            "E207",
            f"customer \"{a.customer}\" is on contracts `{a.name}` and `{b.name}` at the same time",
            spans.get(f"contract:{b.name}"),
            notes=[Note(f"contract `{a.name}`", spans[f"contract:{a.name}"])]
            if f"contract:{a.name}" in spans else [],
            hints=["give the earlier contract an `ends` date before the later one `starts`"],
        ))
    return out


CHECKS = (ambiguity, condition_keys, provably_unpriced, customer_overlaps)
