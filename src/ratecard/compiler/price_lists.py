"""Building the statements of LANGUAGE.md "Part 2", called by `compiler.build`.

The constructs came from modelling price lists as companies publish them.

Each function reads the statements of one block, reports what is wrong with
them (the codes are in docs/diagnostics.md) and returns the model values, or
None after reporting. Every place the model keeps is recorded in `ctx.spans`
under the model id the refusal of not-yet-billed constructs
(`billing.unsupported`) and later diagnostics point at:

    meter:M/aggregation     a derived or time-weighted quantity
    plan:P/billing          `billing ... on day D` (contract:C/billing likewise)
    plan:P/fee/<i>/advance  `in advance`
    plan:P/cap              `cap` (contract:C/cap likewise)
    plan:P/allowance/<i>    an allowance
    contract:C/discount/<i>, contract:C/plan_change/<i>
    contract:C/credit/<i>/priority, contract:C/credit/<i>/applies_to
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import AbstractSet, Iterable

from .. import limits
from ..diagnostics import Note, Span, did_you_mean, error
from ..model import (
    FEES,
    Aggregation,
    Allowance,
    Discount,
    Expression,
    Number,
    Operation,
    Plan,
    PlanChange,
    Property,
    expression_properties,
)
from ..syntax import nodes as n
from . import literals as lit
from .blocks import CADENCES, singles, unknown_name
from .context import Context

TIME_UNITS = ("month", "day", "hour")
PERIOD_WORDS = ("periods", "period")
EXPRESSION_FUNCTIONS = ("sum", "max", "latest")


# ----------------------------------------------------------------- meters


def aggregation(ctx: Context, meter: str, agg: n.Aggregation, dims: Iterable[n.DimensionDecl],
                filters: Iterable[n.Condition]) -> Aggregation | None:
    """`count`, `sum F`, a derived `sum a - b`, `weighted F per month`."""
    if agg.expression is None and agg.function != "weighted":
        return Aggregation(function=agg.function, field=agg.field.name if agg.field else None)
    ctx.origin(f"meter:{meter}/aggregation", agg.span)
    if agg.function == "weighted":
        unit = lit.word(ctx, agg.per, TIME_UNITS, "time unit of `weighted`")
        ok = _numeric(ctx, [agg.field], dims, filters, "`weighted`") and unit is not None
        return Aggregation(function="weighted", field=agg.field.name, per=unit) if ok else None
    if agg.function not in EXPRESSION_FUNCTIONS:
        ctx.report(error("E315", f"`{agg.function}` takes one property, not an expression", agg.expression.span,
                         hints=["only `sum`, `max` and `latest` take an expression of properties and numbers"]))
        return None
    expr = expression(ctx, agg.expression)
    if expr is None:
        return None
    if isinstance(expr, Property):  # `sum (tokens)`: a bare property after all
        return Aggregation(function=agg.function, field=expr.name)
    props = list(_property_nodes(agg.expression))
    ok = _numeric(ctx, props, dims, filters, "a derived quantity")
    ok = _not_dimensions(ctx, props, dims) and ok
    return Aggregation(function=agg.function, expression=expr) if ok else None


def _not_dimensions(ctx: Context, props: list[n.Ident], dims: Iterable[n.DimensionDecl]) -> bool:
    """E316: a number used both as a quantity and as a grouping key is always a mistake
    (part2-decisions 1.5): each value would be its own line, priced on itself."""
    declared = {d.name.name: d.name.span for d in dims}
    ok = True
    for prop in props:
        if prop.name in declared:
            ctx.report(error("E316", f"`{prop.name}` is both in the derived quantity and a dimension of the meter",
                             prop.span, notes=[Note(f"`{prop.name}` is a dimension here", declared[prop.name])],
                             hints=["a dimension groups lines by its value; a quantity is summed: "
                                    "keep one of the two"]))
            ok = False
    return ok


def expression(ctx: Context, node: n.Expr) -> Expression | None:
    """The typed tree of a derived quantity; E313 for a division by a constant zero."""
    if isinstance(node, n.Parens):
        return expression(ctx, node.inner)
    if isinstance(node, n.Property):
        return Property(name=node.name.name)
    if isinstance(node, n.NumberTerm):
        num = node.num
        if num.suffix:
            ctx.report(error("E308", f"`{num.suffix}` suffix is not allowed in an expression", num.span,
                             hints=[f"write the number in full, e.g. `{num.value:f}`"]))
            return None
        if not lit.in_range(ctx, num.value, num.raw, num.span, "a number", limits.QUANTITY_INTEGER_DIGITS,
                            limits.QUANTITY_DECIMALS, "a quantity"):
            return None
        return Number(value=num.value)
    left, right = expression(ctx, node.left), expression(ctx, node.right)
    if left is None or right is None:
        return None
    for side, typed in ((node.left, left), (node.right, right)):
        if node.op in "*/" and isinstance(typed, Number) and _places(typed.value) > limits.FACTOR_DECIMALS:
            ctx.report(error("E317", f"an operand of `{node.op}` with more than {limits.FACTOR_DECIMALS} "
                             "decimal places", side.span,
                             hints=[f"`*` and `/` work on whole numbers of 10^-{limits.FACTOR_DECIMALS}: "
                                    "scale the other operand instead (`a * 0.0000000001` is "
                                    "`a / 10_000_000_000`)"]))
            return None
    if node.op == "/" and _constant(right) == 0:
        ctx.report(error("E313", "division by zero: the divisor is always 0", node.right.span,
                         hints=["a division by zero would make every event a bad row"]))
        return None
    return Operation(op=node.op, left=left, right=right)


def _places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _constant(expr: Expression) -> Decimal | None:
    """The value of an expression without properties (None when it reads one)."""
    if isinstance(expr, Number):
        return expr.value
    if isinstance(expr, Property):
        return None
    left, right = _constant(expr.left), _constant(expr.right)
    if left is None or right is None:
        return None
    if expr.op == "/":
        return None if right == 0 else left / right
    return {"+": left + right, "-": left - right, "*": left * right}[expr.op]


def _property_nodes(node: n.Expr) -> Iterable[n.Ident]:
    if isinstance(node, n.Property):
        yield node.name
    elif isinstance(node, n.Parens):
        yield from _property_nodes(node.inner)
    elif isinstance(node, n.Binary):
        yield from _property_nodes(node.left)
        yield from _property_nodes(node.right)


def _is_number(text: str) -> bool:
    try:
        return Decimal(text.replace("_", "")).is_finite()
    except ArithmeticError:
        return False


def _numeric(ctx: Context, props: list[n.Ident], dims: Iterable[n.DimensionDecl],
             filters: Iterable[n.Condition], what: str) -> bool:
    """E314 when the meter itself says a property holds text: a dimension declared with a
    value that is not a number, or a `where` comparing it with such a value."""
    text_values: dict[str, tuple[str, Span]] = {}
    for d in dims:
        for v in d.values or ():
            if isinstance(v, n.Str) and not _is_number(v.value):
                text_values.setdefault(d.name.name, (v.value, v.span))
    for c in filters:
        for v in c.values:
            if isinstance(v, n.Str) and not _is_number(v.value):
                text_values.setdefault(c.key.name, (v.value, v.span))
    ok = True
    for prop in dict.fromkeys(props):
        if prop.name in text_values:
            value, where = text_values[prop.name]
            ctx.report(error("E314", f"{what} reads `{prop.name}`, which holds text (\"{value}\")", prop.span,
                             notes=[Note(f"`{prop.name}` is compared with text here", where)],
                             hints=["a quantity is read from a numeric property"]))
            ok = False
    return ok


# ----------------------------------------------------------------- plans and contracts


def billing_day(ctx: Context, owner: str, stmt: n.Billing) -> int | None:
    """`on day D`: a whole day of the month, 1 to 31 (clamped to shorter months' ends)."""
    if stmt.day is None:
        return None
    day = lit.plain_number(ctx, stmt.day, "the billing day", integer=True)
    if day is None:
        return None
    if not limits.FIRST_BILLING_DAY <= day <= limits.LAST_BILLING_DAY:
        ctx.report(error("E311", f"billing day `{stmt.day.raw}` is out of range: a day of the month is "
                                 f"{limits.FIRST_BILLING_DAY} to {limits.LAST_BILLING_DAY}", stmt.day.span,
                         hints=["a day past a month's end means its last day (`on day 31`: month ends)"]))
        return None
    ctx.origin(f"{owner}/billing", stmt.span)
    return int(day)


def cap(ctx: Context, owner: str, stmt: n.Cap) -> Decimal | None:
    amount = lit.money(ctx, stmt.amount, "cap")
    if amount is not None:
        ctx.origin(f"{owner}/cap", stmt.span)
    return amount


def charged_meters(ctx: Context, plans: Iterable[Plan | None]) -> AbstractSet[str] | None:
    """The meters some of `plans` charge; None when that is not known (a plan that could not
    be built, or one charging an unknown meter: one cause, one report)."""
    found: set[str] = set()
    for plan in plans:
        if plan is None or f"plan:{plan.name}" in ctx.unresolved:
            return None
        found.update(c.meter for c in plan.charges)
    return found


def applies_to(ctx: Context, stmt: n.AppliesTo, charged: AbstractSet[str] | None, whose: str) -> tuple[str, ...]:
    """The targets of `applies to`: meters (E201 unknown, E209 not charged) or `fees`."""
    out: dict[str, n.Ident] = {}
    for target in stmt.targets:
        name = target.name
        if name in out:
            ctx.report(error("E203", f"`{name}` is named twice in `applies to`", target.span,
                             notes=[Note("first named here", out[name].span)]))
            continue
        if name != FEES and name not in ctx.meter_nodes:
            guess = did_you_mean(name, list(ctx.meter_nodes) + [FEES])
            ctx.report(error("E201", f"unknown meter `{name}` in `applies to`"
                             + (f" (did you mean `{guess}`?)" if guess else ""), target.span,
                             hints=[] if guess else ["name meters, or `fees` for the fee lines"]))
            continue
        if name != FEES and charged is not None and name not in charged:
            ctx.report(error("E209", f"`applies to {name}`, a meter {whose} does not charge", target.span,
                             hints=[f"it would cover no line; name a meter {whose} charges"]))
            continue
        out[name] = target
    return tuple(out)


def _targets(ctx: Context, seen: dict, charged: AbstractSet[str] | None, whose: str) -> tuple[str, ...] | None:
    """The block's `applies to` (empty when it has none); None after reporting a bad target."""
    if n.AppliesTo not in seen:
        return ()
    errors = len(ctx.diagnostics)
    targets = applies_to(ctx, seen[n.AppliesTo], charged, whose)
    return targets if len(ctx.diagnostics) == errors else None


def _block(ctx: Context, what: str, body: Iterable, kinds: dict[type, str]) -> dict[type, object]:
    return singles(ctx, what, body, kinds)


def allowances(ctx: Context, plan: str, body: Iterable, charged: AbstractSet[str] | None) -> tuple[Allowance, ...]:
    out = []
    for i, stmt in enumerate(s for s in body if isinstance(s, n.Allowance)):
        seen = _block(ctx, "allowance", stmt.body or (), {n.Description: "description",
                                                          n.AppliesTo: "applies to"})
        amount = lit.money(ctx, stmt.amount, "allowance")
        cadence = "period"
        if stmt.cadence is not None:
            cadence = lit.word(ctx, stmt.cadence, CADENCES, "allowance cadence") or "period"
        targets = _targets(ctx, seen, charged, f"plan `{plan}`")
        if amount is None or targets is None:
            continue
        allowance_id = f"plan:{plan}/allowance/{i}"
        ctx.origin(allowance_id, stmt.span)
        out.append(Allowance(id=allowance_id, amount=amount, cadence=cadence, applies_to=targets,
                             description=seen[n.Description].text.value if n.Description in seen else ""))
    return tuple(out)


def discounts(ctx: Context, contract: str, body: Iterable, charged: AbstractSet[str] | None,
              whose: str) -> tuple[Discount, ...]:
    out = []
    for i, stmt in enumerate(s for s in body if isinstance(s, n.Discount)):
        discount = _discount(ctx, f"contract:{contract}/discount/{i}", stmt, charged, whose)
        if discount is not None:
            out.append(discount)
    return tuple(out)


def _discount(ctx: Context, discount_id: str, stmt: n.Discount, charged: AbstractSet[str] | None,
              whose: str) -> Discount | None:
    seen = _block(ctx, "discount", stmt.body or (), {n.Description: "description", n.AppliesTo: "applies to"})
    terms = ([stmt.term] if stmt.term is not None else []) + [s for s in stmt.body or ()
                                                              if isinstance(s, (n.Once, n.ForPeriods))]
    for extra in terms[1:]:
        ctx.report(error("E203", "the discount's duration is given twice", extra.span,
                         notes=[Note("first given here", terms[0].span)],
                         hints=["`once` is the first period; `for N periods` the first N"]))
    ok = True
    periods = None
    if terms and isinstance(terms[0], n.Once):
        periods = 1
    elif terms:
        term = terms[0]
        unit = lit.word(ctx, term.unit, PERIOD_WORDS, "duration unit")
        ok &= unit is not None
        count = lit.plain_number(ctx, term.count, "the number of periods", integer=True, positive=True)
        if unit == "period" and count is not None and count != 1:
            ctx.report(error("E319", f"`for {term.count.raw} period`: a count other than 1 takes `periods`",
                             term.unit.span, hints=[f"write `for {term.count.raw} periods`"]))
            ok = False
        if count is not None and count > limits.MAX_DISCOUNT_PERIODS:
            ctx.report(error("E311", f"`for {term.count.raw} periods` is out of range: at most "
                                     f"{limits.MAX_DISCOUNT_PERIODS:,}", term.count.span))
            count = None
        ok &= count is not None
        periods = int(count) if count is not None else None
    percent = amount = None
    if stmt.percent is not None:
        p = stmt.percent
        if p.value <= 0 or p.value > 100:
            ctx.report(error("E312", f"a discount of `{p.raw}`: a percentage discount is more than 0% and at "
                                     "most 100%", p.span))
            ok = False
        elif not limits.within(p.value, 3, limits.PERCENT_DECIMALS):
            ctx.report(error("E310", f"`{p.raw}` has more than {limits.PERCENT_DECIMALS} decimal places", p.span))
            ok = False
        else:
            percent = p.value
    else:
        amount = lit.money(ctx, stmt.money, "discount")
        if amount is not None and amount == 0:
            ctx.report(error("E312", f"a discount of `{stmt.money.raw}` takes nothing off", stmt.money.span,
                             hints=["an amount discount is more than zero"]))
            amount = None
        ok &= amount is not None
    targets = _targets(ctx, seen, charged, whose)
    if not ok or targets is None:
        return None
    ctx.origin(discount_id, stmt.span)
    return Discount(id=discount_id, percent=percent, amount=amount, periods=periods, applies_to=targets,
                    description=seen[n.Description].text.value if n.Description in seen else "")


def plan_changes(ctx: Context, contract: str, body: Iterable, first: Plan | None, first_ref: n.PlanRef | None,
                 starts: dt.date | None, ends: dt.date | None, terms: dict) -> tuple[list[PlanChange], bool]:
    """`plan NAME from DATE` statements, in date order, and whether they were all understood.

    Each is after `starts` and not after `ends` (E210), on its own day (E211), to a known plan
    (E202) other than the one it leaves (E210)."""
    stmts = [s for s in body if isinstance(s, n.PlanChange)]
    ok = True
    dated: list[tuple[dt.date, int, n.PlanChange]] = []
    for i, stmt in enumerate(stmts):
        day = lit.date(ctx, stmt.date, "a plan change")
        if stmt.name.name not in ctx.plan_nodes:
            unknown_name(ctx, stmt.name, "plan", ctx.plan_nodes, f"contract:{contract}")
            ok = False
            continue
        if day is None:
            ok = False
            continue
        if starts is not None and day <= starts:
            ctx.report(error("E210", f"plan change on {day}, {'before' if day < starts else 'on'} the contract "
                                     f"starts ({starts})", stmt.date.span,
                             hints=["a contract starts on its first plan: name the plan it starts on in `plan`"
                                    if day == starts else "move the change after `starts`"]))
            ok = False
            continue
        if ends is not None and day > ends:
            ctx.report(error("E210", f"plan change on {day}, after the contract ends ({ends})", stmt.date.span,
                             hints=["a change after `ends` never takes effect"]))
            ok = False
            continue
        dated.append((day, i, stmt))
    dated.sort(key=lambda x: (x[0], x[1]))
    out: list[PlanChange] = []
    previous_plan = first_ref.name.name if first_ref is not None else None
    previous: tuple[dt.date, n.PlanChange] | None = None
    for day, i, stmt in dated:
        if previous is not None and previous[0] == day:
            ctx.report(error("E211", f"two plan changes on {day}", stmt.span,
                             notes=[Note("the other change", previous[1].span)],
                             hints=["a contract is on one plan a day; keep one of them"]))
            ok = False
            continue
        if stmt.name.name == previous_plan:
            ctx.report(error("E210", f"plan change to `{previous_plan}`, the plan the contract is on already",
                             stmt.name.span))
            ok = False
            continue
        previous, previous_plan = (day, stmt), stmt.name.name
        plan = ctx.plans.get(stmt.name.name)
        if plan is None:
            ok = False
            continue
        ctx.origin(f"contract:{contract}/plan_change/{i}", stmt.span)
        out.append(PlanChange(plan=plan.name, effective=day, minimum=terms.get("minimum", plan.minimum),
                              cap=terms.get("cap", plan.cap)))
    return out, ok


def overrides_on_new_plans(ctx: Context, stmts: dict[str, list[n.Override]], body: Iterable) -> None:
    """E206 for an override of a meter a plan the contract changes to does not charge."""
    for change in (s for s in body if isinstance(s, n.PlanChange)):
        plan = ctx.plans.get(change.name.name)
        if plan is None or f"plan:{plan.name}" in ctx.unresolved:
            continue
        for meter_name, overrides in stmts.items():
            if plan.charge(meter_name) is None:
                ctx.report(error(
                    "E206", f"override of meter `{meter_name}`, which plan `{plan.name}` does not charge",
                    overrides[0].meter.span, notes=[Note(f"the contract changes to plan `{plan.name}` here",
                                                         change.span)],
                    hints=[f"add `charge {meter_name}` to plan `{plan.name}`, or remove this override"]))


def credit_scope(ctx: Context, grant_id: str, seen: dict, charged: AbstractSet[str] | None,
                 whose: str) -> dict | None:
    """A credit's `priority` (a whole number from 0) and `applies to`; None after an error."""
    out: dict = {}
    ok = True
    if n.Priority in seen:
        stmt = seen[n.Priority]
        value = lit.plain_number(ctx, stmt.value, "a credit's priority", integer=True)
        if value is not None and value > limits.MAX_PRIORITY:
            ctx.report(error("E311", f"priority `{stmt.value.raw}` is out of range: at most "
                                     f"{limits.MAX_PRIORITY:,}", stmt.value.span))
            value = None
        if value is None:
            ok = False
        else:
            out["priority"] = int(value)
            ctx.origin(f"{grant_id}/priority", stmt.span)
    targets = _targets(ctx, seen, charged, whose)
    if targets is None:
        ok = False
    elif targets:
        out["applies_to"] = targets
        ctx.origin(f"{grant_id}/applies_to", seen[n.AppliesTo].span)
    return out if ok else None
