"""The view models behind the invoice templates: what a template may print.

The view models are frozen dataclasses of strings, booleans and lists, every
value already formatted (`invoice_views` builds them); the field names are the
documented interface for `--template-dir` templates (docs/invoices.md), so
they are kept apart from the code that fills them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import text_cells


@dataclass(frozen=True)
class TierView:
    range: str  # "up to 100", "over 100 up to 1,000", "over 1,000"
    quantity: str
    unit_price: str  # "$0.10", or "free"
    unit: str  # what the unit price is per ("GB")
    flat: str  # "+ $5.00 flat", or ""
    amount: str  # the money this tier contributes to the line's amount (`tier_shares`)


@dataclass(frozen=True)
class LineView:
    kind: str  # usage | fee | minimum | credit | discount | cap | unused_time
    charge: str  # the meter or fee name
    label: str  # what the line is: dimension values for usage lines, else its name
    dimensions: list[tuple[str, str]]
    dimensions_text: str  # "model: gpt-4, region: eu", or ""
    quantity: str  # "" where a quantity says nothing (minimum true-up)
    unit_price: str  # "" for tiered lines (see `tiers`) and the minimum true-up
    unit: str  # what the unit price is per: "1K tokens", "month"
    amount: str
    notes: list[str]  # "includes 50% off", "prorated: 15 of 31 days", ...
    tiers: list[TierView]


@dataclass(frozen=True)
class ChargeGroup:
    charge: str  # meter name
    title: str  # the meter's title
    show_title: bool  # the lines are labelled by their dimensions, under this title
    lines: list[LineView]
    amount: str  # the group's total


@dataclass(frozen=True)
class CreditView:
    grant: str  # grant id
    description: str
    applied: str  # negative: "-$200.00"
    remaining: str  # the grant's balance after this invoice
    label: str = "Prepaid credit"  # "Allowance" for a period's allowance
    remaining_label: str = "remaining balance"  # an allowance: "unused this period" (never carried over)


@dataclass(frozen=True)
class PurchaseView:
    """What a credit purchase invoice buys."""

    description: str
    credit: str  # face value of the grant ("" when unknown)
    price: str
    granted: str
    expires: str  # "Dec 31, 2026, 23:59:59 UTC", "end of Dec 31, 2026", or "never"


@dataclass(frozen=True)
class TextLayout:
    """Column widths of the 100-column text layout (all rows are exactly `width` wide)."""

    width: int
    label: int  # key column of the header block
    value: int  # value column of the header block
    rule: str  # a line of "-" across the width
    heavy_rule: str  # a line of "=" across the width
    description: int
    quantity: int
    unit_price: int
    unit: int
    amount: int
    totals_label: int  # totals labels end where the amount column starts

    # The rows of the layout, as text (`text_cells`): what `invoice.txt.j2` prints, each
    # in one call rather than a macro's many.
    def field(self, name: str, value: str) -> str:
        """A header field's lines: `name` in the key column, the value wrapped beside it."""
        return text_cells.field_rows(self.label, self.value, name, value)

    def fields(self, *fields: tuple[str, str]) -> str:
        """Header fields, each a (name, value) pair, one after the other."""
        label, value = self.label, self.value
        return "".join([text_cells.field_rows(label, value, name, text) for name, text in fields])

    def row(self, text: str, indent: str, quantity: str, unit_price: str, unit: str, amount: str) -> str:
        """A row of the lines table (a wrapped description goes on below the row)."""
        return text_cells.table_row(self, text, indent, quantity, unit_price, unit, amount)

    def line_rows(self, line: LineView, indent: str = "") -> str:
        """A `LineView`'s rows: the line, its notes and its tiers."""
        return text_cells.line_rows(self, line, indent)

    def lines_rows(self, lines: list[LineView], indent: str = "") -> str:
        """The rows of each of `lines` in turn: `line_rows` of a list in one call (an invoice
        has hundreds of lines; the template calls this once per list, not per line)."""
        return "".join([text_cells.line_rows(self, line, indent) for line in lines])

    def total_row(self, label: str, amount: str) -> str:
        """A totals row: the label ending where the amount column starts, then the amount."""
        return text_cells.total_row(self.totals_label, self.amount, label, amount)


