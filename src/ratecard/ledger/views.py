"""Issued documents as people read them: the invoice templates' view models.

A ledger document is shown with the same templates as `ratecard invoice`
(`invoice.txt.j2`, `.md.j2`, `.html.j2`): its lines as an invoice's, plus its
adjustment lines, what it corrects, why, and whether it is void. Built from
the stored document alone (no pricing files are read): the plan is shown by the
title stored with the document when it was issued, as `ratecard invoice` shows
it (by its id for a document stored before titles were), and a credit
purchase's grant terms by name only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

from ..billing.documents import Invoice, read_back
from ..report.defaults import DEFAULT_ISSUER
from ..report.formatter import Formatter
from ..report.invoice_views import Extras, invoice_view
from ..report.text_layout import text_layout
from ..report.view_models import CorrectionView, DocumentView, InvoiceView
from ..report.visible import dimensions_text, visible
from .documents import Correction, LedgerDocument
from .records import Stored

TITLES = {"usage": "Invoice", "credit_purchase": "Credit purchase", "advance": "Invoice",
          "adjustment": "Adjustment invoice", "credit_note": "Credit note"}


def document_view(stored: list[Stored], currency: str, *, issuer: str = DEFAULT_ISSUER,
                  locale: str = "en_US", through: dt.date | None = None) -> DocumentView:
    fmt = Formatter(currency, locale)
    views = [ledger_invoice_view(s.doc, fmt, issuer=issuer, status=s.status, voided_by=s.row.voided_by)
             for s in stored]
    last = through or max((s.doc.issued for s in stored), default=dt.date.today())
    return DocumentView(through=fmt.date(last), currency=currency, lang=fmt.locale.replace("_", "-"),
                        invoices=views)


def ledger_invoice_view(doc: LedgerDocument, fmt: Formatter, *, issuer: str = DEFAULT_ISSUER,
                        status: str = "issued", voided_by: str | None = None) -> InvoiceView:
    inv = Invoice(
        number=doc.number, contract=doc.contract, customer=doc.customer, plan=doc.plan,
        kind=doc.kind if doc.kind in ("credit_purchase", "advance") else "usage", period=doc.period,
        issued=doc.issued, due=doc.due, payment_terms_days=doc.payment_terms_days, currency=doc.currency,
        autopay=doc.autopay, lines=[read_back(ln) for ln in doc.lines], subtotal=doc.subtotal,
        credits_applied=doc.credits_applied, credits=doc.credits, total=doc.total)
    titles = {doc.plan: doc.plan_title or doc.plan}
    view = invoice_view(inv, fmt, issuer=issuer, extras=Extras(plan_titles=titles))
    credit_note = doc.kind == "credit_note"
    corrections = [_correction_view(c, fmt, credit_note) for c in doc.corrections]
    corrections_total = fmt.money(-doc.corrections_total if credit_note else doc.corrections_total)
    note = view.note
    if doc.kind in ("adjustment", "credit_note"):
        note = ""
    elif doc.corrections and doc.total.is_zero():
        note = "Nothing to pay."
    amounts = [view.subtotal, view.total, view.credits_applied, corrections_total] \
        + [c.applied for c in view.credits] + [c.amount for c in corrections]
    return replace(
        view,
        kind=doc.kind,
        title=TITLES[doc.kind],
        number_label="Credit note no." if credit_note else "Invoice number",
        payment_terms="Credited to the customer" if credit_note else view.payment_terms,
        autopay_text="Not charged: a credit note" if credit_note else view.autopay_text,
        total_label="Total credited" if credit_note else "Total due",
        corrections=corrections,
        corrections_title=("Credited" if credit_note else "Adjustments to earlier invoices") if corrections else "",
        corrections_total=corrections_total if corrections else "",
        corrects=doc.corrects or "",
        reason=visible(doc.reason or ""),
        status=status,
        status_note=f"Void: reversed by credit note {voided_by}" if status == "void" and voided_by else
        ("Void" if status == "void" else ""),
        note=note,
        text=text_layout(view.lines, amounts),
    )


def _correction_view(c: Correction, fmt: Formatter, credit_note: bool) -> CorrectionView:
    last = max(c.period.end - dt.timedelta(days=1), c.period.start)
    period = fmt.days(c.period.start, last)
    dims = dimensions_text(sorted(c.dimensions.items()))
    label = visible(c.description or c.charge or "Adjustment")  # a line's description: any text
    if dims:
        label = f"{label} · {dims}"
    quantity = ""
    if c.quantity is not None and not c.quantity.is_zero():
        shown = -c.quantity if credit_note else c.quantity
        quantity = ("+" if shown > 0 else "") + fmt.number(shown)
    amount = -c.amount if credit_note else c.amount
    return CorrectionView(
        corrects=c.corrects,
        period=period,
        label=label,
        reason=visible(c.reason),
        note=f"corrects {c.corrects} ({period}): {visible(c.reason)}",
        quantity=quantity,
        amount=fmt.money(amount),
    )


def total_of(docs: list[LedgerDocument]) -> Decimal:
    """What a list of documents bills, all told: invoices minus credit notes."""
    return sum((-d.total if d.kind == "credit_note" else d.total for d in docs), Decimal(0))
