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
    tiers = [t for ln in lines for t in ln.tiers]
    quantity = max([len("Quantity")] + [len(r.quantity) for r in lines] + [len(t.quantity) for t in tiers])
    unit_price = max([len("Unit price")] + [len(r.unit_price) for r in lines]
                     + [len(t.unit_price) for t in tiers])
    unit = max([len("Per")] + [len(r.unit) for r in lines if r.unit_price] + [len(t.unit) for t in tiers])
    amount = max([len("Amount")] + [len(a) for a in totals] + [len(r.amount) for r in lines]
                 + [len(t.amount) for t in tiers])
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