@dataclass(frozen=True)
class CorrectionView:
    """An adjustment line (a ledger document's correction of an issued invoice)."""

    corrects: str  # the number of the invoice it corrects
    period: str  # that invoice's period
    label: str  # what changed: the charge and its dimension values
    reason: str  # "3 events late", "price change: pro.pricing:14 (was pro.pricing:12)"
    note: str  # "corrects INV-000001 (Jan 1 – 31, 2026): 3 events late"
    quantity: str  # the change in quantity ("+1,000"), or ""
    amount: str  # signed on invoices ("+$3.00" is "$3.00", less owed "-$2.00"); credited on credit notes


@dataclass(frozen=True)
class InvoiceView:
    # usage | credit_purchase | advance (the opening invoice of fees in advance) | adjustment |
    # credit_note (the last two: ledger documents)
    kind: str
    title: str  # "Invoice" | "Credit purchase" | "Adjustment invoice" | "Credit note"
    number: str
    issuer: str
    customer: str
    contract: str
    plan: str
    plan_title: str
    currency: str
    currency_name: str
    period_start: str
    period_end: str  # the last day of the period (periods are [start, end))
    period: str  # "Jan 1, 2026 – Mar 31, 2026"
    issued: str
    due: str
    payment_terms: str  # "Net 45" | "Due on receipt"
    autopay: bool
    autopay_text: str
    fees: list[LineView]
    charges: list[ChargeGroup]
    minimum: LineView | None
    purchase: PurchaseView | None
    lines: list[LineView]  # every line, in invoice order
    subtotal: str
    credits: list[CreditView]
    credits_applied: str  # negative, "-$200.00"
    has_credits: bool
    total: str
    note: str  # "Paid in full by prepaid credit.", "Nothing to pay for this period.", or ""
    text: TextLayout
    # ledger documents (`ratecard ledger show/export`, docs/ledger.md); an invoice priced
    # by `ratecard invoice` has none of these
    number_label: str = "Invoice number"  # "Credit note number" for credit notes
    total_label: str = "Total due"  # "Total credited" for credit notes
    corrections: list[CorrectionView] = field(default_factory=list)
    corrections_title: str = ""  # "Adjustments to earlier invoices" | "Credited"
    corrections_total: str = ""
    corrects: str = ""  # the invoice a credit note or an adjustment invoice corrects
    reason: str = ""  # why a credit note was issued
    status: str = "issued"  # issued | void
    status_note: str = ""  # "Void: reversed by credit note CN-000002"
    adjustments: list[LineView] = field(default_factory=list)  # discount and spend cap lines, in order
    # advance fees given back at an early end ("Pro plan (unused time)"), after the minimum true-up
    unused_time: list[LineView] = field(default_factory=list)


@dataclass(frozen=True)
class SummaryRow:
    contract: str
    customer: str
    periods: str  # usage invoices
    subtotal: str  # subtotal of the usage invoices and the opening invoice (fees, usage, minimum true-ups)
    purchases: str  # credit purchases invoiced
    credits: str  # credits applied (negative)
    total: str  # total due over all of the contract's invoices


@dataclass(frozen=True)
class SummaryView:
    through: str
    rows: list[SummaryRow]
    total: SummaryRow | None  # only with more than one contract
    widths: dict[str, int]


@dataclass(frozen=True)
class DocumentView:
    through: str
    currency: str
    lang: str  # the locale as a BCP 47 tag, for <html lang>: "en-US"
    invoices: list[InvoiceView]
    summary: SummaryView | None = None

    def context(self) -> dict:
        return {"through": self.through, "currency": self.currency, "lang": self.lang,
                "invoices": self.invoices, "summary": self.summary}
