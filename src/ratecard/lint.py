"""Warnings: things that price correctly today but are probably not what was meant.

Warnings never fail `check` unless `--strict` is given.

- W001 a meter no plan charges (its events would all be rejected);
- W002 a rule that can never decide a price (a duplicate, or conditions that
  contradict each other or the dimension's declared values);
- W003 two plans that differ only in their rates ("use contract overrides");
- W005 a meter rate card no plan ever consults (every plan charging the meter
  sets its own default price).
"""

from __future__ import annotations

from typing import Mapping

from .diagnostics import Diagnostic, Note, Span, warning
from .model import RatingPlan
from . import rules as engine
from .compiler.checks import cards


def unused_meters(plan: RatingPlan, spans: Mapping[str, Span]) -> list[Diagnostic]:
    charged = {c.meter for p in plan.plans.values() for c in p.charges}
    return [
        warning("W001", f"meter `{name}` is not charged by any plan", spans.get(f"meter:{name}"),
                hints=[f"add `charge {name}` to a plan, or remove the meter"])
        for name in plan.meters if name not in charged
    ]


def shadowed_rules(plan: RatingPlan, spans: Mapping[str, Span]) -> list[Diagnostic]:
    out = []
    for owner, meter, card, _ in cards(plan):
        universes = {d.name: frozenset(d.values) for d in (meter.dimensions if meter else ())
                     if d.values is not None}
        seen: dict[tuple, str] = {}
        for rule in card.rules:
            if not engine.satisfiable(rule.conditions, universes):
                out.append(warning("W002", f"this rule in {owner} can never match: its conditions "
                                           "exclude each other or every declared value",
                                   spans.get(rule.id)))
                continue
            key = (rule.is_modifier, frozenset(rule.conditions), rule.is_default,
                   rule.valid_from, rule.valid_until)
            if key in seen and not rule.is_modifier:
                first = seen[key]
                out.append(warning("W002", f"this rule in {owner} is shadowed by an earlier rule "
                                           "with the same conditions",
                                   spans.get(rule.id),
                                   notes=[Note("the earlier rule", spans[first])] if first in spans else []))
                continue
            seen.setdefault(key, rule.id)
    return out


def unused_rate_cards(plan: RatingPlan, spans: Mapping[str, Span]) -> list[Diagnostic]:
    out = []
    # meter -> each plan's (first) charge of it, in plan order: one pass, not one per meter
    charges: dict[str, list] = {}
    for p in plan.plans.values():
        seen = set()
        for c in p.charges:
            if c.meter not in seen:
                seen.add(c.meter)
                charges.setdefault(c.meter, []).append(c)
    for meter in plan.meters.values():
        if meter.rates is None:
            continue
        charging = charges.get(meter.name)
        if not charging:
            continue
        overridden = all(
            c.rates is not None
            and any(r.is_default and not r.is_modifier and r.valid_from is None and r.valid_until is None
                    for r in c.rates.rules)
            for c in charging
        )
        if overridden:
            out.append(warning(
                "W005", f"the rate card of meter `{meter.name}` is never used: every plan that charges "
                        "it sets its own price", spans.get(f"meter:{meter.name}")))
    return out


def plans_differing_only_in_rates(plan: RatingPlan, spans: Mapping[str, Span]) -> list[Diagnostic]:
    out = []
    shapes: dict[str, str] = {}
    for p in plan.plans.values():
        shape = p.model_copy(update={
            "name": "",
            "title": "",
            "charges": tuple(c.model_copy(update={"rates": None}) for c in p.charges),
        }).model_dump_json()
        first = shapes.get(shape)
        if first is None:
            shapes[shape] = p.name
            continue
        out.append(warning(
            "W003", f"plans `{first}` and `{p.name}` differ only in their rates",
            spans.get(f"plan:{p.name}"),
            notes=[Note(f"plan `{first}`", spans[f"plan:{first}"])] if f"plan:{first}" in spans else [],
            hints=["keep one plan and give customers their prices with contract overrides"],
        ))
    return out


LINTS = (unused_meters, shadowed_rules, unused_rate_cards, plans_differing_only_in_rates)
