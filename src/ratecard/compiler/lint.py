"""Warnings: things that price correctly today but are probably not what was meant.

Warnings never fail `check` unless `--strict` is given.

- W001 a meter no plan charges (its events would all be rejected);
- W002 a rule that can never decide a price (a duplicate, or conditions that
  contradict each other or the dimension's declared values);
- W003 two plans that differ only in their rates ("use contract overrides");
- W005 a meter rate card no plan ever consults (every plan charging the meter
  sets its own default price);
- W006 two versions of one rule whose dates overlap without disagreeing on
  the price (versions that disagree are the compiler's E400);
- W009 a `.pricing` file that defines nothing (empty, or only comments);
- W010, W011 money that surprises: modifiers of two layers stacking on one line,
  a negotiated contract price hiding a rate card's modifier (`lint_money.py`);
- W007 a gap between versions of one rule: one ends `until D`, the next
  starts after D, so usage in between falls to another rule (or none). The
  compiler reports the other W007 case, where it knows what was written: an
  open-ended version ended by a temporary one, which does not resume after it.

Like the compiler's checks, each lint takes `unresolved` (`compiler.context`)
and concludes nothing from what the compiler could not build as written: a
plan with a charge of an unknown meter may charge any meter, a card that lost
a rejected rule may lack any rule, a rule on an unknown key may test anything.
"""

from __future__ import annotations

import datetime as dt
from typing import AbstractSet, Mapping

from .. import rules
from ..diagnostics import Diagnostic, Note, Span, warning
from ..model import RateCard, RatingPlan, Rule
from ..syntax import nodes as n
from .checks import conditions_text, cards, overlap_window, window_text
from .lint_money import MONEY_LINTS


_NOTHING: AbstractSet[str] = frozenset()


def empty_files(files: list[n.SourceFile]) -> list[Diagnostic]:
    """W009: a file that defines nothing is usually the wrong file, or one not yet written."""
    out = []
    for f in files:
        if not f.items:
            what = "holds only comments" if f.comments else "is empty"
            out.append(warning("W009", f"`{f.path}` {what}: it defines no meter, plan, contract or test",
                               Span.point(f.path, 1, 1)))
    return out


def unused_meters(plan: RatingPlan, spans: Mapping[str, Span],
                  unresolved: AbstractSet[str] = _NOTHING) -> list[Diagnostic]:
    if any(f"plan:{p}" in unresolved for p in plan.plans):
        return []  # a plan charging an unknown meter may have meant any of them
    charged = {c.meter for p in plan.plans.values() for c in p.charges}
    return [
        warning("W001", f"meter `{name}` is not charged by any plan", spans.get(f"meter:{name}"),
                hints=[f"add `charge {name}` to a plan, or remove the meter"])
        for name in plan.meters if name not in charged
    ]


def shadowed_rules(plan: RatingPlan, spans: Mapping[str, Span],
                   unresolved: AbstractSet[str] = _NOTHING) -> list[Diagnostic]:
    out = []
    for owner, meter, card, _ in cards(plan):
        universes = {d.name: frozenset(d.values) for d in (meter.dimensions if meter else ())
                     if d.values is not None}
        seen: dict[tuple, str] = {}
        for rule in card.rules:
            if rule.id in unresolved:
                continue
            if not rules.satisfiable(rule.conditions, universes):
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


def unused_rate_cards(plan: RatingPlan, spans: Mapping[str, Span],
                      unresolved: AbstractSet[str] = _NOTHING) -> list[Diagnostic]:
    if any(f"plan:{p}" in unresolved for p in plan.plans):
        return []  # which plans charge which meter is not known
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
        if any(f"{p}/charge:{meter.name}" in unresolved for p in (f"plan:{q}" for q in plan.plans)):
            continue  # a charge price that was rejected might have been the one that uses the card
        overridden = all(
            c.rates is not None
            and _always(r for r in c.rates.rules if r.is_default and not r.is_modifier)
            for c in charging
        )
        if overridden:
            out.append(warning(
                "W005", f"the rate card of meter `{meter.name}` is never used: every plan that charges "
                        "it sets its own price", spans.get(f"meter:{meter.name}")))
    return out


def _always(prices) -> bool:
    """Do these rules' date windows together cover every day?"""
    windows = sorted(((r.valid_from or dt.date.min, r.valid_until or dt.date.max) for r in prices))
    reached = dt.date.min
    for start, end in windows:
        if start > reached:
            return False
        reached = max(reached, end)
    return reached == dt.date.max


