"""A contract's invoices: per period, its lines, the invoice-level steps, then credits.

    for each period that has ended, for each of its plan parts (one, unless
    `plan NAME from DATE` falls inside it): fee lines + usage lines (`lines.py`)
      -> invoice-level steps over the period's priced lines (`invoice_steps.py`):
         discounts over the whole invoice, the cap and the minimum per part
      -> the period's charges (`PeriodCharges`: its lines, subtotal, allowances)
    -> credit purchases, then credit burn-down over the periods' charges
       (`credits.burn`) -> the invoices, in run order

A period a plan change cuts carries both plans' lines, the old part's first,
each fee, minimum, cap and allowance prorated by its part's days over the full
period's, each usage line aggregated over its part only (tiers start afresh);
every such line says which `plan` and `segment` it is for. What belongs to the
period rather than a plan -- a discount, whose amount `$N` is a budget per
period -- is applied once over both parts' lines. The invoice's `plan` is the
plan in effect at the period's end.

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
from .adjustments import Sheet, SheetPart, in_part
from .credits import AllowanceGrant, AllowanceUse, Bill, GrantLedger, burn, purchase_number
from .documents import (Breakage, CreditApplied, Invoice, Line, PeriodRange, UnusedAllowance,
                        UnusedDiscount)
from .invoice_steps import apply_invoice_steps
from .lines import PricedLine, fee_lines, usage_lines
from .periods import Period, contract_on, plan_parts
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
    plan: str  # the plan in effect at the period's end
    nets: list[Decimal] = field(default_factory=list)  # per line, after discounts and cap
    allowances: tuple[AllowanceGrant, ...] = ()  # each plan part's plan's, old part first

    def bill(self) -> Bill:
        """What credits need to know of it."""
        return Bill(self.period.key, self.number, self.period.start, self.period.end, self.subtotal,
                    tuple(self.lines), tuple(self.nets), self.period, self.allowances)


def contract_invoices(run: RunContext, contract: Contract, out: Billed) -> tuple[list[Invoice], list[GrantLedger]]:
    """One contract's invoices (credit purchases and usage, in run order) and credit ledgers;
    lines that cannot be priced become diagnostics in `out`."""
    plan, money, through = run.plan, run.money, run.through
    currency = plan.currency
    late = _due_beyond_calendar(contract, run.contract_periods[contract.name], through)
    if late is not None:
        out.diagnostics.append(late)
        return [], []
    keep = out.priced if run.keep_priced else None
    charges: list[PeriodCharges] = []
    for period in run.contract_periods[contract.name]:
        parts = plan_parts(contract, period)
        on_plan = [contract_on(contract, part) for part in parts]
        each = [_part_lines(run, on, part, len(parts) > 1, out, keep) for on, part in zip(on_plan, parts)]
        # fee lines of every part, then usage lines (old part first in each); the steps add theirs
        lines = [ln for fees, _ in each for ln in fees] + [ln for _, usage in each for ln in usage]
        sheet = apply_invoice_steps(Sheet(contract, period, currency, money, lines, origins=plan.origins,
                                          parts=_sheet_parts(parts, on_plan, each)))
        out.unused_discounts.extend(sheet.unused_discounts)
        subtotal = sum((ln.amount for ln in sheet.lines), money(ZERO))
        grants = tuple(AllowanceGrant(allowance, on.plan, part) for on, part in zip(on_plan, parts)
                       for allowance in run.plan_of(on).allowances)
        charges.append(PeriodCharges(period, f"{contract.name}-{period.start:%Y%m%d}", sheet.lines, subtotal,
                                     parts[-1].plan or contract.plan, sheet.nets, grants))

    applied, ledgers, uses = burn(contract, [c.bill() for c in charges], through, money,
                                  run.drawn.get(contract.name))
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
            **_heading(contract, currency, period.start, period.end, issued=period.end, plan=c.plan),
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


def _part_lines(run: RunContext, contract: Contract, part: Period, split: bool, out: Billed,
                keep: list[PricedLine] | None) -> tuple[list[Line], list[Line]]:
    """One plan part's fee lines and usage lines, for `contract` as it stands in the part:
    fees prorated by the part's days, pools filled by the part's lines (tiers start afresh
    on the new plan). On a split period every line says which plan and part it is for."""
    fees = fee_lines(run.plan_of(contract), part, run.money)
    usage = []
    # pooled lines are priced together once the part's lines are known (`pools.py`)
    items, pooled = share_pools(run, list(usage_lines(run, contract, part)))
    for index, (agg, line, priced, resolution, info, problem) in enumerate(items):
        if problem is not None:
            out.diagnostics.append(problem)
            continue
        if line is None:  # a line of a pool that could not be priced (E503 on its first line)
            continue
        if split:
            line = in_part(line, part)
        usage.append(line)
        if keep is not None:
            pool = pooled.get(index)
            keep.append(PricedLine(contract.name, part, line, agg, resolution, priced,
                                   priced.amount if pool is None else exact_decimal(pool.exact_share),
                                   info, pool))
    if split:
        fees = [in_part(ln, part) for ln in fees]
    return fees, usage


def _sheet_parts(parts: tuple[Period, ...], on_plan: list[Contract],
                 each: list[tuple[list[Line], list[Line]]]) -> list[SheetPart]:
    """Each part's fee and usage lines as positions on the sheet, which holds every part's
    fee lines first, then every part's usage lines."""
    fee_count = sum(len(fees) for fees, _ in each)
    fee_at = usage_at = 0
    out = []
    for part, on, (fees, usage) in zip(parts, on_plan, each):
        own = [*range(fee_at, fee_at + len(fees)), *range(fee_count + usage_at, fee_count + usage_at + len(usage))]
        out.append(SheetPart(part, on, tuple(own)))
        fee_at += len(fees)
        usage_at += len(usage)
    return out


def _heading(contract: Contract, currency: str, start: dt.date, end: dt.date, *, issued: dt.date,
             plan: str | None = None) -> dict:
    """The fields every invoice of a contract fills the same way (`Invoice` keywords)."""
    return {
        "contract": contract.name,
        "customer": contract.customer,
        "plan": plan or contract.plan,
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
