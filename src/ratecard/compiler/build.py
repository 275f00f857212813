"""Passes 2-4: resolve names and build meters, then plans, then contracts.

Each builder reads one block's statements, reports what is wrong with them
(missing or repeated statements, unknown names, bad values) and returns the
model object, or None when the block is too broken to price anything.
"""

from __future__ import annotations

import datetime as dt
from typing import Iterable

from ..diagnostics import Note, Span, did_you_mean, error, warning
from ..model import (
    Charge,
    Contract,
    CreditGrant,
    Dimension,
    Fee,
    Meter,
    Plan,
    RateCard,
    Rule,
    Unit,
)
from ..rules import DEFAULT_UNIT, close_versions, override_unit, version_key
from ..syntax import nodes as n
from . import literals as lit
from . import price_lists
from .blocks import CADENCES, singles, unknown_name
from .checks import conditions_text
from .context import Context

CYCLES = ("monthly", "quarterly", "annual")
ON_OFF = ("on", "off")


# ----------------------------------------------------------------- helpers


def _require(ctx: Context, seen: dict, kind: type, label: str, block: str, span: Span,
             example: str) -> bool:
    if kind in seen:
        return True
    ctx.report(error("E204", f"{block} has no `{label}`", span, hints=[f"add `{example}`"]))
    return False


def _effective(ctx: Context, eff: n.Effective | None) -> tuple[dt.date | None, dt.date | None]:
    if eff is None:
        return None, None
    start = lit.date(ctx, eff.start, "`from`") if eff.start else None
    until = lit.date(ctx, eff.until, "`until`") if eff.until else None
    if start and until and until <= start:
        ctx.report(error("E305", f"`until {eff.until.raw}` is not after `from {eff.start.raw}`",
                         eff.span))
    return start, until


def _rules(ctx: Context, prefix: str, rules: Iterable[n.Rule], card_unit: Unit,
           eff: n.Effective | None, start_index: int, what: str) -> list[Rule]:
    """The rules of one version of a card (`prefix`, its id). A rule whose price was
    rejected is left out, so the card is unresolved; rules whose dates were rejected
    are built undated, so they are unresolved."""
    errors = len(ctx.diagnostics)
    valid_from, valid_until = _effective(ctx, eff)
    dates_failed = len(ctx.diagnostics) > errors
    out = []
    for i, r in enumerate(rules, start=start_index):
        action = lit.action(ctx, r.rhs, card_unit, what)
        if action is None:
            ctx.unresolved.add(prefix)
            continue
        rule_id = f"{prefix}/{i}"
        conditions = tuple(lit.condition(ctx, c) for c in r.conditions)
        if dates_failed or any("" in c.values for c in conditions):  # (E318)
            ctx.unresolved.add(rule_id)
        out.append(Rule(
            id=rule_id,
            conditions=conditions,
            is_default=r.is_default,
            action=action,
            valid_from=valid_from,
            valid_until=valid_until,
        ))
        ctx.origin(rule_id, r.span)
    return out


def _inline_unit(ctx: Context, spec: n.RateSpec, fallback: Unit) -> Unit:
    """The unit a rate spec states: its `per`, or the one its single inline price states."""
    if spec.per is not None:
        return lit.unit(ctx, spec.per, fallback)
    if spec.inline:
        rhs = spec.rules[0].rhs
        per = getattr(rhs, "per", None)
        if per is not None:
            # the rule's own price reads (and reports a bad) `per` again: don't report twice
            return lit.unit(Context([]), per, fallback)
    return fallback


