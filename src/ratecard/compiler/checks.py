"""Pass 5: checks over the built model that need rule matching (`rules`).

- conditions on keys no meter dimension and no contract dimension defines;
- ambiguous rules: two equally specific price rules of one layer that can
  match the same line and disagree (the error names both lines);
- usage lines the linter can prove unpriced (closed dimension value sets);
- one customer on two contracts at once.

Every check takes `unresolved` (see `compiler.context`): the model ids the
compiler could not build as written. A check draws no conclusion from them,
so one typo is reported once, where it is, and not again as its consequences.
"""

from __future__ import annotations

import itertools
from typing import AbstractSet, Iterable, Iterator, Mapping

from .. import rules
from ..diagnostics import Diagnostic, Note, Span, did_you_mean, error, warning
from ..model import Condition, Contract, Meter, RateCard, RatingPlan, Rule


def conditions_text(conditions: Iterable[Condition]) -> str:
    parts = []
    for c in conditions:
        vals = ", ".join(f'"{v}"' for v in c.values)
        parts.append(f"{c.key} {c.op} {vals}" if c.op in ("=", "!=") else f"{c.key} {c.op} ({vals})")
    return ", ".join(parts) or "default"


def _witness(a: Rule, b: Rule, universes: Mapping[str, frozenset[str]]) -> str:
    """A line both rules match, to make the ambiguity concrete."""
    by_key: dict[str, rules.ValueSet] = {}
    for c in a.conditions + b.conditions:
        vs = rules.ValueSet.of(c)
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


def ambiguity(plan: RatingPlan, spans: Mapping[str, Span],
              unresolved: AbstractSet[str] | None = None) -> list[Diagnostic]:
    unresolved = _unresolved(plan, unresolved)
    out = []
    for owner, meter, card, _ in cards(plan):
        universes = _universes(meter)
        for a, b in rules.ambiguous_pairs(card, universes):
            if a.id in unresolved or b.id in unresolved:
                continue  # a rule with a condition on an unknown key: that is the error
            if rules.version_key(a) == rules.version_key(b):
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


def _unknown_keys(plan: RatingPlan) -> Iterator[tuple[Meter, Contract | None, Rule, Condition, set[str]]]:
    """Every condition on a key that neither the card's meter nor a contract defines."""
    contract_keys = {k for c in plan.contracts.values() for k in c.dimensions}
    for _, meter, card, contract in cards(plan):
        if meter is None:
            continue
        known = set(meter.dimension_names) | (set(contract.dimensions) if contract else contract_keys)
        for rule in card.rules:
            for cond in rule.conditions:
                if cond.key not in known:
                    yield meter, contract, rule, cond, known


def unknown_key_rules(plan: RatingPlan) -> set[str]:
    """The rules with a condition on an unknown key (E401, W004): what they test is unresolved."""
    return {rule.id for _, _, rule, _, _ in _unknown_keys(plan)}


def _unresolved(plan: RatingPlan, unresolved: AbstractSet[str] | None) -> AbstractSet[str]:
    """What the compiler passed, or (for a caller outside the compiler) the rules on unknown keys."""
    return unknown_key_rules(plan) if unresolved is None else unresolved


def condition_keys(plan: RatingPlan, spans: Mapping[str, Span],
                   unresolved: AbstractSet[str] | None = None) -> list[Diagnostic]:
    """A condition must test a meter dimension or some contract's dimension."""
    unresolved = unresolved or frozenset()
    # a contract that could not be built may set any key: only a close name is then a sure mistake
    unbuilt = any(u.startswith("contract:") and "/" not in u and u[9:] not in plan.contracts
                  for u in unresolved)
    out = []
    for meter, contract, rule, cond, known in _unknown_keys(plan):
        span = spans.get(rule.id)
        guess = did_you_mean(cond.key, known)
        if not guess and unbuilt and contract is None:
            continue
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


# How many steps the proof that every line is priced may take, per contract and meter,
# before it stops and says so (W008). Realistic books take a few hundred.
PROOF_STEPS = 100_000


class _CutShort(Exception):
    pass


def first_unpriced(value_sets: list[tuple[str, ...]], boxes: list[tuple[frozenset[str] | None, ...]],
                   budget: int = PROOF_STEPS) -> tuple[str, ...] | None:
    """The first combination of dimension values (in declared order) that no box contains,
    or None when the boxes cover them all.

    Each price rule is a box: per dimension, the values it admits (None: any).
    Instead of trying every combination, the search fixes one dimension at a time
    and keeps only the boxes that still contain the values fixed so far; a box that
    admits anything in the remaining dimensions covers the whole branch, no box at
    all leaves it unpriced, and branches that leave the same boxes are decided once.
    Raises `_CutShort` after `budget` steps.
    """
    full_from = [max((i + 1 for i, part in enumerate(box) if part is not None), default=0) for box in boxes]
    memo: dict[tuple[int, tuple[int, ...]], tuple[str, ...] | None] = {}
    steps = 0

    def search(level: int, active: tuple[int, ...]) -> tuple[str, ...] | None:
        nonlocal steps
        if not active:
            return tuple(values[0] for values in value_sets[level:])
        if any(full_from[b] <= level for b in active):
            return None
        key = (level, active)
        if key in memo:
            return memo[key]
        steps += 1
        if steps > budget:
            raise _CutShort
        found = None
        for v in value_sets[level]:
            rest = search(level + 1, tuple(b for b in active
                                           if boxes[b][level] is None or v in boxes[b][level]))
            if rest is not None:
                found = (v,) + rest
                break
        memo[key] = found
        return found

    if any(not values for values in value_sets):
        return None  # a dimension declared with no values: no line can have it
    return search(0, tuple(range(len(boxes))))


