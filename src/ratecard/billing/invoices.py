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

from ..diagnostics import Diagnostic, error
from ..model import Contract
from ..money import ZERO
from .context import RunContext
from .credits import Bill, GrantLedger, burn, purchase_number
from .documents import Breakage, CreditApplied, Invoice, Line, PeriodRange
from .invoice_steps import apply_invoice_steps
from .lines import PricedLine, fee_lines, usage_lines
from .periods import Period, contract_on, plan_parts


@dataclass
class Billed:
    """What pricing a range of contracts gives besides the invoices a sink took."""

    invoices: list[Invoice] = field(default_factory=list)
    written: int = 0  # invoices handed to the sink
    breakage: list[Breakage] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    priced: list[PricedLine] = field(default_factory=list)
    ledgers: list[GrantLedger] = field(default_factory=list)


@dataclass(frozen=True)
class PeriodCharges:
    """A usage invoice before credits: the period, its number, its lines and their subtotal."""

    period: Period
    number: str
    lines: list[Line]
    subtotal: Decimal
    plan: str  # the plan in effect at the period's end

    def bill(self) -> Bill:
        """What credits need to know of it."""
        return Bill(self.period.key, self.number, self.period.start, self.period.end, self.subtotal)


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
        each = [_part_lines(run, contract_on(contract, part), part, len(parts) > 1, out, keep) for part in parts]
        # fee lines of every part, then usage lines, then what the steps added (old part first in each)
        lines = [ln for kind in range(3) for part_lines in each for ln in part_lines[kind]]
        subtotal = sum((ln.amount for ln in lines), money(ZERO))
        charges.append(PeriodCharges(period, f"{contract.name}-{period.start:%Y%m%d}", lines, subtotal,
                                     parts[-1].plan or contract.plan))

    applied, ledgers = burn(contract, [c.bill() for c in charges], through, money, run.drawn.get(contract.name))

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
        credit_total = sum((amount for _, amount in draws), money(ZERO))
        docs.append(Invoice(
            number=c.number,
            kind="usage",
            **_heading(contract, currency, period.start, period.end, issued=period.end, plan=c.plan),
            lines=c.lines,
            subtotal=c.subtotal,
            credits_applied=credit_total,
            credits=[CreditApplied(grant=ledger.grant.id, description=ledger.grant.description,
                                   applied=amount, remaining=_balance_after(ledger, c.number))
                     for ledger, amount in draws],
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
                keep: list[PricedLine] | None) -> tuple[list[Line], list[Line], list[Line]]:
    """One plan part's (fee lines, usage lines, lines the invoice-level steps added), for
    `contract` as it stands in the part: the minimum is the part's, prorated like its fees,
    and compared with the part's lines. On a split period every line says which plan and
    part it is for."""
    fees = fee_lines(run.plan_of(contract), part, run.money)
    lines = list(fees)
    for agg, line, priced, resolution, info, problem in usage_lines(run, contract, part):
        if problem is not None:
            out.diagnostics.append(problem)
            continue
        if split:
            line = in_part(line, part)
        lines.append(line)
        if keep is not None:
            keep.append(PricedLine(contract.name, part, line, agg, resolution, priced, priced.amount, info))
    priced = len(lines)
    lines = apply_invoice_steps(contract, part, lines, run.money)
    if split:
        lines = [ln if ln.plan is not None else in_part(ln, part) for ln in lines]
    return lines[:len(fees)], lines[len(fees):priced], lines[priced:]


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


def _balance_after(ledger: GrantLedger, number: str) -> Decimal:
    for draw in ledger.draws:
        if draw.invoice == number:
            return draw.balance
    return ledger.balance
