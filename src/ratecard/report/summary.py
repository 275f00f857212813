"""The summary table of a run: one row per contract, and a total row.

Long contract and customer names give way (cut with an ellipsis) so that the
table still fits the 100-column text layout.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal
from typing import Protocol, Sequence

from ..money import zero
from .formatter import Formatter
from .text_layout import TEXT_WIDTH
from .view_models import SummaryRow, SummaryView
from .visible import visible


class Summed(Protocol):
    """What the summary reads of an invoice: an `Invoice`, or the `pages.Outline` of one
    rendered in another process."""

    kind: str
    contract: str
    customer: str
    subtotal: Decimal
    credits_applied: Decimal
    total: Decimal


def summary_view(through: dt.date, currency: str, invoices: Sequence[Summed], fmt: Formatter) -> SummaryView:
    by_contract: dict[str, list[Summed]] = {}
    for inv in invoices:
        by_contract.setdefault(inv.contract, []).append(inv)

    def row(contract: str, customer: str, group: list[Summed]) -> SummaryRow:
        usage = [i for i in group if i.kind == "usage"]
        billed = [i for i in group if i.kind in ("usage", "advance")]  # the opening invoice bills fees too
        return SummaryRow(
            contract=contract,
            customer=customer,
            periods=fmt.number(Decimal(len(usage))),
            subtotal=fmt.money(sum((i.subtotal for i in billed), zero(currency))),
            purchases=fmt.money(sum((i.subtotal for i in group if i.kind == "credit_purchase"), zero(currency))),
            credits=fmt.money(-sum((i.credits_applied for i in group), zero(currency))),
            total=fmt.money(sum((i.total for i in group), zero(currency))),
        )

    rows = [row(visible(name), visible(group[0].customer), group) for name, group in sorted(by_contract.items())]
    total = row("Total", "", list(invoices)) if len(rows) > 1 else None
    headers = {"contract": "Contract", "customer": "Customer", "periods": "Periods",
               "subtotal": "Subtotal", "purchases": "Credit purchases", "credits": "Credits applied",
               "total": "Total due"}
    every = rows + ([total] if total else [])
    widths = {key: max([len(title)] + [len(getattr(r, key)) for r in every])
              for key, title in headers.items()}
    # long names give way so the table still fits: they are cut with an ellipsis
    spare = TEXT_WIDTH - sum(widths.values()) - 2 * (len(widths) - 1)
    if spare < 0:
        for key in ("customer", "contract"):
            cut = min(-spare, widths[key] - len(headers[key]))
            widths[key] -= cut
            spare += cut
        rows = [_clip_row(r, widths) for r in rows]
        total = _clip_row(total, widths) if total else None
    return SummaryView(through=fmt.date(through), rows=rows, total=total, widths=widths)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def _clip_row(r: SummaryRow, widths: dict[str, int]) -> SummaryRow:
    return replace(r, contract=_clip(r.contract, widths["contract"]),
                    customer=_clip(r.customer, widths["customer"]))
