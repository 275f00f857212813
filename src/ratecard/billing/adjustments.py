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
from ..money import EXACT, ZERO, exact_text, plain, quantum
from .documents import Line, PeriodRange, UnusedDiscount
from .periods import Period

Money = Callable[[Decimal], Decimal]


@dataclass(frozen=True)
class SheetPart:
    """One plan part of a sheet's period: its stretch (`period`, prorated by its days), the
    contract as it stands there (its plan's cap and minimum: `periods.contract_on`), and
    which of the sheet's fee and usage lines are its own; with fees `in advance`, what the
    invoice before billed for it (`carried`: the nets of its advance fee lines) and, at an
    early end, the unused time of those fees given back on this invoice (`unused`)."""

    period: Period
    contract: Contract
    lines: tuple[int, ...]
    carried: Decimal = ZERO
    unused: tuple[Line, ...] = ()


@dataclass
class Sheet:
    """A period's invoice while the invoice-level steps run: its lines and their nets.

    `parts` are the period's plan parts (one, the whole period, unless a plan change falls
    inside it); without them the sheet is one part holding every line it starts with that
    is for its own period.

    Most lines are for the sheet's own period (its parts' fee and usage lines); an advance
    fee line is for the next period (or, on the opening invoice, the first) and belongs to
    no part: `services` says, per line, which period (or part) it is for. Discounts cover
    lines by that period; each part's minimum compares the part's own spend, which counts
    what an earlier invoice billed in advance for it (`SheetPart.carried`) and the unused
    time given back here (`SheetPart.unused`, added after the minimum true-ups, as
    LANGUAGE.md orders the lines)."""

    contract: Contract
    period: Period
    currency: str
    money: Money
    lines: list[Line]
    nets: list[Decimal] = field(default_factory=list)  # per line: what is still owed for it
    origins: dict[str, str] = field(default_factory=dict)  # model id -> file:line
    unused_discounts: list[UnusedDiscount] = field(default_factory=list)
    services: list[Period] = field(default_factory=list)  # per line: the period (or part) it is for
    parts: list[SheetPart] = field(default_factory=list)
    # amount discounts' budgets left, per (discount id, period index), shared by the invoices
    # that carry lines of one period (the opening invoice and the first period's, ...)
    budgets: dict[tuple[str, int], Decimal] = field(default_factory=dict)
    # the index of the period whose last lines this sheet carries (its amount discounts'
    # budgets close here); None on the opening invoice
    closes: int | None = None

    def __post_init__(self) -> None:
        self.nets = [ln.amount for ln in self.lines]
        self.services = self.services + [self.period] * (len(self.lines) - len(self.services))
        if not self.parts:
            self.parts = [SheetPart(self.period, self.contract,
                                    tuple(i for i in range(len(self.lines)) if self.own(i)))]

    @property
    def split(self) -> bool:
        """A plan change cuts the period: each part's own lines say which plan they are for."""
        return len(self.parts) > 1

    @property
    def running_total(self) -> Decimal:
        return sum((ln.amount for ln in self.lines), ZERO)

    def add(self, line: Line, part: SheetPart | None = None) -> None:
        """An adjustment or true-up line (of one plan part, for the cap and the minimum); its
        own net is its amount. It is for the sheet's own period."""
        if part is not None and self.split:
            line = in_part(line, part.period)
        self.lines.append(line)
        self.nets.append(line.amount)
        self.services.append(self.period)

    def own(self, index: int) -> bool:
        """Is line `index` for the sheet's own period (not paid in advance for another)?"""
        return self.services[index].index == self.period.index


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
    return covers_index(discount, period.index)


def covers_index(discount: Discount, index: int) -> bool:
    return discount.periods is None or index < discount.periods


def _covered(sheet: Sheet, discount: Discount) -> list[int]:
    """The lines a discount covers: in its scope, positive, and for a period it covers (a
    line's own period: an advance fee line's is the one it pays for, part2-decisions 7.2)."""
    return [i for i, ln in enumerate(sheet.lines)
            if ln.amount > 0 and in_scope(ln, discount.applies_to, minimum=False)
            and covers_period(discount, sheet.services[i])]


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
    """The contract's discounts covering this sheet's lines: percentages first, then amounts;
    each in contract order; one line per discount, rounded once."""
    contract, period = sheet.contract, sheet.period
    here = {s.index for s in sheet.services} | ({sheet.closes} if sheet.closes is not None else set())
    active = [d for d in contract.discounts if any(covers_index(d, k) for k in here)]
    for d in [d for d in active if d.percent is not None] + [d for d in active if d.amount is not None]:
        indices = _covered(sheet, d)
        rule = sheet.origins.get(d.id)
        coverage = "every period" if d.periods is None else f"the contract's first {d.periods} period(s)"
        covered = sum((sheet.lines[i].amount for i in indices), ZERO)
        served = sorted({sheet.services[i].index for i in indices})
        if d.percent is not None:
            room = sum((sheet.nets[i] for i in indices), ZERO)
            exact = EXACT.divide(EXACT.multiply(d.percent, covered), Decimal(100))
            amount = min(sheet.money(exact), room)
            why = [f"{plain(d.percent)}% of {covered} (the covered lines' amounts) = {plain(exact)}, "
                   f"rounded once to {sheet.money(exact)}"]
            if amount < sheet.money(exact):
                why.append(f"limited to {room}, what the covered lines still owe after earlier discounts")
            quantity, unit_price, unit = covered, -(d.percent / Decimal(100)), "share"
        else:
            amount, why = _amount_discount(sheet, d, indices, rule)
            quantity, unit_price, unit = Decimal(1), -amount, "period"
        if amount <= 0:
            continue
        which = (f"this is period {period.index + 1}" if served in ([], [period.index]) else
                 "here the lines of period" + ("s " if len(served) > 1 else " ")
                 + " and ".join(str(k + 1) for k in served))
        notes = [f"covers: {_scope_text(d.applies_to)}, in {coverage} ({which})",
                 *why, "shared among the lines it covers, by their nets (largest remainder):",
                 *_take(sheet, indices, amount)]
        sheet.add(Line(kind="discount", charge=d.description or "Discount",
                       description=d.description or "Discount", quantity=quantity, unit=unit,
                       unit_price=unit_price, amount=-amount, rule=rule, notes=tuple(notes)))


