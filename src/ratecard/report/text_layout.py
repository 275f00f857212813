"""The 100-column text layout: column widths that fit every value of an invoice.

Text templates cannot measure their values, so the widths of the header block
and of the lines table are computed here, from the formatted view models.
"""

from __future__ import annotations

from .view_models import LineView, TextLayout

TEXT_WIDTH = 100  # the text layout fits a 100-column terminal
_LABEL = 16  # the key column of the header block
_GAPS = 4 * 2  # two spaces between the five columns of the lines table


def text_layout(lines: list[LineView], totals: list[str]) -> TextLayout:
    """Column widths that fit every value; the description column takes what is left of 100."""
    quantity, unit_price, unit = len("Quantity"), len("Unit price"), len("Per")
    amount = max([len("Amount")] + [len(a) for a in totals])
    for r in lines:  # one pass (a run's views make a layout per invoice)
        quantity = max(quantity, len(r.quantity))
        unit_price = max(unit_price, len(r.unit_price))
        if r.unit_price:
            unit = max(unit, len(r.unit))
        amount = max(amount, len(r.amount))
        for t in r.tiers:
            quantity = max(quantity, len(t.quantity))
            unit_price = max(unit_price, len(t.unit_price))
            unit = max(unit, len(t.unit))
            amount = max(amount, len(t.amount))
    return TextLayout(
        width=TEXT_WIDTH,
        label=_LABEL,
        value=TEXT_WIDTH - _LABEL,
        rule="-" * TEXT_WIDTH,
        heavy_rule="=" * TEXT_WIDTH,
        description=max(TEXT_WIDTH - quantity - unit_price - unit - amount - _GAPS, 20),
        quantity=quantity,
        unit_price=unit_price,
        unit=unit,
        amount=amount,
        totals_label=TEXT_WIDTH - amount - 2,
    )
