"""Hover text (Markdown) for what is under the cursor.

- a meter (its name anywhere): title, event, aggregation, dimensions, filter,
  rate card, and the plans that charge it;
- a rule: its price and which lines it wins, as `explain` would say (`wins`);
- a plan: terms, fees and charges, each charge with its price;
- a contract: customer, plan, dates, terms and what it overrides;
- a dimension: whose it is and the values it is known to take;
- a credit: its amount, price and the window in which it pays invoices.

Descriptions come from the compiled model; while a file does not parse, the
last plan that compiled is used and the hover says so.
"""

from __future__ import annotations

import datetime as dt

from ..compiler.checks import conditions_text, window_text
from ..report.explain import describe_action, describe_conditions
from ..model import FEES, CreditGrant, Meter, RateCard, RatingPlan, Rule
from ..money import plain
from .analysis import Analysis
from .symbols import contains
from . import wins


def hover_text(analysis: Analysis, file: str, line: int, col: int) -> tuple[str, object] | None:
    """(Markdown, the span it is about) for the position, or None."""
    plan = analysis.plan
    occ = analysis.index.at(file, line, col)
    if occ is not None:
        body = _symbol(analysis, plan, occ.symbol) if plan is not None else None
        return (_stale(analysis, body), occ.span) if body else None
    if plan is None:
        return None
    for span, _node, _meter in analysis.index.rules:
        if span.file == file and contains(span, line, col):
            rule_id = analysis.model_id(span)
            if rule_id is not None:
                body = _rule(plan, rule_id)
                if body:
                    return _stale(analysis, body), span
    for span, _node in analysis.index.credits:
        if span.file == file and contains(span, line, col):
            grant_id = analysis.model_id(span)
            grant = _grant(plan, grant_id) if grant_id else None
            if grant is not None:
                return _stale(analysis, _credit(plan, grant)), span
    return None


def _stale(analysis: Analysis, body: str) -> str:
    if analysis.plan_is_stale:
        body += "\n\n_(from the last version of the project that compiled)_"
    return body


def _money(plan: RatingPlan, amount) -> str:
    symbol = "$" if plan.currency == "USD" else ""
    return f"{symbol}{plain(amount)}" + ("" if symbol else f" {plan.currency}")


def _card(plan: RatingPlan, card: RateCard, indent: str = "") -> list[str]:
    out = []
    for rule in card.rules:
        dated = "" if rule.valid_from is None and rule.valid_until is None else \
            f" ({window_text(rule.valid_from, rule.valid_until)})"
        out.append(f"{indent}- `{_rule_text(plan, rule)}`{dated}")
    return out


def _rule_text(plan: RatingPlan, rule: Rule) -> str:
    return f"{describe_conditions(rule)} : {describe_action(rule.action, plan.currency)}"


def _symbol(analysis: Analysis, plan: RatingPlan, symbol: tuple) -> str | None:
    kind = symbol[0]
    if kind == "meter":
        meter = plan.meters.get(symbol[1])
        return _meter(plan, meter) if meter else None
    if kind == "plan":
        return _plan(plan, symbol[1])
    if kind == "contract":
        return _contract(plan, symbol[1])
    return _dimension(analysis, plan, symbol)


def _meter(plan: RatingPlan, meter: Meter) -> str:
    agg = meter.aggregation
    how = agg.text
    out = [f"**meter `{meter.name}`**" + (f" — {meter.title}" if meter.title != meter.name else ""),
           "", f"event `{meter.event}`, aggregated as `{how}`"]
    if meter.dimensions:
        dims = []
        for d in meter.dimensions:
            values = f" in ({', '.join(repr_value(v) for v in d.values)})" if d.values is not None else ""
            dims.append(f"`{d.name}{values}`")
        out.append("dimensions: " + ", ".join(dims))
    if meter.where:
        out.append(f"counts only events where `{conditions_text(meter.where)}`")
    if meter.rates is not None:
        out += ["", f"rate card (per {meter.rates.unit.label()}):"] + _card(plan, meter.rates)
    else:
        out += ["", "no rate card of its own: plans that charge it set the price"]
    charged = [p.name for p in plan.plans.values() if p.charge(meter.name) is not None]
    out += ["", "charged by " + (", ".join(f"plan `{p}`" for p in charged) if charged else "no plan")]
    return "\n".join(out)


def repr_value(value: str) -> str:
    return f'"{value}"'


def _plan(plan: RatingPlan, name: str) -> str | None:
    p = plan.plans.get(name)
    if p is None:
        return None
    out = [f"**plan `{p.name}`**" + (f" — {p.title}" if p.title != p.name else ""), "",
           f"billed {p.billing}, payment net {p.payment_days}, autopay {'on' if p.autopay else 'off'}"]
    if p.minimum is not None:
        out.append(f"minimum {_money(plan, p.minimum)} per period")
    for fee in p.fees:
        out.append(f"- fee \"{fee.name}\": {_money(plan, fee.amount)} per {fee.cadence}")
    if p.charges:
        out += ["", "charges:"]
    for charge in p.charges:
        if charge.rates is None:
            meter = plan.meters.get(charge.meter)
            where = "the meter's rate card" if meter and meter.rates else "no price (the meter has no rate card)"
            out.append(f"- `{charge.meter}`: {where}")
        else:
            out.append(f"- `{charge.meter}` (per {charge.rates.unit.label()}):")
            out += _card(plan, charge.rates, "  ")
    contracts = [f"`{c.name}`" for c in plan.contracts.values() if c.plan == name]
    contracts += [f"`{c.name}` (from {change.effective})" for c in plan.contracts.values()
                  for change in c.plan_changes if change.plan == name]  # `plan NAME from DATE`
    if contracts:
        out += ["", "contracts: " + ", ".join(contracts)]
    return "\n".join(out)


