"""Invoice-level steps: what acts on a period's priced lines as a whole.

Line building (`lines.py`) prices each fee and usage line on its own. The
steps here come after it and before the subtotal and credits: each reads the
lines so far (on a `Sheet`, with each line's net: what earlier steps left of
it) and adds the lines it owes, in the order LANGUAGE.md "Part 2" makes
normative: discounts, the spend cap, then the minimum true-up (which compares
the spend after discounts and cap), then the unused time of fees paid in
advance at an early end. Prepaid credits come after all of them
(`credits.burn`). On a period a plan change cuts, discounts act on the whole
invoice (one line each), the cap, the minimum and the unused time on each plan
part (one line each, the old part's first, marked with the part's plan and
dates).
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
    per plan part, each part's minimum (its plan's, prorated by its days) against the part's
    spend.

    What is compared is the spend *for* the part (part2-decisions 5.7, 9.1): its own fee and
    usage lines after discounts and cap (their nets: an invoice-wide discount line and the
    part's cap line are shared among them, the other part's shares are not), what the
    invoice before billed for it in advance (`carried`, net of that invoice's discounts)
    and its unused time given back; never the advance fees of the next period that this
    invoice also carries."""
    for part in sheet.parts:
        _part_minimum(sheet, part)


def _part_minimum(sheet: Sheet, part: SheetPart) -> None:
    contract, period, money = part.contract, part.period, sheet.money
    if contract.minimum is None:
        return
    floor = money(period.share(contract.minimum))
    own = sum((sheet.nets[i] for i in part.lines), ZERO)
    unused = sum((ln.amount for ln in part.unused), ZERO)
    so_far = own + part.carried + unused
    if so_far >= floor:
        return
    gap = floor - so_far
    notes: tuple[str, ...] = ()
    if part.carried or part.unused or not all(sheet.own(i) for i in range(len(sheet.lines))):
        whose = f"plan {part.period.plan}'s part's" if sheet.split else "this period's"
        notes = (f"compared with {whose} spend {money(so_far)}: its fees and usage on this invoice after "
                 f"discounts and cap {money(own)}, its fees billed in advance on the invoice before (after "
                 f"discounts) {money(part.carried)}" + (f", unused time {unused}" if part.unused else "")
                 + "; the next period's fees in advance on this invoice are not part of it",)
    sheet.add(Line(
        kind="minimum",
        charge="minimum",
        description=_MINIMUM.format(plain(floor)),
        quantity=Decimal(1),
        unit="period",
        unit_price=gap,
        amount=gap,
        prorated=shown(period.proration) if period.is_partial else None,
        notes=notes,
    ), part)


def unused_time(sheet: Sheet) -> None:
    """The unused time of advance fees given back at an early end (`advance.py`): last on the
    invoice, never discounted, capped or topped up (part2-decisions 5.4, 14.2); each part's,
    the old part's first (each line names its plan and the days it gives back)."""
    for part in sheet.parts:
        for line in part.unused:
            sheet.add(line)


STEPS: tuple[Step, ...] = (discount_lines, cap_line, minimum_true_up, unused_time)


def apply_invoice_steps(sheet: Sheet) -> Sheet:
    """The sheet with what each invoice-level step adds, in step order."""
    for step in STEPS:
        step(sheet)
    return sheet
