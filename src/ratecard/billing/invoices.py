"""A contract's invoices: per period, its lines, the invoice-level steps, then credits.

    for each period that has ended: fee lines + usage lines (`lines.py`)
      -> invoice-level steps over the priced lines (`invoice_steps.py`)
      -> the period's charges (`PeriodCharges`: its lines and subtotal)
    -> credit purchases, then credit burn-down over the periods' charges
       (`credits.burn`) -> the invoices, in run order

Subtotals and totals are sums of rounded lines. A line that cannot be priced
becomes a diagnostic in the contract's `Billed`, never a line billed as zero.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from ..diagnostics import Diagnostic, error
from ..model import Contract
from ..money import ZERO
from .context import RunContext
from .adjustments import Sheet
from .credits import AllowanceUse, Bill, GrantLedger, burn, purchase_number
from .documents import (Breakage, CreditApplied, Invoice, Line, PeriodRange, UnusedAllowance,
                        UnusedDiscount)
from .invoice_steps import apply_invoice_steps
from .lines import PricedLine, fee_lines, usage_lines
from .periods import Period
from .pools import exact_decimal, share_pools


@dataclass
class Billed:
    """What pricing a range of contracts gives besides the invoices a sink took."""

    invoices: list[Invoice] = field(default_factory=list)
    written: int = 0  # invoices handed to the sink
    breakage: list[Breakage] = field(default_factory=list)
    unused_allowances: list[UnusedAllowance] = field(default_factory=list)
    unused_discounts: list[UnusedDiscount] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    priced: list[PricedLine] = field(default_factory=list)
    ledgers: list[GrantLedger] = field(default_factory=list)
    # (contract, use) of every billed period's allowances, for `credits` (kept like `ledgers`)
    allowances: list[tuple[str, AllowanceUse]] = field(default_factory=list)


@dataclass(frozen=True)
class PeriodCharges:
    """A usage invoice before credits: the period, its number, its lines and their subtotal."""

    period: Period
    number: str
    lines: list[Line]
    subtotal: Decimal
    nets: list[Decimal] = field(default_factory=list)  # per line, after discounts and cap

    def bill(self) -> Bill:
        """What credits need to know of it."""
        return Bill(self.period.key, self.number, self.period.start, self.period.end, self.subtotal,
                    tuple(self.lines), tuple(self.nets), self.period)


def contract_invoices(run: RunContext, contract: Contract, out: Billed) -> tuple[list[Invoice], list[GrantLedger]]:
    """One contract's invoices (credit purchases and usage, in run order) and credit ledgers;
    lines that cannot be priced become diagnostics in `out`."""
    plan, money, through = run.plan, run.money, run.through
    currency = plan.currency
    plan_obj = run.plan_of(contract)
    late = _due_beyond_calendar(contract, run.contract_periods[contract.name], through)
    if late is not None:
        out.diagnostics.append(late)
        return [], []
    keep = out.priced if run.keep_priced else None
    charges: list[PeriodCharges] = []
    for period in run.contract_periods[contract.name]:
        lines = fee_lines(plan_obj, period, money)
        # pooled lines are priced together once the period's lines are known (`pools.py`)
        items, pooled = share_pools(run, list(usage_lines(run, contract, period)))
        for index, (agg, line, priced, resolution, info, problem) in enumerate(items):
            if problem is not None:
                out.diagnostics.append(problem)
                continue
            if line is None:  # a line of a pool that could not be priced (E503 on its first line)
                continue
            lines.append(line)
            if keep is not None:
                pool = pooled.get(index)
                keep.append(PricedLine(contract.name, period, line, agg, resolution, priced,
                                       priced.amount if pool is None else exact_decimal(pool.exact_share),
                                       info, pool))
        sheet = apply_invoice_steps(Sheet(contract, period, currency, money, lines, origins=plan.origins))
        out.unused_discounts.extend(sheet.unused_discounts)
        subtotal = sum((ln.amount for ln in sheet.lines), money(ZERO))
        charges.append(PeriodCharges(period, f"{contract.name}-{period.start:%Y%m%d}", sheet.lines, subtotal,
                                     sheet.nets))

    applied, ledgers, uses = burn(contract, [c.bill() for c in charges], through, money,
                                  run.drawn.get(contract.name), plan_obj.allowances, plan_obj.name)
    out.unused_allowances.extend(_unused(contract, use) for use in uses if use.unused > 0)
    out.allowances.extend((contract.name, use) for use in uses)

    docs: list[Invoice] = []
    for index, grant in enumerate(contract.credits):
        if grant.price is None or grant.granted > through:
            continue
        price = money(grant.price)
        docs.append(Invoice(
            number=purchase_number(contract.name, grant, index),
            kind="credit_purchase",
            **_heading(contract, currency, grant.granted, grant.granted, issued=grant.granted),
            lines=[Line(kind="credit", charge="credit",
                        description=grant.description or "Prepaid credit",
                        quantity=Decimal(1), unit="grant", unit_price=price, amount=price,
                        rule=plan.origins.get(grant.id))],
            subtotal=price,
            credits_applied=money(ZERO),
            total=price,
        ))
    for c in charges:
        period = c.period
        draws = applied.get(period.key, [])
        credit_total = sum((d.amount for d in draws), money(ZERO))
        docs.append(Invoice(
            number=c.number,
            kind="usage",
            **_heading(contract, currency, period.start, period.end, issued=period.end),
            lines=c.lines,
            subtotal=c.subtotal,
            credits_applied=credit_total,
            credits=[CreditApplied(grant=d.source, description=d.description, applied=d.amount,
                                   remaining=d.remaining, kind=d.kind, notes=d.notes)
                     for d in draws],
            total=c.subtotal - credit_total,
        ))
    docs.sort(key=lambda inv: (inv.issued, inv.kind != "credit_purchase", inv.period.start, inv.number))
    return docs, ledgers


def _due_beyond_calendar(contract: Contract, periods: list[Period], through: dt.date) -> Diagnostic | None:
    """E511 when the contract's last invoice would be due after 9999-12-31 (its issue
    date plus `payment net N` days): a due date is a date, or the run stops."""
    issued = [p.end for p in periods[-1:]] + [g.granted for g in contract.credits
                                              if g.price is not None and g.granted <= through]
    if not issued:
        return None
    last = max(issued)
    try:
        last + dt.timedelta(days=contract.payment_days)
    except OverflowError:
        return error("E511", f"contract `{contract.name}`: the invoice issued {last} would be due "
                             f"{contract.payment_days} days later, after the calendar's last day (9999-12-31)",
                     hints=["bill through an earlier date, or shorten the contract's `payment net`"])
    return None


def _heading(contract: Contract, currency: str, start: dt.date, end: dt.date, *, issued: dt.date) -> dict:
    """The fields every invoice of a contract fills the same way (`Invoice` keywords)."""
    return {
        "contract": contract.name,
        "customer": contract.customer,
        "plan": contract.plan,
        "period": PeriodRange(start=start, end=end),
        "issued": issued,
        "due": issued + dt.timedelta(days=contract.payment_days),
        "payment_terms_days": contract.payment_days,
        "currency": currency,
        "autopay": contract.autopay,
    }


def _unused(contract: Contract, use: AllowanceUse) -> UnusedAllowance:
    """A period's allowance left unused: reported, never breakage."""
    return UnusedAllowance(contract=contract.name, allowance=use.allowance.description or use.allowance.id,
                           plan=use.plan, period=PeriodRange(start=use.period.start, end=use.period.end),
                           granted=use.granted, used=use.used, unused=use.unused)
