"""A contract's invoices: per period, its lines, the invoice-level steps, then credits.

    for each period that has ended, for each of its plan parts (one, unless
    `plan NAME from DATE` falls inside it): fee lines + usage lines (`lines.py`)
      -> invoice-level steps over the part's priced lines (`invoice_steps.py`)
      -> the period's charges (`PeriodCharges`: its lines and subtotal)
    -> credit purchases, then credit burn-down over the periods' charges
       (`credits.burn`) -> the invoices, in run order

A period a plan change cuts carries both plans' lines, the old part's first,
each fee and minimum prorated by its part's days over the full period's, each
usage line aggregated over its part only (tiers start afresh); every such line
says which `plan` and `segment` it is for. The invoice's `plan` is the plan in
effect at the period's end.

Subtotals and totals are sums of rounded lines. A line that cannot be priced
becomes a diagnostic in the contract's `Billed`, never a line billed as zero.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

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

    def bill(self) -> Bill:
        """What credits need to know of it."""
        return Bill(self.period.key, self.number, self.period.start, self.period.end, self.subtotal,
                    tuple(self.lines), tuple(self.nets), self.period)


def contract_invoices(run: RunContext, contract: Contract, out: Billed) -> tuple[list[Invoice], list[GrantLedger]]:
    """One contract's invoices (credit purchases and usage, in run order) and credit ledgers;
    lines that cannot be priced become diagnostics in `out`."""
    plan, money, through = run.plan, run.money, run.through
    currency = plan.currency
    plan_obj = run.plan_of(contract)  # allowances are the first plan's (a change to a plan with one is refused)
    late = _due_beyond_calendar(contract, run.contract_periods[contract.name], through)
    if late is not None:
        out.diagnostics.append(late)
        return [], []
    keep = out.priced if run.keep_priced else None
    charges: list[PeriodCharges] = []
    for period in run.contract_periods[contract.name]:
        parts = plan_parts(contract, period)
        each = [_part_lines(run, contract_on(contract, part), part, len(parts) > 1, out, keep) for part in parts]
        # fee lines of every part, then usage lines, then what the steps added (old part first in each)
        order = [(kind, i) for kind in range(3) for i in range(len(each))]
        lines = [ln for kind, i in order for ln in each[i].lines[kind]]
        nets = [net for kind, i in order for net in each[i].nets[kind]]
        subtotal = sum((ln.amount for ln in lines), money(ZERO))
        charges.append(PeriodCharges(period, f"{contract.name}-{period.start:%Y%m%d}", lines, subtotal,
                                     parts[-1].plan or contract.plan, nets))

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


class PartLines(NamedTuple):
    """One plan part's lines in three runs (fees, usage, what the invoice-level steps
    added) and, run for run, each line's net after discounts and the spend cap."""

    lines: tuple[list[Line], list[Line], list[Line]]
    nets: tuple[list[Decimal], list[Decimal], list[Decimal]]


def _part_lines(run: RunContext, contract: Contract, part: Period, split: bool, out: Billed,
                keep: list[PricedLine] | None) -> PartLines:
    """One plan part's lines, for `contract` as it stands in the part: the minimum is the
    part's, prorated like its fees, and compared with the part's lines; pools are filled
    by the part's lines (tiers start afresh on the new plan). On a split period every
    line says which plan and part it is for."""
    fees = fee_lines(run.plan_of(contract), part, run.money)
    lines = list(fees)
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
        lines.append(line)
        if keep is not None:
            pool = pooled.get(index)
            keep.append(PricedLine(contract.name, part, line, agg, resolution, priced,
                                   priced.amount if pool is None else exact_decimal(pool.exact_share),
                                   info, pool))
    priced = len(lines)
    sheet = apply_invoice_steps(Sheet(contract, part, run.plan.currency, run.money, lines,
                                      origins=run.plan.origins))
    out.unused_discounts.extend(sheet.unused_discounts)
    lines = sheet.lines
    if split:
        lines = [ln if ln.plan is not None else in_part(ln, part) for ln in lines]
    cuts = (0, len(fees), priced, len(lines))
    runs = tuple(zip(cuts, cuts[1:]))
    return PartLines(tuple(lines[a:b] for a, b in runs), tuple(sheet.nets[a:b] for a, b in runs))


def in_part(line: Line, part: Period) -> Line:
    """`line` marked as one plan part's: its plan, and its segment (the part, unless a rate
    change inside the part narrowed it already)."""
    segment = line.segment or PeriodRange(start=part.start, end=part.end)
    return line.model_copy(update={"plan": part.plan, "segment": segment})


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