def _merge_specs(ctx: Context, prefix: str, specs: list[tuple[n.RateSpec, Span]], fallback: Unit,
                 what: str) -> RateCard | None:
    """Several dated versions of one rate spec become one card of dated rules.

    A version of a rule without `until` ends where a later version of the same
    rule (same conditions) starts, so `charge M : $2 from 2026-04-01` next to
    `charge M : $1` is a price change, not two prices at once.
    """
    undated = [(s, span) for s, span in specs if s.effective is None]
    for extra, span in undated[1:]:
        ctx.report(error("E205", f"{what} is priced twice without dates", span,
                         notes=[Note("first priced here", undated[0][1])],
                         hints=["give each version `from DATE` to change prices over time"]))
    card_unit: Unit | None = None
    rules: list[Rule] = []
    for spec, _ in specs[:1] + [x for x in specs[1:] if x[0].effective is not None]:
        unit = _inline_unit(ctx, spec, fallback)
        card_unit = card_unit or unit
        rules.extend(_rules(ctx, prefix, spec.rules, unit, spec.effective, len(rules), what))
    if card_unit is None:
        return None
    if not any(r.valid_from is not None or r.valid_until is not None for r in rules):
        return RateCard(unit=card_unit, rules=tuple(rules))  # no versions: nothing to close
    closed = close_versions(rules)
    _versions_that_end(ctx, rules, closed, what)
    return RateCard(unit=card_unit, rules=tuple(closed))


def _versions_that_end(ctx: Context, written: list[Rule], closed: list[Rule], what: str) -> None:
    """W007 when every version of a rule ends, one of them only because a later version
    started: an open-ended version does not resume after a later one's `until`."""
    groups: dict[tuple, list[tuple[Rule, Rule]]] = {}
    for old, new in zip(written, closed):
        groups.setdefault(version_key(new), []).append((old, new))
    for pairs in groups.values():
        if any(old.id in ctx.unresolved for old, _ in pairs):
            continue  # a version with rejected dates: its gaps are guesses
        ended = [(old, new) for old, new in pairs if old.valid_until is None and new.valid_until is not None]
        if not ended or any(new.valid_until is None for _, new in pairs):
            continue
        last = max((new for _, new in pairs), key=lambda r: r.valid_until)
        first, first_closed = ended[0]
        rule_text = "default" if first.is_default or not first.conditions else conditions_text(first.conditions)
        ctx.report(warning(
            "W007",
            f"no version of `{rule_text}` for {what} is in effect from {last.valid_until} on: "
            f"the version written without `until` ended on {first_closed.valid_until}, "
            "when a later version started, and does not resume",
            ctx.spans.get(last.id),
            notes=[Note("the version without `until`", ctx.spans[first.id])] if first.id in ctx.spans else [],
            hints=[f"state the earlier price again `from {last.valid_until}` to resume it"],
        ))


# ----------------------------------------------------------------- meters


def build_meters(ctx: Context) -> None:
    for name, block in ctx.meter_nodes.items():
        meter = _meter(ctx, block)
        if meter is not None:
            ctx.meters[name] = meter
            ctx.origin(f"meter:{name}", block.name.span)


def _meter(ctx: Context, block: n.MeterBlock) -> Meter | None:
    name = block.name.name
    where = f"meter `{name}`"
    seen = singles(ctx, where, block.body, {
        n.Title: "title", n.Event: "event", n.Aggregation: "aggregation", n.Dimensions: "dimensions",
    })
    ok = _require(ctx, seen, n.Event, "event", where, block.name.span, 'event "event.type"')
    if n.Aggregation not in seen:
        ctx.report(error("E204", f"{where} has no aggregation", block.name.span,
                         hints=["add one of `count`, `sum FIELD`, `max FIELD`, `unique FIELD`, "
                                "`latest FIELD`"]))
        ok = False
    dims: list[Dimension] = []
    if n.Dimensions in seen:
        declared: dict[str, n.DimensionDecl] = {}
        for d in seen[n.Dimensions].items:
            if d.name.name in declared:
                ctx.report(error("E403", f"dimension `{d.name.name}` is declared twice", d.name.span,
                                 notes=[Note("first declared here", declared[d.name.name].name.span)]))
                continue
            declared[d.name.name] = d
            values = None
            if d.values is not None:  # ("" is E318, and no value: left out of the set)
                absent = f"leave it out: usage without `{d.name.name}` needs no declaring"
                values = tuple(dict.fromkeys(v for v in (lit.value_text(ctx, v, d.name.name, absent)
                                                         for v in d.values) if v)) or None
            dims.append(Dimension(name=d.name.name, values=values))
    filters = tuple(lit.condition(ctx, c) for s in block.body if isinstance(s, n.Where)
                    for c in s.conditions)
    rate_blocks = [s for s in block.body if isinstance(s, n.Rates)]
    rates = None
    if rate_blocks:
        specs = [(n.RateSpec(False, r.per, r.effective, r.rules, r.span), r.span) for r in rate_blocks]
        rates = _merge_specs(ctx, f"meter:{name}/rates", specs, DEFAULT_UNIT, f"meter `{name}`")
    if not ok:
        return None
    aggregation = price_lists.aggregation(ctx, name, seen[n.Aggregation], seen[n.Dimensions].items
                                    if n.Dimensions in seen else (), [c for s in block.body
                                                                      if isinstance(s, n.Where) for c in s.conditions])
    if aggregation is None:
        return None
    title = seen[n.Title].text.value if n.Title in seen else name
    return Meter(
        name=name,
        title=title,
        event=seen[n.Event].name.value,
        aggregation=aggregation,
        dimensions=tuple(dims),
        where=filters,
        rates=rates,
    )


