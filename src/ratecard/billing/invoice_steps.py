"""Invoice-level steps: what acts on a period's priced lines as a whole.

Line building (`lines.py`) prices each fee and usage line on its own. The
steps here come after it and before the subtotal and credits: each reads the
lines so far (on a `Sheet`, with each line's net: what earlier steps left of
it) and adds the lines it owes, in the order LANGUAGE.md "Part 2" makes
normative: discounts, the spend cap, then the minimum true-up (which compares
the spend after discounts and cap), then the unused time of fees paid in
advance at an early end. Prepaid credits come after all of them
(`credits.burn`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Callable

from ..money import ZERO, plain
from .adjustments import Sheet, cap_line, discount_lines
from .documents import Line
from .lines import shown

Step = Callable[[Sheet], None]


def minimum_true_up(sheet: Sheet) -> None:
    """The gap up to the contract's minimum commitment (prorated), when the lines fall short.

    What is compared is the spend *for* the period (or plan part): its fee and usage lines
    after discounts and cap (their nets: the discount and cap lines are shared among them),
    what an earlier invoice billed for it in advance (`carried`, net of that invoice's
    discounts) and the unused time given back; never the advance fees of the next period
    that this invoice also carries."""
    contract, period, money = sheet.contract, sheet.period, sheet.money
    if contract.minimum is None:
        return
    floor = money(period.share(contract.minimum))
    own = sum((net for i, (ln, net) in enumerate(zip(sheet.lines, sheet.nets))
               if ln.kind in ("fee", "usage") and sheet.own(i)), ZERO)
    unused = sum((ln.amount for ln in sheet.unused), ZERO)
    so_far = own + sheet.carried + unused
    if so_far >= floor:
        return
    gap = floor - so_far
    notes: tuple[str, ...] = ()
    if sheet.carried or sheet.unused or not all(sheet.own(i) for i in range(len(sheet.lines))):
        notes = (f"compared with this period's spend {money(so_far)}: its fees and usage on this invoice after "
                 f"discounts and cap {money(own)}, its fees billed in advance on the invoice before (after "
                 f"discounts) {money(sheet.carried)}" + (f", unused time {unused}" if sheet.unused else "")
                 + "; the next period's fees in advance on this invoice are not part of it",)
    sheet.add(Line(
        kind="minimum",
        charge="minimum",
        description=f"Minimum commitment true-up (minimum {plain(floor)})",
        quantity=Decimal(1),
        unit="period",
        unit_price=gap,
        amount=gap,
        prorated=shown(period.proration) if period.is_partial else None,
        notes=notes,
    ))


def unused_time(sheet: Sheet) -> None:
    """The unused time of advance fees given back at an early end (`advance.py`): last on the
    invoice, never discounted, capped or topped up (part2-decisions 5.4, 14.2)."""
    for line in sheet.unused:
        sheet.add(line)


STEPS: tuple[Step, ...] = (discount_lines, cap_line, minimum_true_up, unused_time)


def apply_invoice_steps(sheet: Sheet) -> Sheet:
    """The sheet with what each invoice-level step adds, in step order."""
    for step in STEPS:
        step(sheet)
    return sheet
