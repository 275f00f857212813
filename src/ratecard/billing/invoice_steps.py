"""Invoice-level steps: what acts on a period's priced lines as a whole.

Line building (`lines.py`) prices each fee and usage line on its own. The
steps here come after it and before the subtotal and credits: each reads the
lines so far and adds the lines it owes, in a fixed order, so every step
sees what the earlier ones added. Today there is one step, the minimum
commitment true-up. Part 2 of the language (discounts, caps, allowances
over the invoice) adds its steps here, in `STEPS`, in the order the spec
gives them; nothing before this point changes for them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Callable

from ..model import Contract
from ..money import ZERO, plain
from .documents import Line
from .lines import shown
from .periods import Period

Money = Callable[[Decimal], Decimal]
# (contract, period, the lines so far, rounding) -> the line the step adds, or None
Step = Callable[[Contract, Period, list[Line], Money], "Line | None"]


def minimum_true_up(contract: Contract, period: Period, lines: list[Line], money: Money) -> Line | None:
    """The gap up to the contract's minimum commitment (prorated), when the lines fall short."""
    if contract.minimum is None:
        return None
    floor = money(period.share(contract.minimum))
    so_far = sum((ln.amount for ln in lines), ZERO)
    if so_far >= floor:
        return None
    gap = floor - so_far
    return Line(
        kind="minimum",
        charge="minimum",
        description=f"Minimum commitment true-up (minimum {plain(floor)})",
        quantity=Decimal(1),
        unit="period",
        unit_price=gap,
        amount=gap,
        prorated=shown(period.proration) if period.is_partial else None,
    )


STEPS: tuple[Step, ...] = (minimum_true_up,)


def apply_invoice_steps(contract: Contract, period: Period, lines: list[Line], money: Money) -> list[Line]:
    """The period's lines with what each invoice-level step adds, in step order."""
    for step in STEPS:
        added = step(contract, period, lines, money)
        if added is not None:
            lines.append(added)
    return lines