# ----------------------------------------------------------------- plans


def build_plans(ctx: Context) -> None:
    for name, block in ctx.plan_nodes.items():
        plan = _plan(ctx, block)
        if plan is not None:
            ctx.plans[name] = plan
            ctx.origin(f"plan:{name}", block.name.span)


def _terms(ctx: Context, seen: dict, owner: str) -> dict:
    """billing / payment / autopay / minimum / cap statements, shared by plans and contracts."""
    terms: dict = {}
    if n.Billing in seen:
        cycle = lit.word(ctx, seen[n.Billing].cycle, CYCLES, "billing cycle")
        if cycle:
            terms["billing"] = cycle
        terms["billing_day"] = price_lists.billing_day(ctx, owner, seen[n.Billing])
    if n.Cap in seen:
        amount = price_lists.cap(ctx, owner, seen[n.Cap])
        if amount is not None:
            terms["cap"] = amount
    if n.Payment in seen:
        days = lit.days(ctx, seen[n.Payment].days, "payment terms (days)")
        if days is not None:
            terms["payment_days"] = days
    if n.Autopay in seen:
        setting = lit.word(ctx, seen[n.Autopay].setting, ON_OFF, "autopay setting")
        if setting:
            terms["autopay"] = setting == "on"
    if n.Minimum in seen:
        amount = lit.money(ctx, seen[n.Minimum].amount, "minimum")
        if amount is not None:
            terms["minimum"] = amount
    return terms


def _plan(ctx: Context, block: n.PlanBlock) -> Plan | None:
    name = block.name.name
    where = f"plan `{name}`"
    seen = singles(ctx, where, block.body, {
        n.Title: "title", n.Billing: "billing", n.Payment: "payment", n.Autopay: "autopay",
        n.Minimum: "minimum", n.Cap: "cap",
    })
    terms = _terms(ctx, seen, f"plan:{name}")
    fees = []
    for i, stmt in enumerate(s for s in block.body if isinstance(s, n.Fee)):
        amount = lit.money(ctx, stmt.amount, "fee")
        cadence = "period"
        if stmt.cadence is not None:
            cadence = lit.word(ctx, stmt.cadence, CADENCES, "fee cadence") or "period"
        if amount is not None:
            fees.append(Fee(name=stmt.label.value, amount=amount, cadence=cadence,
                            in_advance=stmt.advance is not None))
            ctx.origin(f"plan:{name}/fee/{i}", stmt.span)
            if stmt.advance is not None:
                ctx.origin(f"plan:{name}/fee/{i}/advance", stmt.advance)
    charges = []
    by_meter: dict[str, list[n.Charge]] = {}
    for stmt in (s for s in block.body if isinstance(s, n.Charge)):
        meter_name = stmt.meter.name
        if meter_name not in ctx.meter_nodes:
            unknown_name(ctx, stmt.meter, "meter", ctx.meter_nodes, f"plan:{name}")
            continue
        by_meter.setdefault(meter_name, []).append(stmt)
    for meter_name, stmts in by_meter.items():
        bare = [s for s in stmts if s.spec is None]
        for extra in bare[1:]:
            ctx.report(error("E205", f"meter `{meter_name}` is charged twice in {where}", extra.span,
                             notes=[Note("first charged here", bare[0].span)]))
        specs = [(s.spec, s.span) for s in stmts if s.spec is not None]
        rates = None
        if specs:
            meter = ctx.meters.get(meter_name)
            fallback = meter.rates.unit if meter and meter.rates else DEFAULT_UNIT
            rates = _merge_specs(ctx, f"plan:{name}/charge:{meter_name}", specs, fallback,
                                 f"meter `{meter_name}` in {where}")
        charges.append(Charge(meter=meter_name, rates=rates))
        ctx.origin(f"plan:{name}/charge:{meter_name}", stmts[0].span)
    title = seen[n.Title].text.value if n.Title in seen else name
    known = None if f"plan:{name}" in ctx.unresolved else {c.meter for c in charges}
    allowances = price_lists.allowances(ctx, name, block.body, known)
    return Plan(name=name, title=title, fees=tuple(fees), charges=tuple(charges), allowances=allowances, **terms)