def _contract(plan: RatingPlan, name: str) -> str | None:
    c = plan.contracts.get(name)
    if c is None:
        return None
    until = f" to {c.ends}" if c.ends else ", open-ended"
    changes = "".join(f", then plan `{ch.plan}` from {ch.effective}" for ch in c.plan_changes)
    out = [f"**contract `{c.name}`** — customer \"{c.customer}\" on plan `{c.plan}`{changes}", "",
           f"from {c.starts}{until}; billed {c.billing}, payment net {c.payment_days}, "
           f"autopay {'on' if c.autopay else 'off'}"]
    if c.minimum is not None:
        out.append(f"minimum {_money(plan, c.minimum)} per period")
    if c.cap is not None:
        out.append(f"cap {_money(plan, c.cap)} per period")
    if c.dimensions:
        out.append("dimensions: " + ", ".join(f'`{k} = "{v}"`' for k, v in c.dimensions.items()))
    for meter, card in c.overrides.items():
        out.append(f"- override `{meter}`:")
        out += _card(plan, card, "  ")
    for d in c.discounts:
        out.append(f"- {_discount(plan, d)}")
    for grant in c.credits:
        out.append(f"- credit {_money(plan, grant.amount)}: {_window(grant)}")
    return "\n".join(out)


def _targets(applies_to: tuple[str, ...]) -> str:
    """`applies to` in words: meters in backticks, `fees` as the word."""
    return ", ".join(t if t == FEES else f"`{t}`" for t in applies_to)


def _discount(plan: RatingPlan, d) -> str:
    size = f"{d.percent.normalize():f}%" if d.percent is not None else _money(plan, d.amount)
    on = f" on {_targets(d.applies_to)}" if d.applies_to else " on every usage and fee line"
    periods = {None: "", 1: ", the first period"}.get(d.periods, f", the first {d.periods} periods")
    return f"discount {size}{on}{periods}" + (f" ({d.description})" if d.description else "")


def _dimension(analysis: Analysis, plan: RatingPlan, symbol: tuple) -> str | None:
    values = sorted(analysis.index.values.get(symbol, ()))
    shown = ", ".join(repr_value(v) for v in values) if values else "none written yet"
    if symbol[0] == "dimension":
        _, meter_name, key = symbol
        meter = plan.meters.get(meter_name)
        declared = None
        if meter is not None:
            declared = next((d.values for d in meter.dimensions if d.name == key), None)
        if declared is not None:
            return (f"**dimension `{key}`** of meter `{meter_name}`\n\n"
                    f"declared values: {', '.join(repr_value(v) for v in declared)}")
        return f"**dimension `{key}`** of meter `{meter_name}` (values not declared)\n\nvalues written: {shown}"
    key = symbol[1]
    setters = [f'`{c.name}` = "{c.dimensions[key]}"' for c in plan.contracts.values() if key in c.dimensions]
    return (f"**contract dimension `{key}`**: a key no meter declares, set per contract\n\n"
            + ("set by " + ", ".join(setters) if setters else "no contract sets it"))


def _rule(plan: RatingPlan, rule_id: str) -> str | None:
    owner = wins.find_rule(plan, rule_id)
    if owner is None:
        return None
    where = {"meter": f"meter `{owner.name}`", "plan": f"plan `{owner.name}`",
             "contract": f"contract `{owner.name}`"}[owner.kind]
    meter = f" for meter `{owner.meter.name}`" if owner.meter and owner.kind != "meter" else ""
    rule = owner.rule
    dated = "" if rule.valid_from is None and rule.valid_until is None else \
        f", in effect {window_text(rule.valid_from, rule.valid_until)}"
    head = f"**rule** `{_rule_text(plan, rule)}` in {where}{meter}{dated} ({plan.origins.get(rule_id, rule_id)})"
    return "\n".join([head, ""] + wins.outcomes(plan, rule_id))


def _grant(plan: RatingPlan, grant_id: str) -> CreditGrant | None:
    contract = plan.contracts.get(grant_id.split(":", 1)[-1].split("/", 1)[0])
    if contract is None:
        return None
    return next((g for g in contract.credits if g.id == grant_id), None)


def _window(grant: CreditGrant) -> str:
    if grant.expires is None:
        return f"pays invoices from {grant.granted}, never expires"
    last = (grant.expires - dt.timedelta(microseconds=1))
    if grant.expires.time() == dt.time(0) and grant.expires.tzinfo is not None:
        return (f"pays invoices whose period overlaps {grant.granted} through {last.date()} "
                f"(expires at {grant.expires.isoformat().replace('+00:00', 'Z')})")
    return (f"pays invoices whose period overlaps {grant.granted} until "
            f"{grant.expires.isoformat().replace('+00:00', 'Z')} (exclusive)")


def _credit(plan: RatingPlan, grant: CreditGrant) -> str:
    out = [f"**credit** {_money(plan, grant.amount)}" + (f" — {grant.description}" if grant.description else "")]
    if grant.price is not None:
        out.append(f"\nbought for {_money(plan, grant.price)}: a credit purchase invoice on {grant.granted}")
    else:
        out.append("\nfree (no `price`)")
    if grant.applies_to:
        out.append(f"\npays lines of {_targets(grant.applies_to)} only")
    order = (f"priority {grant.priority}: among grants that can pay an invoice, lower priorities pay "
             "first, grants without one last, then the one that expires soonest"
             if grant.priority is not None else
             "when several grants can pay an invoice, those with a `priority` pay first, then the one "
             "that expires soonest")
    out.append(f"\nwindow: {_window(grant)}; {order}")
    return "\n".join(out)
