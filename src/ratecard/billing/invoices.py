"""A contract's invoices: per period, its lines, the invoice-level steps, then credits.

    fees `in advance`: the opening invoice, dated `starts` (`advance.py`)
    for each period that has ended, for each of its plan parts (one, unless
    `plan NAME from DATE` falls inside it): fee lines in arrears + usage lines
    (`lines.py`); the period's lines: every part's arrears fees, the next
    period's fees in advance, every part's usage lines (old part first)
      -> invoice-level steps over the period's lines (`invoice_steps.py`):
         discounts over the whole invoice, the cap, the minimum and the unused
         time per part
      -> the period's charges (`PeriodCharges`: its lines, subtotal, allowances)
    -> credit purchases, then credit burn-down over the periods' charges
       (`credits.burn`) -> the invoices, in run order

Fees in advance tie a contract's invoices together: an advance fee line is for
the next period, so discounts cover it by that period (an amount discount's
budget per period is shared by the invoices carrying its lines), that
period's minimum counts it, and at an early end the last invoice gives its
unused days back (part2-decisions 5).

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
from .adjustments import Sheet, SheetPart, discount_lines, in_part
from .advance import AdvanceLine, PaidAhead, advance_lines, bills_in_advance, paid_period, unused_time_lines
from .credits import AllowanceGrant, AllowanceUse, Bill, GrantLedger, burn, purchase_number
from .documents import (Breakage, CreditApplied, Invoice, Line, PeriodRange, UnusedAllowance,
                        UnusedDiscount)
from .invoice_steps import apply_invoice_steps
from .lines import PricedLine, fee_lines, usage_lines
from .periods import Period, contract_on, period_number, plan_parts
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
    """A usage invoice (or the opening invoice) before credits: the period, its number, its
    lines and their subtotal."""

    period: Period  # the opening invoice's: the first period, whose advance fees it bills
    number: str
    lines: list[Line]
    subtotal: Decimal
    plan: str  # the plan in effect at the period's end
    nets: list[Decimal] = field(default_factory=list)  # per line, after discounts and cap
    kind: str = "usage"  # or "advance": the opening invoice, dated `starts`
    services: list[Period] = field(default_factory=list)  # per line, the (whole) period it is for
    # the allowances of the periods its lines are for (its own, and the next one's when it
    # bills advance fees): each plan part's plan's, by period, old part first
    allowances: tuple[AllowanceGrant, ...] = ()

    @property
    def key(self) -> str:
        return self.period.key if self.kind == "usage" else f"{self.period.key}/{self.kind}"

    @property
    def span(self) -> tuple[dt.date, dt.date]:
        """The invoice's own period: the opening invoice's is the instant `starts`."""
        return (self.period.start, self.period.end if self.kind == "usage" else self.period.start)

    def bill(self) -> Bill:
        """What credits need to know of it."""
        return Bill(self.key, self.number, *self.span, self.subtotal, tuple(self.lines), tuple(self.nets),
                    self.period, self.kind, tuple(self.services), self.allowances)


def contract_invoices(run: RunContext, contract: Contract, out: Billed) -> tuple[list[Invoice], list[GrantLedger]]:
    """One contract's invoices (credit purchases, the opening invoice of fees in advance, and
    usage, in run order) and credit ledgers; lines that cannot be priced become diagnostics
    in `out`."""
    plan, money, through = run.plan, run.money, run.through
    currency = plan.currency
    late = _due_beyond_calendar(contract, run.contract_periods[contract.name], through)
    if late is not None:
        out.diagnostics.append(late)
        return [], []
    keep = out.priced if run.keep_priced else None
    charges: list[PeriodCharges] = []
    budgets: dict[tuple[str, int], Decimal] = {}  # amount discounts' budgets, per (discount, period)
    advance = bills_in_advance(plan, contract)
    paid: list[PaidAhead] = []  # the advance fee lines billed for the period billed next
    if advance and contract.starts <= through:
        opened = _opening(run, contract, budgets, out)
        if opened is not None:
            opening, ahead = opened
            charges.append(opening)
            paid = [PaidAhead(a, net, opening.number) for a, net in zip(ahead, opening.nets)]
    for period in run.contract_periods[contract.name]:
        number = f"{contract.name}-{period.start:%Y%m%d}"
        parts = plan_parts(contract, period)
        on_plan = [contract_on(contract, part) for part in parts]
        each = [_part_lines(run, on, part, len(parts) > 1, out, keep) for on, part in zip(on_plan, parts)]
        ahead, after = _next_period(run, contract, period) if advance else ([], period)
        unused = unused_time_lines(contract, paid, period, money) if paid else []
        # every part's arrears fees, the next period's advance fees, every part's usage lines
        # (old part first in each); the steps add theirs
        fees = [ln for part_fees, _ in each for ln in part_fees]
        usage = [ln for _, part_usage in each for ln in part_usage]
        sheet = apply_invoice_steps(Sheet(
            contract, period, currency, money, fees + [a.line for a in ahead] + usage, origins=plan.origins,
            services=[period] * len(fees) + [a.part for a in ahead], budgets=budgets, closes=period.index,
            parts=_sheet_parts(parts, on_plan, each, len(ahead), paid, unused)))
        out.unused_discounts.extend(sheet.unused_discounts)
        subtotal = sum((ln.amount for ln in sheet.lines), money(ZERO))
        grants = _allowances(run, contract, period) + (_allowances(run, contract, after) if ahead else ())
        charges.append(PeriodCharges(period, number, sheet.lines, subtotal, parts[-1].plan or contract.plan,
                                     sheet.nets, services=[period if sheet.own(i) else after
                                                           for i in range(len(sheet.lines))],
                                     allowances=grants))
        paid = [PaidAhead(a, sheet.nets[len(fees) + j], number) for j, a in enumerate(ahead)]

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
        draws = applied.get(c.key, [])
        credit_total = sum((d.amount for d in draws), money(ZERO))
        start, end = c.span
        docs.append(Invoice(
            number=c.number,
            kind=c.kind,
            **_heading(contract, currency, start, end, issued=end, plan=c.plan),
            lines=c.lines,
            subtotal=c.subtotal,
            credits_applied=credit_total,
            credits=[CreditApplied(grant=d.source, description=d.description, applied=d.amount,
                                   remaining=d.remaining, kind=d.kind, notes=d.notes)
                     for d in draws],
            total=c.subtotal - credit_total,
        ))
    docs.sort(key=lambda inv: (inv.issued, _RANK.get(inv.kind, 2), inv.period.start, inv.number))
    return docs, ledgers


_RANK = {"credit_purchase": 0, "advance": 1}  # on one date: credit purchases, the opening invoice, usage


def _opening(run: RunContext, contract: Contract, budgets: dict,
             out: Billed) -> tuple[PeriodCharges, list[AdvanceLine]] | None:
    """The opening invoice (part2-decisions 5.1): dated `starts`, the first period's advance
    fees (one line per plan part, prorated if the period is short) and the discounts that
    cover them; no usage, no cap, no minimum (those are the first period's own invoice's)."""
    first = paid_period(contract, 0)
    if first is None:
        return None
    ahead = advance_lines(run.plan, contract, first, run.money)
    if not ahead:
        return None
    sheet = Sheet(contract, first, run.plan.currency, run.money, [a.line for a in ahead],
                  origins=run.plan.origins, services=[a.part for a in ahead], budgets=budgets)
    discount_lines(sheet)
    out.unused_discounts.extend(sheet.unused_discounts)
    billed = period_number(contract, 0) or first  # the first period as billed (cut by `ends`)
    subtotal = sum((ln.amount for ln in sheet.lines), run.money(ZERO))
    return PeriodCharges(billed, f"{contract.name}-{contract.starts:%Y%m%d}-A", sheet.lines, subtotal,
                         first.plan or contract.plan, sheet.nets, "advance", [billed] * len(sheet.lines),
                         _allowances(run, contract, billed)), ahead


def _next_period(run: RunContext, contract: Contract, period: Period) -> tuple[list[AdvanceLine], Period]:
    """The advance fee lines the invoice closing `period` bills for the next one, and that
    next period as billed (for its allowance); none after the contract's last period."""
    nxt = paid_period(contract, period.index + 1)
    if nxt is None:
        return [], period
    return advance_lines(run.plan, contract, nxt, run.money), period_number(contract, period.index + 1) or nxt


