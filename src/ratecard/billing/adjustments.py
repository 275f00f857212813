"""Discounts and the spend cap: negative invoice-level lines over a period's priced lines.

Why one sheet: each adjustment is computed on what the earlier ones left of
each line (its **net**), and the cap, the minimum true-up and scoped credits
read those nets. So a `Sheet` carries the lines and, beside them, each line's
net; a discount or cap line is shared among the lines it covers, in minor
units, by the largest remainder rule (ties to the earlier line), and the
shares are taken off those nets. Nets never go below zero, so no adjustment
takes a line -- or the invoice -- below zero (docs/billing.md, "Discounts and
the spend cap").

Only lines with a positive amount are covered: a negative usage line (a
correction) is already a refund, and discounting it would bill more.

A period a plan change cuts (`plan NAME from DATE`) is one sheet with one
`SheetPart` per plan part. Discounts belong to the contract and the period: one
line per discount per invoice over every part's lines, so an amount discount's
budget (`$N` per period) is spent once, shared by the parts' lines in
proportion to their nets, and a percentage is rounded once. The spend cap and
the minimum belong to a plan: each part has its own, prorated by its days, over
its own lines (docs/part2-decisions.md, sections 7-9 and 14.2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Callable

from ..model import FEES, Contract, Discount
from ..money import EXACT, ZERO, plain, quantum
from .documents import Line, PeriodRange, UnusedDiscount
from .periods import Period

Money = Callable[[Decimal], Decimal]


@dataclass(frozen=True)
class SheetPart:
    """One plan part of a sheet's period: its stretch (`period`, prorated by its days), the
    contract as it stands there (its plan's cap and minimum: `periods.contract_on`), and
    which of the sheet's fee and usage lines are its own."""

    period: Period
    contract: Contract
    lines: tuple[int, ...]


@dataclass
class Sheet:
    """A period's invoice while the invoice-level steps run: its lines and their nets.

    `parts` are the period's plan parts (one, the whole period, unless a plan change falls
    inside it); without them the sheet is one part holding every line it starts with."""

    contract: Contract
    period: Period
    currency: str
    money: Money
    lines: list[Line]
    nets: list[Decimal] = field(default_factory=list)  # per line: what is still owed for it
    origins: dict[str, str] = field(default_factory=dict)  # model id -> file:line
    unused_discounts: list[UnusedDiscount] = field(default_factory=list)
    parts: list[SheetPart] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.nets = [ln.amount for ln in self.lines]
        if not self.parts:
            self.parts = [SheetPart(self.period, self.contract, tuple(range(len(self.lines))))]

    @property
    def split(self) -> bool:
        """A plan change cuts the period: each part's own lines say which plan they are for."""
        return len(self.parts) > 1

    @property
    def running_total(self) -> Decimal:
        return sum((ln.amount for ln in self.lines), ZERO)

    def add(self, line: Line, part: SheetPart | None = None) -> None:
        """An adjustment or true-up line (of one plan part, for the cap and the minimum); its
        own net is its amount."""
        if part is not None and self.split:
            line = in_part(line, part.period)
        self.lines.append(line)
        self.nets.append(line.amount)


def in_part(line: Line, part: Period) -> Line:
    """`line` marked as one plan part's: its plan, and its segment (the part, unless a rate
    change inside the part narrowed it already)."""
    segment = line.segment or PeriodRange(start=part.start, end=part.end)
    return line.model_copy(update={"plan": part.plan, "segment": segment})


def in_scope(line: Line, applies_to: tuple[str, ...], *, minimum: bool) -> bool:
    """Does a discount's, cap's or credit's scope reach this line? `applies_to` names meters
    (their usage lines) and/or `fees` (fee lines); empty: every usage and fee line, and the
    minimum true-up when `minimum` (credits without a scope pay it; discounts never)."""
    if line.kind == "minimum":
        return minimum and not applies_to
    if line.kind not in ("usage", "fee"):
        return False
    if not applies_to:
        return True
    return (FEES in applies_to) if line.kind == "fee" else (line.charge in applies_to)


def allocate(total: Decimal, weights: list[Decimal], unit: Decimal) -> list[Decimal]:
    """`total` shared in proportion to `weights` (all >= 0), in minor units `unit`: each
    line's exact share floored, the units left one each to the largest remainders, ties to
    the earlier line. All to the first when the weights sum to zero. Sums to `total` exactly."""
    if not weights:
        return []
    units = int(total / unit)
    whole = sum(weights, ZERO)
    if whole == 0:
        return [total] + [ZERO * unit] * (len(weights) - 1)
    exact = [Fraction(units) * Fraction(w) / Fraction(whole) for w in weights]
    floors = [int(x.__floor__()) for x in exact]
    left = units - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[:left]:
        floors[i] += 1
    return [Decimal(f) * unit for f in floors]


def covers_period(discount: Discount, period: Period) -> bool:
    """`for N periods` (and `once`) count the contract's periods from its first."""
    return discount.periods is None or period.index < discount.periods


def _covered(sheet: Sheet, discount: Discount) -> list[int]:
    return [i for i, ln in enumerate(sheet.lines)
            if ln.amount > 0 and in_scope(ln, discount.applies_to, minimum=False)]


def _take(sheet: Sheet, indices: list[int], amount: Decimal) -> list[str]:
    """Take `amount` off the nets of `indices`, shared by their current nets; the shares as text."""
    shares = allocate(amount, [sheet.nets[i] for i in indices], quantum(sheet.currency))
    notes = []
    for i, share in zip(indices, shares):
        sheet.nets[i] -= share
        line = sheet.lines[i]
        notes.append(f"  {share} of {line_name(line)} (net {sheet.nets[i] + share} -> {sheet.nets[i]})")
    return notes


def line_name(line: Line) -> str:
    """A line as `explain` names it in allocations and credit draws: `usage CALLS [region = "eu"]`,
    `fee Platform`, `minimum true-up` (never `minimum minimum`)."""
    if line.kind == "minimum":
        return "minimum true-up"
    dims = ", ".join(f'{k} = "{v}"' for k, v in line.dimensions.items())
    return f"{line.kind} {line.charge}" + (f" [{dims}]" if dims else "")


def _scope_text(applies_to: tuple[str, ...]) -> str:
    return ", ".join(applies_to) if applies_to else "every usage and fee line"


def discount_lines(sheet: Sheet) -> None:
    """The contract's discounts covering this period: percentages first, then amounts; each
    in contract order; one line per discount, rounded once."""
    contract, period = sheet.contract, sheet.period
    active = [d for d in contract.discounts if covers_period(d, period)]
    for d in [d for d in active if d.percent is not None] + [d for d in active if d.amount is not None]:
        indices = _covered(sheet, d)
        rule = sheet.origins.get(d.id)
        coverage = "every period" if d.periods is None else f"the contract's first {d.periods} period(s)"
        covered = sum((sheet.lines[i].amount for i in indices), ZERO)
        room = sum((sheet.nets[i] for i in indices), ZERO)
        if d.percent is not None:
            exact = EXACT.divide(EXACT.multiply(d.percent, covered), Decimal(100))
            amount = min(sheet.money(exact), room)
            why = [f"{plain(d.percent)}% of {covered} (the covered lines' amounts) = {plain(exact)}, "
                   f"rounded once to {sheet.money(exact)}"]
            if amount < sheet.money(exact):
                why.append(f"limited to {room}, what the covered lines still owe after earlier discounts")
            quantity, unit_price, unit = covered, -(d.percent / Decimal(100)), "share"
        else:
            budget = sheet.money(d.amount)
            amount = max(min(budget, room, sheet.running_total), ZERO)
            why = [f"{budget} per covered period; the covered lines owe {room} after percentage discounts, "
                   f"the invoice {sheet.running_total} so far: uses {amount}"]
            if budget > amount:
                sheet.unused_discounts.append(UnusedDiscount(
                    contract=contract.name, discount=d.description or "Discount", rule=rule,
                    period=PeriodRange(start=period.start, end=period.end), unused=budget - amount))
                why.append(f"{budget - amount} of this period's {budget} cannot be used: lost (reported "
                           "in unused_discounts)")
            quantity, unit_price, unit = Decimal(1), -amount, "period"
        if amount <= 0:
            continue
        notes = [f"covers: {_scope_text(d.applies_to)}, in {coverage} (this is period {period.index + 1})",
                 *why, "shared among the lines it covers, by their nets (largest remainder):",
                 *_take(sheet, indices, amount)]
        sheet.add(Line(kind="discount", charge=d.description or "Discount",
                       description=d.description or "Discount", quantity=quantity, unit=unit,
                       unit_price=unit_price, amount=-amount, rule=rule, notes=tuple(notes)))


def cap_fraction(period: Period) -> Fraction:
    """HOOK for calendar-aligned periods (`billing ... on day D`, branch part2-periods): the
    share of a whole period this one is, by which the cap is prorated. Today: 1 for a whole
    period, days / full days for a period cut short by `ends`."""
    return period.fraction()


def cap_line(sheet: Sheet) -> None:
    """`cap $N`: each plan part's usage nets above its limit come off in one line (a cap is
    its plan's, prorated by the part's days; one part, one line, on an unsplit period)."""
    for part in sheet.parts:
        _part_cap(sheet, part)


def _part_cap(sheet: Sheet, part: SheetPart) -> None:
    cap = part.contract.cap
    if cap is None:
        return
    fraction = cap_fraction(part.period)
    limit = EXACT.divide(EXACT.multiply(cap, Decimal(fraction.numerator)), Decimal(fraction.denominator))
    usage = [i for i in part.lines if sheet.lines[i].kind == "usage" and sheet.lines[i].amount > 0]
    base = sum((sheet.nets[i] for i in part.lines if sheet.lines[i].kind == "usage"), ZERO)
    if base <= limit:
        return
    amount = min(sheet.money(base - limit), sum((sheet.nets[i] for i in usage), ZERO))
    if amount <= 0:
        return
    where = sheet.origins.get(f"contract:{part.contract.name}/cap") \
        or sheet.origins.get(f"plan:{part.contract.plan}/cap")
    prorated = "" if fraction == 1 else f" x {fraction.numerator}/{fraction.denominator} of a period"
    whose = f" (plan {part.contract.plan}'s part, {part.period.start} to {part.period.end})" if sheet.split else ""
    notes = (f"spend cap {plain(cap)} per period{prorated}{whose}: limit {plain(limit)}",
             f"usage after discounts {base} - limit {plain(limit)} = {plain(base - limit)}, rounded once "
             f"to {amount}; fees and the minimum are not capped",
             "shared among the usage lines" + (" of the part" if sheet.split else "")
             + ", by their nets (largest remainder):",
             *_take(sheet, usage, amount))
    sheet.add(Line(kind="cap", charge="Spend cap", description="Spend cap", quantity=Decimal(1),
                   unit="", unit_price=-amount, amount=-amount, rule=where, notes=notes), part)
