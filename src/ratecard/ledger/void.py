"""`ratecard ledger void NUMBER --reason TEXT`: a document withdrawn, never deleted.

The voided document keeps its number and its body (its status becomes
`void`), and its reversal is issued as a credit note for its whole total,
naming it and the reason, in the same transaction. A voided usage or credit
purchase invoice frees its period: the next `issue` bills it again under a
new number (with whatever the pricing says then). Adjustment lines the voided
invoice carried are reversed too, so the invoices they corrected are
corrected again by the next `issue`. A credit note cannot be voided: a wrong
one is put right by the pricing and the next `issue`.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import insert, select, update

from ..diagnostics import error
from ..money import zero as money_zero
from . import schema as t
from .corrections import Planned, Proposal
from .documents import Correction, LedgerDocument
from .issue import insert_documents, insert_entries, record_run
from ..compiler.numbering import parse_format
from .records import one
from .state import read_generation
from .store import Ledger, LedgerError


def void(ledger: Ledger, number: str, reason: str, on: dt.date) -> LedgerDocument:
    """Void `number`; the credit note that reverses it."""
    with ledger.writing() as conn:
        target = one(conn, number)
        doc = target.doc
        if target.status == "void":
            raise LedgerError(error("E964", f"{number} is void already (reversed by {target.row.voided_by})"))
        if doc.kind == "credit_note":
            raise LedgerError(error("E964", f"{number} is a credit note: a credit note cannot be voided",
                                    hints=["correct the pricing or the usage, and `ratecard issue` again"]))
        if on < doc.issued:
            # a reversal dated before what it reverses would put the credit in a period the
            # invoice was not yet in (the books of a closed month, an aged-debt report)
            raise LedgerError(error("E964", f"{number} cannot be voided on {on}: it was issued on {doc.issued}, "
                                            "and its credit note cannot be dated before it",
                                    hints=[f"give --date {doc.issued} or later"]))
        parts = [(r.slot, Decimal(r.amount)) for r in conn.execute(
            select(t.entries.c.slot, t.entries.c.amount).where(t.entries.c.number == number)
            .order_by(t.entries.c.id))]
        originals = {r.slot: r.original for r in conn.execute(
            select(t.slots.c.slot, t.slots.c.original).where(t.slots.c.slot.in_([s for s, _ in parts])))}
        own = f"{doc.kind}:{doc.contract}:{doc.billed_as}" if doc.billed_as else None
        periods = {c.corrects: c.period for c in doc.corrections}
        lines = []
        for slot, amount in parts:
            if slot == own:
                lines.append(Correction(corrects=number, period=doc.period, charge="",
                                        description=f"Reversal of {number}", amount=-amount, reason=reason))
                continue
            corrects = originals.get(slot) or number
            lines.append(Correction(corrects=corrects, period=periods.get(corrects, doc.period), charge="",
                                    description=f"Reversal of the adjustment lines on {number}",
                                    amount=-amount, reason=reason))
        row = conn.execute(select(t.series).where(t.series.c.name == "credit_notes")).one_or_none()
        fmt = row.format if row is not None else "CN-{n:06}"
        seq = (row.last if row is not None else 0) + 1
        cn_number = parse_format(fmt).format(seq)
        total_corr = sum((c.amount for c in lines), Decimal(0))
        zero = money_zero(doc.currency)
        note = LedgerDocument(
            number=cn_number, kind="credit_note", contract=doc.contract, customer=doc.customer, plan=doc.plan,
            plan_title=doc.plan_title, period=doc.period, issued=on, due=on, payment_terms_days=0, currency=doc.currency,
            autopay=doc.autopay, subtotal=zero, credits_applied=zero, corrections=lines,
            corrections_total=total_corr, total=-total_corr, corrects=number, reason=f"void: {reason}")
        run_id = record_run(conn, "void", on, {"void": number, "reason": reason})
        proposal = Proposal(documents=[Planned(note, "credit_notes", seq, [(s, -a) for s, a in parts],
                                               target.row.fingerprint)])
        insert_documents(conn, proposal, run_id)
        insert_entries(conn, proposal)
        conn.execute(update(t.documents).where(t.documents.c.number == number)
                     .values(status="void", voided_by=cn_number))
        conn.execute(update(t.slots).where(t.slots.c.original == number).values(original=None))
        if row is None:
            conn.execute(insert(t.series).values(name="credit_notes", last=seq, format=fmt))
        else:
            conn.execute(update(t.series).where(t.series.c.name == "credit_notes").values(last=seq))
        generation, _ = read_generation(conn)
        conn.execute(update(t.ledger_row).where(t.ledger_row.c.id == 1).values(generation=generation + 1))
    return note

