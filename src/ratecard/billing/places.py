"""Where in the pricing a billing problem is fixed: the rate card a user would edit.

E502 (unpriced usage) and E503 (usage beyond the last tier) are found while
billing, about a line of usage, so they have no place of their own in a
`.pricing` file. What fixes them does: a `default` rule in the plan's charge
or the meter's rate card, an `above` tier in the tiered rule. These notes
point there, through the compiler's spans (`Compiled.spans`, model id ->
`Span`) the run is given; without them (a plan built in code) there is no
note, and the diagnostic says what it always said.
"""

from __future__ import annotations

from typing import Mapping

from ..diagnostics import Note, Span
from ..model import Plan, RatingPlan


def unpriced_note(plan: RatingPlan, spans: Mapping[str, Span], contract_plan: Plan, meter: str) -> Note | None:
    """E502's place: the plan's charge of the meter if it has rates, else the meter's rate
    card (its rules, first to last), else the meter."""
    charge = contract_plan.charge(meter)
    if charge is not None and charge.rates is not None:
        span = spans.get(f"plan:{contract_plan.name}/charge:{meter}")
        if span is not None:
            return Note(f"plan `{contract_plan.name}`'s charge of `{meter}`, where a `default` rule would go", span)
    card = plan.meters[meter].rates if meter in plan.meters else None
    rules = [spans[r.id] for r in card.rules if r.id in spans] if card is not None else []
    if rules:
        first = min(rules, key=lambda s: (s.line, s.col))
        last = max(rules, key=lambda s: (s.end_line, s.end_col))
        return Note(f"meter `{meter}`'s rate card, where a `default` rule would go", first.through(last))
    span = spans.get(f"meter:{meter}")
    return Note(f"meter `{meter}` is defined here", span) if span is not None else None


def tiers_note(spans: Mapping[str, Span], rule_id: str, bound: str) -> Note | None:
    """E503's place: the tiered rule whose tiers stop (where an `above` tier goes)."""
    span = spans.get(rule_id)
    return Note(f"the tiers that stop at `up to {bound}`", span) if span is not None else None