def _versions(card: RateCard) -> list[list[Rule]]:
    """The rules of a card grouped into versions of one rule, each group in date order."""
    if not any(r.valid_from is not None or r.valid_until is not None for r in card.rules):
        return []  # undated rules: duplicates are W002 / E205, never overlapping versions or gaps
    groups: dict[tuple, list[Rule]] = {}
    for rule in card.rules:
        groups.setdefault(rules.version_key(rule), []).append(rule)
    return [sorted(g, key=lambda r: (r.valid_from or dt.date.min, r.valid_until or dt.date.max))
            for g in groups.values() if len(g) > 1]


def _what(rule: Rule) -> str:
    return "default" if rule.is_default or not rule.conditions else conditions_text(rule.conditions)


def _card_name(owner: str, meter) -> str:
    """`meter `M`` for a meter's own card, `meter `M` in plan `pro`` for the others."""
    if meter is None or owner == f"meter `{meter.name}`":
        return owner
    return f"meter `{meter.name}` in {owner}"


def overlapping_versions(plan: RatingPlan, spans: Mapping[str, Span],
                         unresolved: AbstractSet[str] = _NOTHING) -> list[Diagnostic]:
    out = []
    for owner, meter, card, _ in cards(plan):
        owner = _card_name(owner, meter)
        for group in _versions(card):
            group = [r for r in group if r.id not in unresolved]
            for i, a in enumerate(group):
                for b in group[i + 1:]:
                    # sorted by start: once one starts after `a` ends, none of the rest overlaps it
                    if a.valid_until is not None and b.valid_from is not None and b.valid_from >= a.valid_until:
                        break
                    if not rules.windows_overlap(a, b):
                        continue
                    same_window = (a.valid_from, a.valid_until) == (b.valid_from, b.valid_until)
                    if same_window:
                        continue  # a duplicate (W002), or modifiers that stack by design
                    if not a.is_modifier and a.action != b.action:
                        continue  # two prices at once: the compiler's E400
                    what = ("both modifiers apply there, one on top of the other" if a.is_modifier
                            else "both set the same price there")
                    out.append(warning(
                        "W006",
                        f"versions of `{_what(a)}` for {owner} overlap "
                        f"{window_text(*overlap_window(a, b))}: {what}",
                        spans.get(b.id),
                        notes=[Note("the other version", spans[a.id])] if a.id in spans else [],
                        hints=["a version without `until` ends where the next version starts; "
                               "make each `until` no later than the next version's `from`"],
                    ))
    return out


def gaps_between_versions(plan: RatingPlan, spans: Mapping[str, Span],
                          unresolved: AbstractSet[str] = _NOTHING) -> list[Diagnostic]:
    out = []
    for owner, meter, card, _ in cards(plan):
        owner = _card_name(owner, meter)
        if card.rules and card.rules[0].id.rsplit("/", 1)[0] in unresolved:
            continue  # a version lost to a rejected price: the gap may be that version
        for group in _versions(card):
            if any(r.id in unresolved for r in group):
                continue  # a version with rejected dates
            ended = group[0]
            for rule in group[1:]:
                if ended.valid_until is None:
                    break  # the earlier versions reach every later day
                if rule.valid_from is not None and rule.valid_from > ended.valid_until:
                    out.append(warning(
                        "W007",
                        f"no version of `{_what(rule)}` for {owner} is in effect from "
                        f"{ended.valid_until} until {rule.valid_from}: usage then is priced by "
                        "another rule or layer, or is unpriced",
                        spans.get(rule.id),
                        notes=[Note(f"the earlier version ends `until {ended.valid_until}`",
                                    spans[ended.id])] if ended.id in spans else [],
                        hints=[f"start this version `from {ended.valid_until}`, or end the earlier "
                               f"one `until {rule.valid_from}`"],
                    ))
                if rule.valid_until is None or rule.valid_until > ended.valid_until:
                    ended = rule
    return out


def plans_differing_only_in_rates(plan: RatingPlan, spans: Mapping[str, Span],
                                  unresolved: AbstractSet[str] = _NOTHING) -> list[Diagnostic]:
    out = []
    shapes: dict[str, str] = {}
    for p in plan.plans.values():
        if f"plan:{p.name}" in unresolved:
            continue
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


LINTS = (unused_meters, shadowed_rules, unused_rate_cards, plans_differing_only_in_rates,
         overlapping_versions, gaps_between_versions, *MONEY_LINTS)
