"""`ratecard issue`: one run, one transaction.

    price (outside the lock; the usage stage is the slow part)
    -> lock the ledger, read its state
    -> if another run committed draws meanwhile, price again from the same
       usage aggregates (billing only) with the draws now final
    -> reconcile (corrections.py) -> write documents, entries, slots, draws,
       breakage, the series' counters and the run -> commit

Everything is written in the one transaction `Ledger.writing` holds, so a
crash, a lost connection or Ctrl-C before the commit leaves the ledger as it
was, and a second run waiting on the lock sees all of the first or none.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable, Mapping

from sqlalchemy import bindparam, insert, select, update

from .. import __version__
from ..billing.sinks import PricedLinesSink
from ..diagnostics import Span, error
from ..model import Issuing, RatingPlan
from . import schema as t
from .corrections import Pending, Proposal, reconcile
from .documents import LedgerDocument, body_of, content_hash
from .state import read_state
from .store import Ledger, LedgerError


class Priced(PricedLinesSink):
    """A billing sink for `issue`: every invoice of the run, and each usage line's
    event count (for the reasons of corrections). With a sink, billing keeps no
    explain data (`evaluate`), which a run over ten thousand contracts would
    otherwise hold; `breakage` is the run's, set once it is priced."""

    wants_priced = True

    def __init__(self):
        self.invoices: list = []
        self.events: dict[int, int] = {}
        self.breakage: list = []

    def __call__(self, invoices, priced=()) -> None:
        self.invoices.extend(invoices)
        for pl in priced:
            self.events[id(pl.line)] = pl.aggregate.events


@dataclass
class IssueResult:
    documents: list[LedgerDocument] = field(default_factory=list)
    pending: list[Pending] = field(default_factory=list)
    unpriced: list[str] = field(default_factory=list)
    breakage: list[dict] = field(default_factory=list)
    repriced: bool = False  # another run committed draws while this one priced


def check_currency(ledger: Ledger, ledger_currency: str | None, currency: str) -> None:
    if ledger_currency is not None and ledger_currency != currency:
        raise LedgerError(error(
            "E962", f"the pricing bills in {currency}, but ledger {ledger.target.shown} holds {ledger_currency} "
                    "documents", hints=["a ledger keeps one currency: use another ledger for this pricing"]))


def issue(ledger: Ledger, plan: RatingPlan, issuing: Issuing, priced: Priced, drawn_used,
          reprice: Callable[[dict], Priced], through: dt.date, grace_days: int, only: str | None,
          inputs: dict, numbering: Mapping[str, Span] | None = None) -> IssueResult:
    """Issue what `priced` (billed with the final draws `drawn_used`) says is due.
    `reprice(drawn)` prices again from the same usage with other final draws; `numbering`
    is where each series' format is written, for a number the ledger holds already (E967)."""
    result = IssueResult()
    with ledger.writing() as conn:
        state = read_state(conn)
        check_currency(ledger, state.currency, plan.currency)
        if state.drawn != drawn_used:
            priced = reprice(state.drawn)
            result.repriced = True
        proposal = reconcile(plan, issuing, priced.invoices, priced.events, priced.breakage, state,
                             through, grace_days, only)
        result.pending, result.unpriced, result.breakage = proposal.pending, proposal.unpriced, proposal.breakage
        if not (proposal.documents or proposal.slots or proposal.breakage):
            return result  # nothing to write: the transaction ends without a change
        write(conn, state, proposal, plan.currency, issuing, through, inputs, numbering)
        result.documents = [p.doc for p in proposal.documents]
    return result


