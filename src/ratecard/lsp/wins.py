"""Which usage lines a rule decides, said the way `ratecard explain` says it.

`explain` answers for the lines a contract actually billed. Hovering a rule
asks the converse: for the contracts this rule's layer can price and the
lines it matches, does it win (and why, in explain's words), apply as a
modifier, or lose to which other rule? The lines are the combinations of the
meter's declared dimension values that the rule matches; for dimensions
without declared values, the values the rule itself names. Pricing is
`rules.resolve`, the same the invoices use.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

from .. import rules
from ..compiler.checks import cards
from ..report.explain import describe_action, describe_conditions, winner_reason
from ..model import Condition, Contract, Meter, RatingPlan, Rule

MAX_LINES = 64  # dimension combinations looked at per contract
MAX_SHOWN = 8


@dataclass(frozen=True)
class Owner:
    kind: str  # meter | plan | contract
    name: str
    meter: Meter | None
    rule: Rule


def find_rule(plan: RatingPlan, rule_id: str) -> Owner | None:
    kind, _, rest = rule_id.partition(":")
    name = rest.split("/", 1)[0]
    for _owner, meter, card, _contract in cards(plan):
        for rule in card.rules:
            if rule.id == rule_id:
                return Owner(kind, name, meter, rule)
    return None


def _contracts(plan: RatingPlan, owner: Owner) -> list[tuple[Contract, str]]:
    """The contracts whose lines this rule's card can price, each with how the outcome names it
    (a hypothetical contract per plan when no contract uses the card)."""
    meter = owner.meter.name if owner.meter else None
    if owner.kind == "contract":
        c = plan.contracts.get(owner.name)
        return [(c, f"`{c.name}`")] if c else []
    if owner.kind == "plan":
        plans = [owner.name]
    else:
        plans = [p.name for p in plan.plans.values() if p.charge(meter) is not None]
    real = []
    for c in plan.contracts.values():
        if c.plan in plans:
            real.append((c, f"`{c.name}`"))
        for change in c.plan_changes:  # `plan NAME from DATE`: the contract as it stands from then on
            if change.plan in plans:
                on = c.model_copy(update={"plan": change.plan, "minimum": change.minimum, "cap": change.cap})
                real.append((on, f"`{c.name}` (on plan {change.plan} from {change.effective})"))
    if real:
        return real
    keys = {c.key for c in owner.rule.conditions if c.positive and meter
            and c.key not in (owner.meter.dimension_names if owner.meter else ())}
    dims = {c.key: c.values[0] for c in owner.rule.conditions if c.key in keys}
    return [(Contract.model_construct(
        name=f"on plan {p}", customer="", plan=p, starts=dt.date.min, ends=None, dimensions=dims,
        billing="monthly", payment_days=30, autopay=False, overrides={}, minimum=None, credits=(),
        source="pricing"), f"a contract on plan {p}") for p in plans]


def _lines(meter: Meter | None, rule: Rule) -> list[dict[str, str]]:
    """Dimension values of lines the rule matches (meter dimensions only)."""
    if meter is None:
        return [{}]
    by_key: dict[str, list[Condition]] = {}
    for c in rule.conditions:
        by_key.setdefault(c.key, []).append(c)
    choices: list[list[str | None]] = []
    for d in meter.dimensions:
        conds = by_key.get(d.name, [])
        if d.values is not None:
            options: list[str | None] = [v for v in d.values if all(c.matches({d.name: v}) for c in conds)]
        else:
            named = [v for c in conds if c.positive for v in c.values]
            options = named[:1] if named else [None]
        choices.append(options or [None])
    out = []
    for combo in itertools.islice(itertools.product(*choices), MAX_LINES):
        out.append({d.name: v for d, v in zip(meter.dimensions, combo) if v is not None})
    return out


def _day(rule: Rule) -> dt.date | None:
    if rule.valid_from is not None:
        return rule.valid_from
    if rule.valid_until is not None:
        return rule.valid_until - dt.timedelta(days=1)
    return None


def _dims_text(meter: Meter, dims: dict[str, str]) -> str:
    """The line's dimensions; one the line leaves out stands for the values no rule names."""
    parts = [f'{d.name} = "{dims[d.name]}"' if d.name in dims else f"{d.name} = (a value no rule names)"
             for d in meter.dimensions]
    return ", ".join(parts) or "every line"


def outcomes(plan: RatingPlan, rule_id: str) -> list[str]:
    """One Markdown line per (lines, outcome), contracts with the same outcome together."""
    owner = find_rule(plan, rule_id)
    if owner is None:
        return []
    meter = owner.meter
    if meter is None:
        return []
    contracts = _contracts(plan, owner)
    if not contracts:
        return [f"no plan charges meter `{meter.name}`, so this rule prices no line"]
    day = _day(owner.rule)
    grouped: dict[tuple[str, str], list[str]] = {}
    for contract, who in contracts:
        layers = rules.layers_for(plan, contract, meter.name)
        for dims in _lines(meter, owner.rule):
            attrs = rules.line_attributes(contract, dims)
            if not owner.rule.matches(attrs):
                continue
            text = _outcome(plan, rules.resolve(layers, attrs, day), owner.rule)
            grouped.setdefault((_dims_text(meter, dims), text), []).append(who)
    if not grouped:
        return ["matches no line of the contracts that use this rate card"]
    out = []
    for (dims, text), who in grouped.items():
        out.append(f"- {dims} for {', '.join(who)}: {text}")
    if len(out) > MAX_SHOWN:
        out = out[:MAX_SHOWN] + [f"- ... and {len(out) - MAX_SHOWN} more"]
    return out


def _outcome(plan: RatingPlan, res: rules.Resolution | None, rule: Rule) -> str:
    if res is None:
        return "no rule prices these lines"
    if res.base.id == rule.id:
        return f"**wins**: {winner_reason(res)}"
    if any(m.id == rule.id for m, _ in res.modifiers):
        return f"**applies** to the price of {plan.origins.get(res.base.id, res.base.id)} [{res.base_layer.owner}]"
    outcome = next((c.outcome for c in res.candidates if c.rule.id == rule.id), "not used")
    winner = (f"{plan.origins.get(res.base.id, res.base.id)} [{res.base_layer.owner}] "
              f"`{describe_conditions(res.base)} : {describe_action(res.base.action, plan.currency)}`")
    return f"{outcome}; priced by {winner}"