def _same_part(paid: PaidAhead, part: Period) -> bool:
    """Was this advance fee line billed for `part` (a plan part, or a whole period)?"""
    return paid.advance.part.index == part.index and paid.advance.part.start == part.start


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
    """One plan part's fee lines (in arrears) and usage lines, for `contract` as it stands in
    the part: fees prorated by the part's days, pools filled by the part's lines (tiers
    start afresh on the new plan). On a split period every line says which plan and part it
    is for."""
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


def _sheet_parts(parts: tuple[Period, ...], on_plan: list[Contract], each: list[tuple[list[Line], list[Line]]],
                 ahead: int, paid: list[PaidAhead], unused: list[tuple[dt.date, Line]]) -> list[SheetPart]:
    """Each part's fee and usage lines as positions on the sheet, which holds every part's
    fee lines first, then the next period's `ahead` advance fee lines (no part's), then
    every part's usage lines; and what fees in advance tie to the part: what the invoice
    before billed for it (net), and its unused time at an early end."""
    usage_from = sum(len(fees) for fees, _ in each) + ahead
    # each unused-time line goes to the part its days were billed for (the part that starts
    # where the advance fee's part did; the one it falls in, so that none is left out)
    back = [max(i for i, part in enumerate(parts) if part.start <= start) for start, _ in unused]
    fee_at = usage_at = 0
    out = []
    for k, (part, on, (fees, usage)) in enumerate(zip(parts, on_plan, each)):
        own = [*range(fee_at, fee_at + len(fees)), *range(usage_from + usage_at, usage_from + usage_at + len(usage))]
        out.append(SheetPart(part, on, tuple(own), sum((p.net for p in paid if _same_part(p, part)), ZERO),
                             tuple(ln for (_, ln), i in zip(unused, back) if i == k)))
        fee_at += len(fees)
        usage_at += len(usage)
    return out


def _allowances(run: RunContext, contract: Contract, period: Period) -> tuple[AllowanceGrant, ...]:
    """The allowances granted for `period` (as billed, cut by `ends`): each plan part's
    plan's, prorated by the part's days, old part first (part2-decisions 10.4)."""
    return tuple(AllowanceGrant(allowance, on.plan, part) for part in plan_parts(contract, period)
                 for on in (contract_on(contract, part),) for allowance in run.plan_of(on).allowances)


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
