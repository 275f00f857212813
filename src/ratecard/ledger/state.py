"""What a ledger holds, read back for a run: slots, what each has billed, final draws.

Read inside the issuing transaction (after its lock is taken), so a run
works from everything every earlier run committed.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select

from . import schema as t

ZERO = Decimal(0)


@dataclass
class SlotState:
    """One invoice the pure function bills, as the ledger has it."""

    slot: str
    contract: str
    kind: str
    period_start: dt.date
    period_end: dt.date
    original: str | None  # the issued invoice of this slot; None once voided
    snapshot_text: str  # JSON: its lines as last billed (see `corrections.digest`)
    fingerprint: str
    billed: Decimal = ZERO  # what the ledger's documents bill towards it, all told

    @property
    def snapshot(self) -> list[dict]:
        """Parsed when a correction needs it: most runs compare fingerprints and
        totals only (22,000 snapshots of the 1M benchmark take seconds to parse)."""
        return json.loads(self.snapshot_text)


@dataclass
class LedgerState:
    generation: int
    currency: str | None
    slots: dict[str, SlotState] = field(default_factory=dict)
    # contract -> (invoice kind, period start) -> (grant id, amount): the pure function's `drawn` input
    drawn: dict[str, dict[tuple[str, dt.date], list[tuple[str, Decimal]]]] = field(default_factory=dict)
    drawn_slots: set[str] = field(default_factory=set)
    breakage: set[tuple[str, str]] = field(default_factory=set)  # (contract, grant id) recognised
    series: dict[str, int] = field(default_factory=dict)  # series -> last number used
    contracts: set[str] = field(default_factory=set)  # every contract with a document


def read_generation(conn) -> tuple[int, str | None]:
    row = conn.execute(select(t.ledger_row.c.generation, t.ledger_row.c.currency)
                       .where(t.ledger_row.c.id == 1)).one()
    return row.generation, row.currency


def read_state(conn) -> LedgerState:
    generation, currency = read_generation(conn)
    state = LedgerState(generation, currency)
    for r in conn.execute(select(t.slots)):
        state.slots[r.slot] = SlotState(r.slot, r.contract, r.kind, r.period_start, r.period_end, r.original,
                                        r.snapshot, r.fingerprint)
    for r in conn.execute(select(t.entries.c.slot, t.entries.c.amount)):
        s = state.slots.get(r.slot)
        if s is not None:
            s.billed += Decimal(r.amount)
    for r in conn.execute(_draws()):
        state.drawn.setdefault(r.contract, {}).setdefault((r.kind, r.period_start), []).append(
            (r.grant_id, Decimal(r.amount)))
        state.drawn_slots.add(r.slot)
    state.breakage = {(r.contract, r.grant_id) for r in conn.execute(select(t.breakage))}
    state.series = {r.name: r.last for r in conn.execute(select(t.series))}
    state.contracts = {r.contract for r in conn.execute(select(t.documents.c.contract).distinct())}
    return state


def read_drawn(conn) -> dict[str, dict[tuple[str, dt.date], list[tuple[str, Decimal]]]]:
    """Only the final draws (what pricing needs before the lock is taken)."""
    drawn: dict[str, dict[tuple[str, dt.date], list[tuple[str, Decimal]]]] = {}
    for r in conn.execute(_draws()):
        drawn.setdefault(r.contract, {}).setdefault((r.kind, r.period_start), []).append(
            (r.grant_id, Decimal(r.amount)))
    return drawn


def _draws():
    """The recorded draws with the kind of the invoice that drew them (its slot's): the
    opening invoice of fees in advance starts on the day the first period does, so a draw is
    named by (kind, period start), as billing's `Bill.draw_key` names an invoice."""
    return (select(t.draws, t.slots.c.kind).join(t.slots, t.slots.c.slot == t.draws.c.slot)
            .order_by(t.draws.c.slot, t.draws.c.grant_id))
