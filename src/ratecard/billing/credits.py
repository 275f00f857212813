"""Prepaid credit: burn-down of usage invoices, and breakage.

A grant is active over `[granted, expires)`. It burns the usage invoices
(fees, usage and minimum true-ups) whose billing period overlaps that window,
in period order; when several grants can pay one invoice, the one that
expires soonest pays first (never-expiring grants last; ties: earlier grant,
then id). An invoice is never taken below zero. Whatever a grant still holds
once the last period it could cover has been invoiced is breakage.

The ledger kept here is the grant's whole history, which `ratecard credits`
prints and the invoices quote ("remaining balance").

One notion of a grant's time, used by pricing, the credits view and explain:
- its **expiry instant** is `grant.expires` (exclusive, UTC; None: never);
- it **ends** at the sooner of that instant and the contract's end: it covers
  no usage after that (`ends_by_expiry` says which of the two it was);
- its **status** as of a run's `through` date: `closed` once the last period
  it could cover has been invoiced (its breakage is known), `expired` when
  its expiry instant is at or before `through` but that last period has not
  ended yet (what it holds can still pay that period; what that leaves is
  breakage), else `active`.

Draw-downs already made final elsewhere (the invoices `ratecard issue` has
put in the ledger database, docs/ledger.md) come in as `drawn`: those
invoices draw exactly what was recorded, whatever they would draw now, and
every other invoice burns from what is left. Billing stays a pure function
of its inputs; the recorded draws are one of them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal, Mapping, Sequence

from ..model import Contract, CreditGrant
from ..money import ZERO
from .periods import last_period_start_before, midnight


@dataclass(frozen=True)
class Bill:
    """What credits need to know of a usage invoice."""

    key: str
    number: str
    start: dt.date
    end: dt.date
    subtotal: Decimal


@dataclass(frozen=True)
class Draw:
    invoice: str  # invoice number
    period_start: dt.date
    amount: Decimal
    balance: Decimal  # after this draw


GrantStatus = Literal["active", "expired", "closed"]


@dataclass
class GrantLedger:
    contract: str
    grant: CreditGrant
    amount: Decimal  # rounded to the currency's minor unit
    balance: Decimal
    draws: list[Draw] = field(default_factory=list)
    closed_on: dt.date | None = None  # end of the last period it could cover, once invoiced
    breakage: Decimal | None = None
    last_period: dt.date | None = None  # start of the last period it can cover (None: no bound)
    ends_by_expiry: bool = False  # it stops covering usage at its expiry, not at the contract's end

    @property
    def used(self) -> Decimal:
        return self.amount - self.balance

    def status(self, through: dt.date) -> GrantStatus:
        """`active`, `expired` or `closed` as of a run billed through `through`."""
        if self.breakage is not None:
            return "closed"
        if expired_by(self.grant.expires, through):
            return "expired"
        return "active"


def expired_by(expires: dt.datetime | None, through: dt.date) -> bool:
    """Has a grant's expiry instant passed by the end of a run billed through `through`?"""
    return expires is not None and expires <= midnight(through)


def purchase_number(contract: str, grant: CreditGrant, index: int) -> str:
    """The number of the invoice that sells a grant (`index`: its place among the contract's)."""
    return f"{contract}-{grant.granted:%Y%m%d}-C{index + 1}"


def _expiry_key(grant: CreditGrant) -> tuple:
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    return (grant.expires or far, grant.granted, grant.id)


def covers(grant: CreditGrant, start: dt.date, end: dt.date) -> bool:
    """Does the grant's active window `[granted, expires)` overlap the period [start, end)?"""
    if grant.granted >= end:
        return False
    return grant.expires is None or grant.expires > midnight(start)


def burn(contract: Contract, bills: list[Bill], through: dt.date, round_amount,
         drawn: Mapping[dt.date, Sequence[tuple[str, Decimal]]] | None = None,
         ) -> tuple[dict[str, list[tuple[GrantLedger, Decimal]]], list[GrantLedger]]:
    """Apply the contract's grants to its usage invoices (in period order).

    `drawn` (period start -> (grant id, amount) pairs) are draws made final
    already: the invoice of that period draws them as they are, and takes
    nothing more; what they take is set aside before any other invoice burns.
    A recorded draw of a grant the contract no longer has is left out here.

    Returns, per invoice key, the (ledger, amount) applications in the order they
    were drawn, and every granted ledger (grants not yet granted by `through`
    are left out).
    """
    ledgers = [
        GrantLedger(contract.name, g, round_amount(g.amount), round_amount(g.amount))
        for g in sorted(contract.credits, key=_expiry_key)
        if g.granted <= through
    ]
    fixed = drawn or {}
    by_id = {ledger.grant.id: ledger for ledger in ledgers}
    reserved: dict[str, Decimal] = {}  # grant id -> recorded draws not yet passed in period order
    for pairs in fixed.values():
        for grant_id, amount in pairs:
            reserved[grant_id] = reserved.get(grant_id, ZERO) + amount
    applied: dict[str, list[tuple[GrantLedger, Decimal]]] = {}
    for bill in sorted(bills, key=lambda b: b.start):
        if bill.start in fixed:
            for grant_id, amount in fixed[bill.start]:
                ledger = by_id.get(grant_id)
                if ledger is None:
                    continue
                reserved[grant_id] -= amount
                ledger.balance -= amount
                ledger.draws.append(Draw(bill.number, bill.start, amount, ledger.balance))
                applied.setdefault(bill.key, []).append((ledger, amount))
            continue
        owed = bill.subtotal
        for ledger in ledgers:
            if owed <= 0:
                break
            free = ledger.balance - reserved.get(ledger.grant.id, ZERO)
            if free <= 0 or not covers(ledger.grant, bill.start, bill.end):
                continue
            amount = min(free, owed)
            ledger.balance -= amount
            owed -= amount
            ledger.draws.append(Draw(bill.number, bill.start, amount, ledger.balance))
            applied.setdefault(bill.key, []).append((ledger, amount))
    billed_starts = {b.start: b for b in bills}
    stop = contract.end_exclusive
    for ledger in ledgers:
        expires = ledger.grant.expires
        ledger.ends_by_expiry = expires is not None and (stop is None or expires <= midnight(stop))
        last = ledger.last_period = last_period_start_before(contract, expires)
        if last is not None and last in billed_starts:
            ledger.closed_on = billed_starts[last].end
            ledger.breakage = ledger.balance if ledger.balance > 0 else round_amount(ZERO)
    return applied, ledgers
