"""RatingPlan + usage aggregates + credits -> invoices (the evaluator).

    periods per contract -> windows -> usage stage (aggregates, rejections)
      -> lines per period: fees, usage (priced through the rules engine), minimum
      -> credit purchases, credit burn-down, breakage -> `InvoiceRun`

Every line is computed exactly and rounded once, in the project's rounding
mode, to the currency's minor unit; subtotals and totals are sums of rounded
lines. Rule resolution is cached per (contract, meter, dimension values, day),
so pricing a million aggregates resolves each distinct line shape once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable, Sequence

from ..diagnostics import Diagnostic, error, has_errors
from ..model import CADENCE_MONTHS, Contract, Plan, RatingPlan
from ..money import ZERO, plain, round_money
from .. import rules as engine
from ..usage.records import REJECTION_REASONS, Aggregate, ContractTerm, UsageReport, Window
from .credits import Bill, GrantLedger, burn
from .documents import (
    Breakage,
    CreditApplied,
    Invoice,
    InvoiceRun,
    Line,
    PeriodRange,
    Reconciliation,
    TierLine,
)
from .periods import Period, midnight, periods
from .pricing import BeyondLastTier, Priced, price_quantity

Aggregator = Callable[..., UsageReport]


@dataclass(frozen=True)
class PricedLine:
    """A usage line with everything `explain` shows about how it was priced."""

    contract: str
    period: Period
    line: Line
    aggregate: Aggregate
    resolution: engine.Resolution
    priced: Priced
    exact: Decimal


@dataclass
class Evaluation:
    run: InvoiceRun | None
    diagnostics: list[Diagnostic]
    usage: UsageReport | None = None
    priced: list[PricedLine] = field(default_factory=list)
    ledgers: list[GrantLedger] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.run is not None and not has_errors(self.diagnostics)


def _q(value: Decimal) -> Decimal:
    """A quantity or unit price as written: exact, without storage zeros."""
    return Decimal(plain(value))


class _Pricer:
    """Prices usage aggregates for one plan, caching rule resolution."""

    def __init__(self, plan: RatingPlan):
        self.plan = plan
        self.cache: dict[tuple, engine.Resolution | None] = {}
        self.layers: dict[tuple[str, str], tuple[engine.Layer, ...]] = {}

    def resolve(self, contract: Contract, meter: str, dims: tuple, day: dt.date):
        key = (contract.name, meter, dims, day)
        if key not in self.cache:
            lk = (contract.name, meter)
            if lk not in self.layers:
                self.layers[lk] = engine.layers_for(self.plan, contract, meter)
            present = {k: v for k, v in dims if v is not None}
            attrs = engine.line_attributes(contract, present)
            self.cache[key] = engine.resolve(self.layers[lk], attrs, day)
        return self.cache[key]


def _describe_dims(dims: tuple) -> str:
    shown = ", ".join(f'{k} = "{v}"' for k, v in dims if v is not None)
    return shown or "no dimensions"


def evaluate(plan: RatingPlan, usage_files: Sequence[str], through: dt.date, *,
             aggregator: Aggregator | None = None, skip_bad_rows: str | None = None,
             memory_limit: str | None = None, threads: int | None = None) -> Evaluation:
    if aggregator is None:
        from ..usage import aggregate_usage as aggregator  # the DuckDB path

    contracts = sorted(plan.contracts.values(), key=lambda c: c.name)
    contract_periods = {c.name: periods(c, through) for c in contracts}
    windows = [Window(p.key, c.name, midnight(p.start), midnight(p.end))
               for c in contracts for p in contract_periods[c.name]]
    terms = [
        ContractTerm(
            contract=c.name,
            customer=c.customer,
            plan=c.plan,
            starts=midnight(c.starts),
            ends=midnight(c.end_exclusive) if c.end_exclusive else None,
            charged_meters=tuple(ch.meter for ch in plan.plans[c.plan].charges),
        )
        for c in contracts
    ]
    report = aggregator(plan, terms, windows, list(usage_files), skip_bad_rows=skip_bad_rows,
                        memory_limit=memory_limit, threads=threads)
    if has_errors(report.diagnostics):
        return Evaluation(None, list(report.diagnostics), report)

    by_window: dict[str, list[Aggregate]] = {}
    for agg in report.aggregates:
        by_window.setdefault(agg.window, []).append(agg)

    pricer = _Pricer(plan)
    currency, mode = plan.currency, plan.rounding

    def money(x: Decimal) -> Decimal:
        return round_money(x, currency, mode)

    diagnostics: list[Diagnostic] = list(report.diagnostics)
    invoices: list[Invoice] = []
    breakage: list[Breakage] = []
    priced_lines: list[PricedLine] = []
    all_ledgers: list[GrantLedger] = []

    for contract in contracts:
        plan_obj = plan.plans[contract.plan]
        usage_invoices: list[dict] = []
        for period in contract_periods[contract.name]:
            lines = _fee_lines(plan_obj, period, money)
            for agg, line, priced, resolution, exact, problem in _usage_lines(
                    plan, pricer, contract, plan_obj, period, by_window.get(period.key, []), money):
                if problem is not None:
                    diagnostics.append(problem)
                    continue
                lines.append(line)
                priced_lines.append(PricedLine(contract.name, period, line, agg, resolution, priced, exact))
            minimum = _minimum_line(contract, period, lines, money)
            if minimum is not None:
                lines.append(minimum)
            subtotal = sum((ln.amount for ln in lines), money(ZERO))
            usage_invoices.append({
                "period": period,
                "lines": lines,
                "subtotal": subtotal,
                "number": f"{contract.name}-{period.start:%Y%m%d}",
            })

        bills = [Bill(u["period"].key, u["number"], u["period"].start, u["period"].end, u["subtotal"])
                 for u in usage_invoices]
        applied, ledgers = burn(contract, bills, through, money)
        all_ledgers.extend(ledgers)

        docs: list[Invoice] = []
        for index, grant in enumerate(contract.credits):
            if grant.price is None or grant.granted > through:
                continue
            price = money(grant.price)
            docs.append(Invoice(
                number=f"{contract.name}-{grant.granted:%Y%m%d}-C{index + 1}",
                contract=contract.name,
                customer=contract.customer,
                plan=contract.plan,
                kind="credit_purchase",
                period=PeriodRange(start=grant.granted, end=grant.granted),
                issued=grant.granted,
                due=grant.granted + dt.timedelta(days=contract.payment_days),
                payment_terms_days=contract.payment_days,
                currency=currency,
                autopay=contract.autopay,
                lines=[Line(kind="credit", charge="credit",
                            description=grant.description or "Prepaid credit",
                            quantity=Decimal(1), unit="grant", unit_price=price, amount=price,
                            rule=plan.origins.get(grant.id))],
                subtotal=price,
                credits_applied=money(ZERO),
                total=price,
            ))
        for u in usage_invoices:
            period: Period = u["period"]
            draws = applied.get(period.key, [])
            credit_total = sum((amount for _, amount in draws), money(ZERO))
            docs.append(Invoice(
                number=u["number"],
                contract=contract.name,
                customer=contract.customer,
                plan=contract.plan,
                kind="usage",
                period=PeriodRange(start=period.start, end=period.end),
                issued=period.end,
                due=period.end + dt.timedelta(days=contract.payment_days),
                payment_terms_days=contract.payment_days,
                currency=currency,
                autopay=contract.autopay,
                lines=u["lines"],
                subtotal=u["subtotal"],
                credits_applied=credit_total,
                credits=[CreditApplied(grant=ledger.grant.id, description=ledger.grant.description,
                                       applied=amount, remaining=_balance_after(ledger, u["number"]))
                         for ledger, amount in draws],
                total=u["subtotal"] - credit_total,
            ))
        docs.sort(key=lambda inv: (inv.issued, inv.kind != "credit_purchase", inv.period.start, inv.number))
        invoices.extend(docs)
        for ledger in ledgers:
            if ledger.breakage is not None:
                breakage.append(Breakage(
                    contract=contract.name,
                    grant=ledger.grant.id,
                    description=ledger.grant.description,
                    granted=ledger.amount,
                    used=ledger.used,
                    amount=ledger.breakage,
                    expired=ledger.closed_on,
                ))

    if has_errors(diagnostics):
        return Evaluation(None, diagnostics, report, priced_lines, all_ledgers)

    rejected = {r: report.rejected.get(r, 0) for r in REJECTION_REASONS}
    run = InvoiceRun(
        through=through,
        currency=currency,
        invoices=invoices,
        breakage=breakage,
        rejected=rejected,
        events=Reconciliation(read=report.events_read, billed=report.billed,
                              rejected=sum(rejected.values())),
    )
    return Evaluation(run, diagnostics, report, priced_lines, all_ledgers)


def _balance_after(ledger: GrantLedger, number: str) -> Decimal:
    for draw in ledger.draws:
        if draw.invoice == number:
            return draw.balance
    return ledger.balance


def _fee_lines(plan: Plan, period: Period, money) -> list[Line]:
    lines = []
    for fee in plan.fees:
        months = CADENCE_MONTHS.get(fee.cadence)
        factor = Decimal(1) if months is None else Decimal(period.months) / Decimal(months)
        quantity = factor * period.proration
        lines.append(Line(
            kind="fee",
            charge=fee.name,
            description=fee.name,
            quantity=_q(quantity),
            unit=fee.cadence,
            unit_price=fee.amount,
            amount=money(quantity * fee.amount),
            prorated=_q(period.proration) if period.is_partial else None,
        ))
    return lines


def _usage_lines(plan: RatingPlan, pricer: _Pricer, contract: Contract, plan_obj: Plan,
                 period: Period, aggregates: list[Aggregate], money):
    order = {c.meter: i for i, c in enumerate(plan_obj.charges)}
    ranked = sorted(aggregates, key=lambda a: (order.get(a.meter, len(order)), a.meter,
                                               tuple((v is not None, v or "") for _, v in a.dimensions)))
    for agg in ranked:
        meter = plan.meters[agg.meter]
        resolution = pricer.resolve(contract, agg.meter, agg.dimensions, period.start)
        where = (f"contract `{contract.name}`, meter `{agg.meter}`, {_describe_dims(agg.dimensions)}, "
                 f"period {period.start} to {period.end}")
        if resolution is None:
            yield agg, None, None, None, None, error(
                "E502", f"unpriced usage: no rule prices {where} ({plain(agg.quantity)} units)",
                hints=[f"add a `default` rule to meter `{agg.meter}`'s rate card or to plan "
                       f"`{plan_obj.name}`'s charge; ratecard never bills unpriced usage as zero"])
            continue
        try:
            priced = price_quantity(resolution.price, agg.quantity)
        except BeyondLastTier as exc:
            yield agg, None, None, None, None, error(
                "E503", f"usage beyond the last tier: {plain(exc.quantity)} units for {where}, "
                        f"but the tiers stop at `up to {plain(exc.bound)}`",
                hints=["add an `above : PRICE` tier"])
            continue
        modifiers = [f"{plain(r.action.percent)}% {r.action.direction} ({plan.origins.get(r.id, r.id)})"
                     for r, _ in resolution.modifiers]
        line = Line(
            kind="usage",
            charge=agg.meter,
            description=meter.title,
            dimensions={k: v for k, v in agg.dimensions if v is not None},
            quantity=_q(agg.quantity),
            unit=priced.unit_label,
            unit_price=_q(priced.unit_price) if priced.unit_price is not None else None,
            amount=money(priced.amount),
            rule=plan.origins.get(resolution.base.id, resolution.base.id),
            modifiers=modifiers,
            tiers=[TierLine(lower=_q(s.lower), upper=_q(s.upper) if s.upper is not None else None,
                            quantity=_q(s.quantity), unit_price=_q(s.unit_price), flat=_q(s.flat),
                            amount=_q(s.amount))
                   for s in priced.steps],
        )
        yield agg, line, priced, resolution, priced.amount, None


def _minimum_line(contract: Contract, period: Period, lines: list[Line], money) -> Line | None:
    if contract.minimum is None:
        return None
    floor = money(contract.minimum * period.proration)
    so_far = sum((ln.amount for ln in lines), ZERO)
    if so_far >= floor:
        return None
    gap = floor - so_far
    return Line(
        kind="minimum",
        charge="minimum",
        description=f"Minimum commitment true-up (minimum {plain(floor)})",
        quantity=Decimal(1),
        unit="period",
        unit_price=gap,
        amount=gap,
        prorated=_q(period.proration) if period.is_partial else None,
    )
