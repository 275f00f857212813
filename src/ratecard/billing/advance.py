"""Fees `in advance`: which invoice bills them, for what, and the unused time at an early end.

LANGUAGE.md Part 2: "A fee `in advance` is billed on the invoice issued at the start of
the period it pays for: the first on an invoice dated `starts`, each next one on the
invoice that closes the period before. A contract that ends mid-period is billed no
advance fee beyond its end; what was billed in advance for days after `ends` comes back
as a negative "unused time" line on the last invoice." (docs/part2-decisions.md, 5.)

    the opening invoice (kind `advance`, dated `starts`): period 1's advance fees
    the invoice closing period k: period k+1's advance fees, one line per plan part
      of k+1 (its plan as the pricing states it now), each prorated by its days
    the last invoice, when `ends` cuts its period: per advance fee line billed for
      that period, the unused days' share of what the line was billed, negative

Why the period an advance fee pays for is taken *uncut* by `ends`: the invoice that
bills it is issued before the period starts, when the end may not be known yet (the
ledger, docs/ledger.md, never changes an issued invoice), so the fee is billed for the
whole period and the days after `ends` come back on the last invoice, issued once the
end is. Billing stays a function of the pricing: the same fee is billed whether `ends`
was written before or after, and the last invoice gives back the difference.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from ..model import Contract, Fee, RatingPlan
from ..money import EXACT, ZERO, exact_text, plain
from .documents import Line, PeriodRange
from .lines import fee_cadence, fee_exact, fee_line
from .periods import Period, period_number, plan_parts


@dataclass(frozen=True)
class AdvanceLine:
    """An advance fee line, and what working out its unused time later needs."""

    line: Line
    fee: Fee
    part: Period  # the (plan part of the) period it pays for, uncut by `ends`


@dataclass(frozen=True)
class PaidAhead:
    """An advance fee line as billed: with its net after the discounts of its invoice."""

    advance: AdvanceLine
    net: Decimal
    invoice: str  # the number of the invoice that billed it


def bills_in_advance(plan: RatingPlan, contract: Contract) -> bool:
    """Does any plan the contract is ever on have a fee `in advance`?"""
    names = (contract.plan, *(c.plan for c in contract.plan_changes))
    return any(fee.in_advance for name in names if name in plan.plans for fee in plan.plans[name].fees)


def paid_period(contract: Contract, index: int) -> Period | None:
    """Period number `index` as an advance fee pays for it: uncut by `ends` (the days after it
    come back as unused time), or None when the contract has ended before it starts."""
    period = period_number(contract, index, uncut=True)
    stop = contract.end_exclusive
    if period is None or (stop is not None and period.start >= stop):
        return None
    return period


def advance_lines(plan: RatingPlan, contract: Contract, period: Period, money) -> list[AdvanceLine]:
    """The advance fees of `period` (uncut): per plan part, in time order, that part's plan's
    fees `in advance`, each prorated by the part's days over the full period's (a short first
    period's too). Every line says which plan and which days it pays for."""
    out = []
    for part in plan_parts(contract, period):
        for fee in plan.plans[part.plan].fees:
            if not fee.in_advance:
                continue
            line = fee_line(fee, part, money).model_copy(update={
                "plan": part.plan, "service_period": PeriodRange(start=part.start, end=part.end)})
            out.append(AdvanceLine(line, fee, part))
    return out


def unused_time_lines(contract: Contract, paid: list[PaidAhead], period: Period,
                      money) -> list[tuple[dt.date, Line]]:
    """The days after `ends` of the advance fee lines billed for `period` (the last one,
    cut by `ends`), given back: (the start of the plan part each is for, the line).

    What comes back is the line's net (what its invoice billed for it after discounts)
    minus what the days used are worth: `net x used / billed`, where `used` is what the
    fee bills for the days up to `ends`, exactly (as an arrears fee of the cut period
    would) and `billed` the line's amount; one exact division last, rounded once. So
    without a discount, what was paid minus what comes back is exactly the prorated fee
    of the days used, and with one, the discount keeps its share of those days.
    """
    stop = contract.end_exclusive
    if stop is None or not paid:
        return []
    out = []
    for p in paid:
        part, billed = p.advance.part, p.advance.line.amount
        if part.index != period.index or part.end <= stop:
            continue
        cut = Period(part.contract, part.index, part.start, max(stop, part.start), part.full_days,
                     part.months, part.plan, part.part_of)
        used_exact = fee_exact(p.advance.fee, cut) if cut.days else ZERO
        if billed <= 0 or p.net <= 0:
            continue
        kept = money(EXACT.divide(EXACT.multiply(p.net, used_exact), billed))
        back = p.net - kept
        if back <= 0:
            continue
        unused_days = (part.end - cut.end).days
        name, amount = p.advance.fee.name, p.advance.fee.amount
        worth = Fraction(amount) * cut.fraction(*fee_cadence(p.advance.fee, cut))
        notes = (
            f"the contract ends {contract.ends}: {unused_days} of the {part.days} days {name} was billed for "
            f"in advance ({part.start} to {part.end - dt.timedelta(days=1)}, on {p.invoice}) are not used",
            f"the {cut.days} days used are worth {plain(amount)} x {exact_text(worth / Fraction(amount))} = "
            f"{exact_text(worth)}, what the fee bills for them in arrears",
            f"billed {billed}, {p.net} after discounts: keeps {p.net} x {exact_text(worth)} / {billed} = "
            f"{exact_text(Fraction(p.net) * worth / Fraction(billed))}, rounded once to {kept}; "
            f"{p.net} - {kept} = {back} comes back",
        )
        out.append((part.start, Line(
            kind="unused_time",
            charge=f"{name} (unused time)",
            description=f"{name}: unused time after the contract's end",
            quantity=Decimal(unused_days),
            unit="day",
            unit_price=None,
            amount=-back,
            plan=part.plan,
            service_period=PeriodRange(start=cut.end, end=part.end),
            notes=notes,
        )))
    return out
