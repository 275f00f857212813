"""Reading issued documents back: the list, one document, every document.

A stored body is checked against its content hash as it is read: a document
changed outside ratecard is reported (E965), never rendered as if issued.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select

from ..billing.documents import Doc, PeriodRange
from ..diagnostics import error
from . import schema as t
from .documents import LedgerDocument, content_hash
from .store import LedgerError


class Listed(Doc):
    """One row of `ratecard ledger list --format json`."""

    number: str
    kind: str
    contract: str
    customer: str
    period: PeriodRange
    issued: dt.date
    due: dt.date
    currency: str
    total: Decimal  # a credit note's is what it credits (positive)
    status: str  # issued | void
    corrects: str | None
    voided_by: str | None


@dataclass(frozen=True)
class Stored:
    row: object  # the documents row
    doc: LedgerDocument
    body: str

    @property
    def status(self) -> str:
        return self.row.status


def _checked(row) -> Stored:
    if content_hash(row.body) != row.content_hash:
        raise LedgerError(error("E965", f"document {row.number} does not match its content hash: it was "
                                        "changed outside ratecard",
                                hints=["restore the ledger from a back-up (docs/ledger.md)"]))
    return Stored(row, LedgerDocument.model_validate_json(row.body), row.body)


def listing(conn, contract: str | None = None) -> list[Listed]:
    query = select(t.documents).order_by(t.documents.c.id)
    if contract is not None:
        query = query.where(t.documents.c.contract == contract)
    out = []
    for row in conn.execute(query):
        s = _checked(row)
        out.append(Listed(number=row.number, kind=row.kind, contract=row.contract, customer=row.customer,
                          period=s.doc.period, issued=row.issued, due=row.due, currency=s.doc.currency,
                          total=s.doc.total, status=row.status, corrects=row.corrects, voided_by=row.voided_by))
    return out


def stored(conn, contract: str | None = None) -> list[Stored]:
    query = select(t.documents).order_by(t.documents.c.id)
    if contract is not None:
        query = query.where(t.documents.c.contract == contract)
    return [_checked(row) for row in conn.execute(query)]


def one(conn, number: str) -> Stored:
    row = conn.execute(select(t.documents).where(t.documents.c.number == number)).one_or_none()
    if row is None:
        from ..diagnostics import did_you_mean

        numbers = [r.number for r in conn.execute(select(t.documents.c.number))]
        guess = did_you_mean(number, numbers)
        raise LedgerError(error("E963", f"no document numbered `{number}` in the ledger",
                                hints=[f"did you mean `{guess}`?"] if guess else
                                ["`ratecard ledger list` shows every number"]))
    return _checked(row)