def _amount_discount(sheet: Sheet, d: Discount, indices: list[int], rule: str | None) -> tuple[Decimal, list[str]]:
    """`discount $N`: a budget per covered period (part2-decisions 7.6). On this sheet, each
    period whose covered lines it carries uses `min(what its budget has left, those lines'
    nets, the invoice's running total)`; the budget of the period this sheet closes is then
    spent, and what it still holds is lost (reported in `unused_discounts`). Other periods'
    budgets wait for their later invoices (an advance fee's period is closed by the next)."""
    budget = sheet.money(d.amount)
    periods = sorted({sheet.services[i].index for i in indices}
                     | ({sheet.closes} if sheet.closes is not None and covers_index(d, sheet.closes) else set()))
    amount, why = ZERO, []
    for k in periods:
        left = sheet.budgets.get((d.id, k), budget)
        room = sum((sheet.nets[i] for i in indices if sheet.services[i].index == k), ZERO)
        running = sheet.running_total - amount
        use = max(min(left, room, running), ZERO)
        if len(periods) == 1 and left == budget and k == sheet.period.index:
            why.append(f"{budget} per covered period; the covered lines owe {room} after percentage discounts, "
                       f"the invoice {running} so far: uses {use}")
        else:
            why.append(f"period {k + 1}: {left} of its {budget} left; its covered lines owe {room} after "
                       f"percentage discounts, the invoice {running} so far: uses {use}")
        amount += use
        left -= use
        if k != sheet.closes:
            sheet.budgets[(d.id, k)] = left
            continue
        sheet.budgets[(d.id, k)] = ZERO
        if left > 0:
            span = next((s for s in sheet.services if s.index == k), sheet.period)
            start, end = (sheet.period.start, sheet.period.end) if span is sheet.period else (span.start, span.end)
            sheet.unused_discounts.append(UnusedDiscount(
                contract=sheet.contract.name, discount=d.description or "Discount", rule=rule,
                period=PeriodRange(start=start, end=end), unused=left))
            what = "this period's" if k == sheet.period.index else f"period {k + 1}'s"
            why.append(f"{left} of {what} {budget} cannot be used: lost (reported in unused_discounts)")
    return amount, why


def cap_fraction(period: Period) -> Fraction:
    """The share of a whole period this one is, by which the cap is prorated: 1 for a whole
    period, days / full days for a short first period (`billing ... on day D`) and for one
    cut short by `ends` (`Period.fraction`, the fees' proration)."""
    return period.fraction()


def _exactly(value: Fraction) -> str:
    """A figure as `exact_text` writes it, and about how much a fraction is (`140/31 (about
    4.5161)`): what explain shows of a prorated limit, never a decimal cut short."""
    text = exact_text(value)
    if "/" not in text:
        return text
    about = (Decimal(value.numerator) / Decimal(value.denominator)).quantize(Decimal("0.0001"))
    return f"{text} (about {plain(about)})"


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
    exact_limit = Fraction(cap) * fraction  # `limit` holds 60 digits: shown, it would be a figure cut short
    notes = (f"spend cap {plain(cap)} per period{prorated}{whose}: limit {_exactly(exact_limit)}",
             f"usage after discounts {base} - limit {exact_text(exact_limit)} = "
             f"{_exactly(Fraction(base) - exact_limit)}, rounded once "
             f"to {amount}; fees and the minimum are not capped",
             "shared among the usage lines" + (" of the part" if sheet.split else "")
             + ", by their nets (largest remainder):",
             *_take(sheet, usage, amount))
    sheet.add(Line(kind="cap", charge="Spend cap", description="Spend cap", quantity=Decimal(1),
                   unit="", unit_price=-amount, amount=-amount, rule=where, notes=notes), part)
