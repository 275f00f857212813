"""Invoice-level steps: what acts on a period's priced lines as a whole.

Line building (`lines.py`) prices each fee and usage line on its own. The
steps here come after it and before the subtotal and credits: each reads the
lines so far (on a `Sheet`, with each line's net: what earlier steps left of
it) and adds the lines it owes, in the order LANGUAGE.md "Part 2" makes
normative: discounts, the spend cap, then the minimum true-up (which compares
the spend after discounts and cap). Prepaid credits come after all of them
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
    """The gap up to the contract's minimum commitment (prorated), when the lines fall short."""
    contract, period, money = sheet.contract, sheet.period, sheet.money
    if contract.minimum is None:
        return
    floor = money(period.share(contract.minimum))
    so_far = sum((ln.amount for ln in sheet.lines), ZERO)
    if so_far >= floor:
        return
    gap = floor - so_far
    sheet.add(Line(
        kind="minimum",
        charge="minimum",
        description=f"Minimum commitment true-up (minimum {plain(floor)})",
        quantity=Decimal(1),
        unit="period",
        unit_price=gap,
        amount=gap,
        prorated=shown(period.proration) if period.is_partial else None,
    ))


STEPS: tuple[Step, ...] = (discount_lines, cap_line, minimum_true_up)


def apply_invoice_steps(sheet: Sheet) -> Sheet:
    """The sheet with what each invoice-level step adds, in step order."""
    for step in STEPS:
        step(sheet)
    return sheet
