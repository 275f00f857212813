"""Invoice-level steps: what acts on a period's priced lines as a whole.

Line building (`lines.py`) prices each fee and usage line on its own. The
steps here come after it and before the subtotal and credits: each reads the
lines so far (on a `Sheet`, with each line's net: what earlier steps left of
it) and adds the lines it owes, in the order LANGUAGE.md "Part 2" makes
normative: discounts, the spend cap, then the minimum true-up (which compares
the spend after discounts and cap). Prepaid credits come after all of them
(`credits.burn`). On a period a plan change cuts, discounts act on the whole
invoice (one line each), the cap and the minimum on each plan part (one line
each, the old part's first, marked with the part's plan and dates).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Callable

from ..money import ZERO, plain
from .adjustments import Sheet, SheetPart, cap_line, discount_lines
from .documents import Line
from .lines import shown

Step = Callable[[Sheet], None]


_MINIMUM = "Minimum commitment true-up (minimum {})"
_STATED = re.compile(re.escape(_MINIMUM).replace(r"\{\}", r"(-?[0-9]+(?:\.[0-9]+)?)") + "$")


def stated_minimum(line: Line) -> Decimal | None:
    """The (prorated) minimum a true-up line brings its plan part up to, as its description
    states it: a part's lines alone do not tell it once an invoice-wide discount has taken a
    share of them, and a document read back from the ledger keeps only what it states."""
    found = _STATED.match(line.description) if line.kind == "minimum" else None
    return Decimal(found.group(1)) if found else None


def minimum_true_up(sheet: Sheet) -> None:
    """The gap up to the contract's minimum commitment (prorated), when the lines fall short:
    per plan part, each part's minimum (its plan's, prorated by its days) against what its
    own fee and usage lines owe after discounts and cap (their nets)."""
    for part in sheet.parts:
        _part_minimum(sheet, part)


def _part_minimum(sheet: Sheet, part: SheetPart) -> None:
    contract, period, money = part.contract, part.period, sheet.money
    if contract.minimum is None:
        return
    floor = money(period.share(contract.minimum))
    # what the part's lines still owe: their amounts less the discount and cap shares taken
    # from them (on an unsplit period, the sum of every line so far)
    so_far = sum((sheet.nets[i] for i in part.lines), ZERO)
    if so_far >= floor:
        return
    gap = floor - so_far
    sheet.add(Line(
        kind="minimum",
        charge="minimum",
        description=_MINIMUM.format(plain(floor)),
        quantity=Decimal(1),
        unit="period",
        unit_price=gap,
        amount=gap,
        prorated=shown(period.proration) if period.is_partial else None,
    ), part)


STEPS: tuple[Step, ...] = (discount_lines, cap_line, minimum_true_up)


def apply_invoice_steps(sheet: Sheet) -> Sheet:
    """The sheet with what each invoice-level step adds, in step order."""
    for step in STEPS:
        step(sheet)
    return sheet