def _boxes(meter: Meter, contract: Contract, prices: list[Rule]) -> list[tuple]:
    """The price rules as boxes over the meter's declared values, given the contract's
    dimensions (a condition on another key is true or false for the whole contract)."""
    names = meter.dimension_names
    position = {name: i for i, name in enumerate(names)}
    values = [d.values for d in meter.dimensions]
    boxes = []
    for rule in prices:
        parts: list = [None] * len(names)
        possible = True
        for c in rule.conditions:
            i = position.get(c.key)
            if i is None:  # the line's attributes hold the contract's value of this key
                possible = c.matches(rules.line_attributes(contract, {}))
            else:
                admitted = frozenset(v for v in (parts[i] if parts[i] is not None else values[i])
                                     if c.matches({c.key: v}))
                parts[i] = admitted
                possible = bool(admitted)
            if not possible:
                break
        if possible:
            boxes.append(tuple(parts))
    return boxes


def provably_unpriced(plan: RatingPlan, spans: Mapping[str, Span],
                      unresolved: AbstractSet[str] | None = None) -> list[Diagnostic]:
    """Usage lines no rule can price, for meters whose dimension values are all declared.

    Every combination of declared values is decided (see `first_unpriced`), however
    many there are; a proof that would take too long is reported as such (W008)."""
    unresolved = _unresolved(plan, unresolved)
    out = []
    # `resolve` (dates aside) prices a line iff some price rule of some layer
    # matches it: only that is asked, with the plan's and the meter's price
    # rules gathered once per (plan, meter) rather than once per contract
    shared: dict[tuple[str, str], list[Rule] | None] = {}
    decided: dict[tuple, tuple[str, ...] | None | type] = {}
    for contract in plan.contracts.values():
        p = plan.plans.get(contract.plan)
        if p is None or f"contract:{contract.name}" in unresolved:
            continue
        for charge in p.charges:
            meter = plan.meters.get(charge.meter)
            if meter is None or any(d.values is None for d in meter.dimensions):
                continue
            if (p.name, meter.name) not in shared:  # the plan layer and the meter layer, as in `layers_for`
                below: list[Rule] | None = []
                for card_id, card in ((f"plan:{p.name}/charge:{meter.name}", charge.rates),
                                      (f"meter:{meter.name}/rates", meter.rates)):
                    if card is None:
                        continue
                    if card_id in unresolved:
                        below = None  # a rule of it was rejected: what it would price is unknown
                        break
                    below.extend(r for r in card.rules if not r.is_modifier)
                shared[(p.name, meter.name)] = below
            below = shared[(p.name, meter.name)]
            override = contract.overrides.get(meter.name)
            if below is None or (override is not None
                                 and f"contract:{contract.name}/override:{meter.name}" in unresolved):
                continue
            prices = below if override is None else (
                [r for r in override.rules if not r.is_modifier] + below)
            if any(r.id in unresolved for r in prices):
                continue  # a condition on an unknown key: that is the error
            if any(not r.conditions for r in prices):
                continue  # a `default` (or unconditioned) price rule prices every line
            boxes = _boxes(meter, contract, prices)
            value_sets = [d.values for d in meter.dimensions]
            key = (tuple(value_sets), tuple(boxes))
            if key not in decided:
                try:
                    decided[key] = first_unpriced(value_sets, boxes)
                except _CutShort:
                    decided[key] = _CutShort
            combo = decided[key]
            notes = ([Note(f"meter `{meter.name}` is defined here", spans[f"meter:{meter.name}"])]
                     if f"meter:{meter.name}" in spans else [])
            if combo is _CutShort:
                out.append(warning(
                    "W008",
                    f"could not prove that contract `{contract.name}` can price every line of meter "
                    f"`{meter.name}`: the proof was cut short after {PROOF_STEPS:,} steps",
                    spans.get(f"contract:{contract.name}"), notes=notes,
                    hints=["a `default` rule in the meter's rate card or the plan's charge makes every "
                           "line priced; otherwise unpriced lines are reported when billing (E502)"],
                ))
            elif combo is not None:
                shown = ", ".join(f'{k} = "{v}"' for k, v in zip(meter.dimension_names, combo)) or "its usage"
                out.append(error(
                    "E402",
                    f"contract `{contract.name}` cannot price meter `{meter.name}` for {shown}: "
                    "no rule matches",
                    spans.get(f"contract:{contract.name}"),
                    notes=notes,
                    hints=["add a `default` rule to the meter's rate card or the plan's charge"],
                ))
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


def customer_overlaps(plan: RatingPlan, spans: Mapping[str, Span],
                      unresolved: AbstractSet[str] | None = None) -> list[Diagnostic]:
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


CHECKS = (condition_keys, ambiguity, provably_unpriced, customer_overlaps)
