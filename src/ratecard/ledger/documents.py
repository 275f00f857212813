"""The issued document: the JSON a ledger stores, byte for byte, and exports.

One shape for the five kinds, so a ledger is one list of documents:

    usage            a contract's billing period, as `ratecard invoice` bills it, and
                     the adjustment lines that correct earlier invoices it carries
    advance          the opening invoice of a contract's fees `in advance`, dated `starts`
    credit_purchase  a prepaid credit bought
    adjustment       a standalone invoice of adjustment lines (for a contract that has ended)
    credit_note      what an issued invoice bills too much, credited; or a void's reversal

`lines`, `subtotal`, `credits_applied` and `credits` are the pure function's
invoice (`billing.documents.Invoice`) as it was when issued; `corrections` are
the adjustment lines: each names the invoice it corrects and why, and its
amount is signed (+ more is owed, - less). An invoice's `total` is
`subtotal - credits_applied + corrections_total`; a credit note's `total` is
what it credits, positive (`-corrections_total`). `billed_as` is the number
`ratecard invoice` gives the same invoice (`acme-20260101`). `plan_title` is the
plan's `title` when the document was issued, what `ratecard invoice` shows beside
the contract: a document is read back without the pricing files, and a title
edited since is not what was sent. A document issued before the field has none,
and its views show the plan's id (the JSON of those stays byte for byte).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from typing import Literal

from pydantic import Field

from ..billing.documents import CreditApplied, Doc, Line, PeriodRange

Kind = Literal["usage", "credit_purchase", "advance", "adjustment", "credit_note"]
KINDS = ("usage", "credit_purchase", "advance", "adjustment", "credit_note")


def _absent(value) -> bool:
    return value is None


class Correction(Doc):
    """An adjustment line: a change to what an issued invoice bills."""

    corrects: str  # the number of the issued invoice it corrects
    period: PeriodRange  # that invoice's period
    charge: str  # the meter, fee, "minimum", "credit"; "" for a balance line
    description: str
    dimensions: dict[str, str] = Field(default_factory=dict)
    quantity: Decimal | None = None  # the change in quantity, for usage lines
    amount: Decimal  # signed: + more is owed, - less
    reason: str  # "3 late events", "price change: pro.pricing:14 (was pro.pricing:12)", ...


class LedgerDocument(Doc):
    number: str
    kind: Kind
    contract: str
    customer: str
    plan: str
    plan_title: str | None = Field(default=None, exclude_if=_absent)  # the plan's title when issued
    period: PeriodRange
    issued: dt.date
    due: dt.date
    payment_terms_days: int
    currency: str
    autopay: bool
    lines: list[Line] = Field(default_factory=list)
    subtotal: Decimal
    credits_applied: Decimal
    credits: list[CreditApplied] = Field(default_factory=list)
    corrections: list[Correction] = Field(default_factory=list)
    corrections_total: Decimal
    total: Decimal
    corrects: str | None = None  # credit notes and adjustment invoices: the invoice they correct
    reason: str | None = None  # credit notes: why (a void's --reason, or the corrections' reasons)
    billed_as: str | None = None  # the pure function's number for this invoice


def body_of(doc: LedgerDocument) -> str:
    """The stored text of a document: its JSON, indented as `ratecard invoice` writes it."""
    return doc.model_dump_json(indent=2)


def content_hash(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def signed_total(doc_kind: str, total: Decimal) -> Decimal:
    """What a document adds to the customer's account: invoices +, credit notes -."""
    return -total if doc_kind == "credit_note" else total