# ----------------------------------------------------------------- contracts


def build_contracts(ctx: Context) -> None:
    for name, block in ctx.contract_nodes.items():
        contract = build_contract(ctx, name, block.body, block.name.span)
        if contract is not None:
            ctx.contracts[name] = contract
            ctx.origin(f"contract:{name}", block.name.span)
        else:  # its dimensions (keys rules may test) are not in the model
            ctx.unresolved.add(f"contract:{name}")


def build_contract(ctx: Context, name: str, body: tuple, span: Span) -> Contract | None:
    where = f"contract `{name}`"
    seen = singles(ctx, where, body, {
        n.Title: "title", n.Customer: "customer", n.PlanRef: "plan", n.Starts: "starts",
        n.Ends: "ends", n.ContractDimensions: "dimensions", n.Billing: "billing",
        n.Payment: "payment", n.Autopay: "autopay", n.Minimum: "minimum", n.Cap: "cap",
    })
    ok = _require(ctx, seen, n.Customer, "customer", where, span, 'customer "cust_id"')
    ok &= _require(ctx, seen, n.PlanRef, "plan", where, span, "plan NAME")
    ok &= _require(ctx, seen, n.Starts, "starts", where, span, "starts 2026-01-01")
    plan: Plan | None = None
    if n.PlanRef in seen:
        ref = seen[n.PlanRef].name
        if ref.name not in ctx.plan_nodes:
            unknown_name(ctx, ref, "plan", ctx.plan_nodes, f"contract:{name}")
            ok = False
        else:
            plan = ctx.plans.get(ref.name)
            ok &= plan is not None
    starts = lit.date(ctx, seen[n.Starts].date, "`starts`") if n.Starts in seen else None
    ends = lit.date(ctx, seen[n.Ends].date, "`ends`") if n.Ends in seen else None
    if n.Ends in seen and ends is None:
        ok = False  # not an open-ended contract: its overlaps with others would be guesses
    if starts and ends and ends < starts:
        ctx.report(error("E305", f"{where} ends ({ends}) before it starts ({starts})",
                         seen[n.Ends].date.span, notes=[Note("starts here", seen[n.Starts].span)]))
        ok = False
    dimensions: dict[str, str] = {}
    if n.ContractDimensions in seen:
        first: dict[str, n.Assignment] = {}
        for a in seen[n.ContractDimensions].items:
            if a.key.name in first:
                ctx.report(error("E403", f"dimension `{a.key.name}` is set twice", a.key.span,
                                 notes=[Note("first set here", first[a.key.name].span)]))
                continue
            first[a.key.name] = a
            dimensions[a.key.name] = lit.value_text(ctx, a.value, a.key.name,
                                                    f"leave `{a.key.name}` out: the contract then sets no `{a.key.name}`")
    terms = _terms(ctx, seen, f"contract:{name}")
    changes, changes_ok = price_lists.plan_changes(ctx, name, body, plan, seen.get(n.PlanRef), starts, ends, terms)
    ok &= changes_ok
    charged = price_lists.charged_meters(ctx, [plan] + [ctx.plans.get(c.plan) for c in changes]) if changes_ok else None
    whose = f"plan `{plan.name}`" if plan is not None and not changes else "the contract's plans"

    overrides: dict[str, RateCard] = {}
    by_meter: dict[str, list[n.Override]] = {}
    for stmt in (s for s in body if isinstance(s, n.Override)):
        meter_name = stmt.meter.name
        if meter_name not in ctx.meter_nodes:
            unknown_name(ctx, stmt.meter, "meter", ctx.meter_nodes, f"contract:{name}")
            continue
        if plan is not None and plan.charge(meter_name) is None and f"plan:{plan.name}" not in ctx.unresolved:
            # (a plan with a charge of an unknown meter may have meant this one: that error is the cause)
            ctx.report(error(
                "E206", f"override of meter `{meter_name}`, which plan `{plan.name}` does not charge",
                stmt.meter.span,
                hints=[f"add `charge {meter_name}` to plan `{plan.name}`, or remove this override"],
            ))
            continue
        by_meter.setdefault(meter_name, []).append(stmt)
    price_lists.overrides_on_new_plans(ctx, by_meter, body)
    for meter_name, stmts in by_meter.items():
        card = _merge_specs(ctx, f"contract:{name}/override:{meter_name}",
                            [(s.spec, s.span) for s in stmts],
                            override_unit(plan, ctx.meters.get(meter_name)), f"meter `{meter_name}` in {where}")
        if card is not None:
            overrides[meter_name] = card

    credits = []
    for i, stmt in enumerate(s for s in body if isinstance(s, n.Credit)):
        grant = _credit(ctx, f"contract:{name}/credit/{i}", stmt, starts, charged, whose)
        if grant is not None:
            credits.append(grant)
    discounts = price_lists.discounts(ctx, name, body, charged, whose)
    if not ok or plan is None or starts is None:
        return None
    return Contract(
        name=name,
        customer=seen[n.Customer].id.value,
        plan=plan.name,
        starts=starts,
        ends=ends,
        dimensions=dict(sorted(dimensions.items())),
        billing=terms.get("billing", plan.billing),
        payment_days=terms.get("payment_days", plan.payment_days),
        autopay=terms.get("autopay", plan.autopay),
        overrides=dict(sorted(overrides.items())),
        minimum=terms.get("minimum", plan.minimum),
        credits=tuple(credits),
        source="json" if span.path is not None else "pricing",  # (a JSON contract's spans are JSON paths)
        # a contract's `billing` statement replaces the plan's, day included (docs/language.md)
        billing_day=terms.get("billing_day") if n.Billing in seen else plan.billing_day,
        cap=terms.get("cap", plan.cap),
        discounts=discounts,
        plan_changes=tuple(changes),
    )


