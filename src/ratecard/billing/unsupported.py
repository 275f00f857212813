"""What the pricer does not bill yet: the one list, and the refusal that reads it.

The language (LANGUAGE.md "Part 2") is compiled whole -- `check`, `compile` and
`fmt` accept every construct -- before the pricer bills all of it. Until it
does, a construct it would ignore must not give a bill: that would be a wrong
bill with exit 0. So `evaluate` (every command that prices: invoice, explain,
credits, diff, test, issue) and `sql` (whose query feeds `invoice
--aggregates`) first ask `unsupported(plan)`, and stop with one E970 per use,
at the place it is written.

When the pricer learns a construct, delete its entry from `FEATURES` (and its
test in tests/test_part2_refusal.py turns into a pricing test).
"""

from __future__ import annotations

from typing import Callable, Iterator, Mapping

from ..diagnostics import Diagnostic, Span, error
from ..model import Expression, Operation, RatingPlan, TieredPrice


def _derived_products(plan: RatingPlan) -> Iterator[str]:
    """`+` and `-` are billed; `*` and `/` are not yet: their exact value needs more digits
    than the engines' DECIMAL(38, 18) holds (docs/usage.md, "Derived quantities")."""
    for meter in plan.meters.values():
        if meter.aggregation.expression is not None and _multiplies(meter.aggregation.expression):
            yield f"meter:{meter.name}/aggregation"


def _multiplies(expr: Expression) -> bool:
    if isinstance(expr, Operation):
        return expr.op in "*/" or _multiplies(expr.left) or _multiplies(expr.right)
    return False


def _weighted(plan: RatingPlan) -> Iterator[str]:
    for meter in plan.meters.values():
        if meter.aggregation.function == "weighted":
            yield f"meter:{meter.name}/aggregation"


def _pooled(plan: RatingPlan) -> Iterator[str]:
    cards = [m.rates for m in plan.meters.values()]
    cards += [c.rates for p in plan.plans.values() for c in p.charges]
    cards += [card for c in plan.contracts.values() for card in c.overrides.values()]
    for card in cards:
        for rule in card.rules if card is not None else ():
            if isinstance(rule.action, TieredPrice) and rule.action.pooled:
                yield rule.id


def _billing_day(plan: RatingPlan) -> Iterator[str]:
    for p in plan.plans.values():
        if p.billing_day is not None:
            yield f"plan:{p.name}/billing"
    for c in plan.contracts.values():
        if c.billing_day is not None and f"contract:{c.name}/billing" in plan.origins:
            yield f"contract:{c.name}/billing"


def _in_advance(plan: RatingPlan) -> Iterator[str]:
    for p in plan.plans.values():
        for i, fee in enumerate(p.fees):
            if fee.in_advance:
                yield f"plan:{p.name}/fee/{i}/advance"


def _plan_changes(plan: RatingPlan) -> Iterator[str]:
    for c in plan.contracts.values():
        if c.plan_changes:  # (ids are positions as written; the model keeps date order)
            yield from (k for k in plan.origins if k.startswith(f"contract:{c.name}/plan_change/"))


def _discounts(plan: RatingPlan) -> Iterator[str]:
    for c in plan.contracts.values():
        yield from (d.id for d in c.discounts)


def _caps(plan: RatingPlan) -> Iterator[str]:
    for p in plan.plans.values():
        if p.cap is not None:
            yield f"plan:{p.name}/cap"
    for c in plan.contracts.values():
        if f"contract:{c.name}/cap" in plan.origins:
            yield f"contract:{c.name}/cap"


def _allowances(plan: RatingPlan) -> Iterator[str]:
    for p in plan.plans.values():
        yield from (a.id for a in p.allowances)


def _priorities(plan: RatingPlan) -> Iterator[str]:
    for c in plan.contracts.values():
        yield from (f"{g.id}/priority" for g in c.credits if g.priority is not None)


def _scoped_credits(plan: RatingPlan) -> Iterator[str]:
    for c in plan.contracts.values():
        yield from (f"{g.id}/applies_to" for g in c.credits if g.applies_to)


# What the pricer does not bill yet: (the construct as the user writes it, where it is used).
# Later engineers: remove an entry when the pricer bills that construct.
FEATURES: tuple[tuple[str, Callable[[RatingPlan], Iterator[str]]], ...] = (
    ("`*` or `/` in a derived quantity", _derived_products),
    ("`weighted`", _weighted),
    ("`pooled`", _pooled),
    ("`billing ... on day`", _billing_day),
    ("`in advance`", _in_advance),
    ("a plan change (`plan NAME from DATE`)", _plan_changes),
    ("`discount`", _discounts),
    ("`cap`", _caps),
    ("`allowance`", _allowances),
    ("a credit's `priority`", _priorities),
    ("a credit's `applies to`", _scoped_credits),
)


def unsupported(plan: RatingPlan, spans: Mapping[str, Span] | None = None) -> list[Diagnostic]:
    """One E970 per use of a construct the pricer does not bill yet, at its place: `spans`
    (the compiler's, to the column) or else the plan's `origins` (file and line)."""
    out = []
    for construct, uses in FEATURES:
        for model_id in dict.fromkeys(uses(plan)):
            out.append(error(
                "E970", f"{construct} is not billed by this version of ratecard yet",
                _place(plan, spans, model_id),
                hints=["`check`, `compile` and `fmt` accept it; no command prices a project that uses it, "
                       "rather than bill it wrongly"],
            ))
    out.sort(key=Diagnostic.sort_key)
    return out


def _place(plan: RatingPlan, spans: Mapping[str, Span] | None, model_id: str) -> Span | None:
    if spans is not None and model_id in spans:
        return spans[model_id]
    origin = plan.origins.get(model_id)
    if origin is None:
        return None
    if ":$" in origin:  # a JSON contract's: file:$json.path
        file, path = origin.split(":$", 1)
        return Span.json(file, "$" + path)
    file, _, where = origin.rpartition(":")
    return Span.point(file, int(where), 1) if where.isdigit() else None