def write(conn, state, proposal: Proposal, currency: str, issuing: Issuing, through: dt.date,
          inputs: dict, numbering: Mapping[str, Span] | None = None) -> None:
    """Everything the run issues, inside the caller's transaction."""
    run_id = record_run(conn, "issue", through, inputs)
    insert_documents(conn, proposal, run_id, numbering)
    insert_entries(conn, proposal)
    changed = [{"key": slot, "original": row["original"], "snapshot": row["snapshot"],
                "fingerprint": row["fingerprint"]} for slot, row in proposal.slots.items() if slot in state.slots]
    new = [row for slot, row in proposal.slots.items() if slot not in state.slots]
    if new:
        conn.execute(insert(t.slots), new)
    if changed:
        conn.execute(update(t.slots).where(t.slots.c.slot == bindparam("key"))
                     .values(original=bindparam("original"), snapshot=bindparam("snapshot"),
                             fingerprint=bindparam("fingerprint")), changed)
    if proposal.draws:
        conn.execute(insert(t.draws), proposal.draws)
    if proposal.breakage:
        conn.execute(insert(t.breakage), proposal.breakage)
    formats = {"invoices": issuing.invoices, "credit_notes": issuing.credit_notes}
    for name in formats:  # both series, so a void numbers its credit note in the pricing's format
        last = proposal.series.get(name, state.series.get(name, 0))
        if name in state.series:
            conn.execute(update(t.series).where(t.series.c.name == name).values(last=last, format=formats[name]))
        else:
            conn.execute(insert(t.series).values(name=name, last=last, format=formats[name]))
    values = {"generation": state.generation + 1}
    if state.currency is None:
        values["currency"] = currency
    conn.execute(update(t.ledger_row).where(t.ledger_row.c.id == 1).values(**values))


def record_run(conn, command: str, through: dt.date, inputs: dict) -> int:
    done = conn.execute(insert(t.runs).values(
        command=command, through=through, at=dt.datetime.now(dt.timezone.utc), ratecard=__version__,
        inputs=json.dumps(inputs, sort_keys=True)))
    return done.inserted_primary_key[0]


def insert_documents(conn, proposal: Proposal, run_id: int, numbering: Mapping[str, Span] | None = None) -> None:
    check_numbers_unused(conn, proposal, numbering or {})
    rows = []
    for p in proposal.documents:
        doc = p.doc
        body = body_of(doc)
        rows.append({
            "number": doc.number, "series": p.series, "seq": p.seq, "kind": doc.kind,
            "contract": doc.contract, "customer": doc.customer,
            "period_start": doc.period.start, "period_end": doc.period.end,
            "issued": doc.issued, "due": doc.due, "total": str(doc.total), "corrects": doc.corrects,
            "status": "issued", "voided_by": None, "body": body, "content_hash": content_hash(body),
            "fingerprint": p.fingerprint, "run": run_id,
        })
    if rows:
        conn.execute(insert(t.documents), rows)


def check_numbers_unused(conn, proposal: Proposal, numbering: Mapping[str, Span]) -> None:
    """A number is never reused. The counters see to it within a series, E951 between the two
    formats of one pricing; but a format changed since (credit notes now "INV-{n:06}", the old
    invoices' text) can give a number the ledger holds already: E967 at the format, before the
    database's unique key would stop the run with its own words."""
    wanted = {p.doc.number: p for p in proposal.documents}
    if not wanted:
        return
    taken = set(conn.execute(select(t.documents.c.number).where(t.documents.c.number.in_(list(wanted)))).scalars())
    for number in sorted(taken, key=lambda x: (wanted[x].series, wanted[x].seq)):
        p = wanted[number]
        raise LedgerError(error(
            "E967", f"the next number of the {p.series.replace('_', ' ')} series is {number}, which the ledger "
                    "holds already: a number is never reused", numbering.get(p.series),
            hints=["a numbering format changed: give the series a format the ledger has not used "
                   "(another prefix), or go back to the one it was issued with; nothing was issued"]))


def insert_entries(conn, proposal: Proposal) -> None:
    rows = [{"number": p.doc.number, "slot": slot, "amount": str(amount)}
            for p in proposal.documents for slot, amount in p.entries]
    if rows:
        conn.execute(insert(t.entries), rows)


def drawn_total(drawn) -> Decimal:
    return sum((a for by_start in drawn.values() for pairs in by_start.values() for _, a in pairs), Decimal(0))