def _credit(ctx: Context, grant_id: str, stmt: n.Credit, starts: dt.date | None, charged, whose: str
            ) -> CreditGrant | None:
    where = "credit"
    seen = singles(ctx, where, stmt.body or (), {
        n.Description: "description", n.CreditPrice: "price", n.Granted: "granted",
        n.Expires: "expires", n.Priority: "priority", n.AppliesTo: "applies to",
    })
    scope = price_lists.credit_scope(ctx, grant_id, seen, charged, whose)
    amount = lit.money(ctx, stmt.amount, "credit")
    price = lit.money(ctx, seen[n.CreditPrice].amount, "credit price") if n.CreditPrice in seen else None
    granted = lit.date(ctx, seen[n.Granted].date, "`granted`") if n.Granted in seen else starts
    expires = lit.instant(ctx, seen[n.Expires].date, "expiry") if n.Expires in seen else None
    if granted and expires and expires <= dt.datetime.combine(granted, dt.time(), tzinfo=dt.timezone.utc):
        ctx.report(error("E306", f"the credit expires ({seen[n.Expires].date.raw}) before it is "
                                 f"granted ({granted})", seen[n.Expires].span,
                         hints=["a grant is active from `granted` (default: the contract start) "
                                "until `expires`"]))
        return None
    if amount is None or granted is None or (n.CreditPrice in seen and price is None) or scope is None:
        return None
    ctx.origin(grant_id, stmt.span)
    return CreditGrant(
        id=grant_id,
        amount=amount,
        description=seen[n.Description].text.value if n.Description in seen else "",
        price=price,
        granted=granted,
        expires=expires,
        **scope,
    )
