"""Prepaid credit: burn-down of usage invoices, and breakage.

A grant is active over `[granted, expires)`. It burns the usage invoices
whose billing period overlaps that window, in period order. On one invoice
the plan's allowances burn first (each period's own, in plan order; on a
period a plan change cuts, each part's plan's, prorated by the part's days,
the old part's first, pooled over the period's lines), then the
grants by `priority` (lower first, grants without one last), then soonest
expiry (never-expiring last), then earliest grant, then contract order.
Burning is per line: a grant walks the invoice's lines in order and pays the
unpaid net (after discounts and cap) of each line its `applies to` reaches
(meters' usage lines, `fees`; no scope: every line, the minimum true-up too),
never more than the invoice still owes, so no invoice goes below zero.
Whatever a grant still holds once the last period it could cover has been
invoiced is breakage; what an allowance leaves is only reported as unused.

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

from ..model import CADENCE_MONTHS, Allowance, Contract, CreditGrant
from ..money import ZERO
from .adjustments import in_scope, line_name
from .documents import Line
from .periods import Period, last_period_start_before, midnight


@dataclass(frozen=True)
class Bill:
    """What credits need to know of a usage (or opening) invoice: its lines and what each
    still owes, and which period each line is for (an advance fee line's is the period it
    pays for: only that period's allowance pays it)."""

    key: str
    number: str
    start: dt.date
    end: dt.date
    subtotal: Decimal
    lines: tuple[Line, ...] = ()
    nets: tuple[Decimal, ...] = ()  # per line, after discounts and cap
    period: Period | None = None
    kind: str = "usage"  # or "advance": the opening invoice, a point at `starts`
    services: tuple[Period, ...] = ()  # per line, the whole period it is for (default: `period`)
    # the allowances granted for the periods its lines are for (its own, and the next one's
    # when it bills advance fees): each plan part's plan's, by period, old part first
    allowances: tuple["AllowanceGrant", ...] = ()

    @property
    def draw_key(self) -> tuple[str, dt.date]:
        """How the ledger's recorded draws name this invoice: (kind, period start). The
        opening invoice starts where the first period does; its kind tells them apart."""
        return (self.kind, self.start)

    def service(self, index: int) -> Period | None:
        return self.services[index] if self.services else self.period


@dataclass(frozen=True)
class AllowanceGrant:
    """A plan's allowance for one plan part of a period (the whole period when no plan change
    cuts it): `A x months x the part's days / the period's full days`, rounded once. The
    grants of one period pool together: each pays any line *for* that period in its scope,
    in part order, on whichever invoice carries the line (docs/part2-decisions.md 10.4)."""

    allowance: Allowance
    plan: str
    part: Period

    @property
    def key(self) -> tuple[str, dt.date]:
        """The same grant on every invoice that carries lines of its period."""
        return (self.allowance.id, self.part.start)


@dataclass(frozen=True)
class Applied:
    """One grant's or allowance's draw on one invoice, and why it burned there."""

    source: str  # the grant's id or the allowance's
    description: str
    kind: Literal["grant", "allowance"]
    amount: Decimal
    remaining: Decimal
    notes: tuple[str, ...]
    ledger: "GrantLedger | None" = None


@dataclass(frozen=True)
class AllowanceUse:
    """One period's allowance (a plan part's, when a plan change cuts the period): granted,
    used, what it leaves (never breakage), and the invoice that closes the period, on which
    its use is final: a part's allowance is used on the whole period's invoice, issued at
    the period's end, not the part's."""

    allowance: Allowance
    plan: str
    period: Period
    granted: Decimal
    used: Decimal
    invoice: str  # the number of the usage invoice that closes the period
    issued: dt.date  # that invoice's issue date

    @property
    def unused(self) -> Decimal:
        return self.granted - self.used


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


def burn_order(grants: Sequence[CreditGrant]) -> list[CreditGrant]:
    """The grants in the order they burn: `priority` ascending (none: last), soonest expiry
    (never: last), earliest grant, contract order."""
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    place = {g.id: i for i, g in enumerate(grants)}
    return sorted(grants, key=lambda g: (g.priority is None, g.priority or 0, g.expires or far,
                                         g.granted, place[g.id]))


def order_reason(grant: CreditGrant) -> str:
    """Why a grant burns where it does, in `explain`'s words."""
    parts = [f"priority {grant.priority}" if grant.priority is not None else "no priority (after those with one)"]
    parts.append(f"expiring at {_instant(grant.expires)} UTC" if grant.expires else "never expires")
    parts.append(f"granted {grant.granted}")
    return "burns after the allowances, by " + ", ".join(parts) + ", then contract order"


def _instant(at: dt.datetime) -> str:
    """An expiry to the second, and its fraction when it has one: `23:59` read a minute
    early for `expires 2026-12-31T23:59:59Z`."""
    at = at.astimezone(dt.UTC)
    return f"{at:%Y-%m-%d %H:%M:%S}" + (f".{at.microsecond:06d}".rstrip("0") if at.microsecond else "")


def allowance_amount(allowance: Allowance, period: Period, round_amount) -> Decimal:
    """`allowance $A per month`: A x months in the period, prorated like a fee, rounded once."""
    months = CADENCE_MONTHS.get(allowance.cadence)
    numerator, denominator = (1, 1) if months is None else (period.months, months)
    return round_amount(period.share(allowance.amount, numerator, denominator))


def _pay(bill: Bill, unpaid: list[Decimal], owed: Decimal, budget: Decimal,
         applies_to: tuple[str, ...], period: int | None = None) -> tuple[Decimal, list[str]]:
    """Pay the unpaid nets of the lines in scope (of period number `period` only, when given),
    in line order, up to `budget` and what the invoice still owes (`owed`); returns the
    amount paid and which lines it went to."""
    paid, notes = ZERO, []
    for i, line in enumerate(bill.lines):
        if budget - paid <= 0 or owed - paid <= 0:
            break
        if unpaid[i] <= 0 or not in_scope(line, applies_to, minimum=True):
            continue
        if period is not None and bill.service(i).index != period:
            continue
        x = min(unpaid[i], budget - paid, owed - paid)
        unpaid[i] -= x
        paid += x
        notes.append(f"  paid {x} of {line_name(line)}")
    return paid, notes


def _scope(applies_to: tuple[str, ...]) -> str:
    return "applies to " + ", ".join(applies_to) if applies_to else "no scope: every line"


def covers(grant: CreditGrant, start: dt.date, end: dt.date) -> bool:
    """Does the grant's active window `[granted, expires)` overlap the period [start, end)?
    A point (the opening invoice, `start` = `end`): does the window contain its instant?"""
    if grant.granted >= end and not (start == end and grant.granted == start):
        return False
    return grant.expires is None or grant.expires > midnight(start)


def _allowance(bill: Bill, grant: AllowanceGrant, own: int | None, unpaid: list[Decimal], owed: Decimal,
               spent: dict[tuple[str, dt.date], Decimal], draws: list[Applied], round_amount) -> Decimal:
    """One part's allowance on one invoice: it pays the lines for its period only (an advance
    fee line is for the period it pays for), up to what it has left after the invoices
    before; returns what it paid."""
    allowance, part = grant.allowance, grant.part
    granted = allowance_amount(allowance, part, round_amount)
    before = spent.get(grant.key, ZERO)
    used, notes = (_pay(bill, unpaid, owed, granted - before, allowance.applies_to, part.index)
                   if granted - before > 0 and owed > 0 else (ZERO, []))
    spent[grant.key] = before + used
    if used > 0:
        here = part.index == own
        whose = "this period" if here else f"period {part.index + 1}, {part.start} to {part.end}"
        if part.part_of is not None:
            whose = (f"plan {grant.plan}'s part of {whose}" + (f", {part.start} to {part.end}" if here else "")
                     + f", {part.days}/{part.full_days} days")
        which = (f"allowance of {whose} ({granted}" + (f", {granted - before} left" if before else "") + ")"
                 + ("" if here else ", for that period's lines"))
        draws.append(Applied(allowance.id, allowance.description or "Allowance", "allowance", used,
                             granted - spent[grant.key],
                             (f"{which}, burns before every grant; {_scope(allowance.applies_to)}", *notes)))
    return used


def burn(contract: Contract, bills: list[Bill], through: dt.date, round_amount,
         drawn: Mapping[tuple[str, dt.date], Sequence[tuple[str, Decimal]]] | None = None,
         ) -> tuple[dict[str, list[Applied]], list[GrantLedger], list[AllowanceUse]]:
    """Apply each period's allowances (`Bill.allowances`) and the contract's grants to its
    usage invoices (in period order, the opening invoice first).

    `drawn` ((invoice kind, period start) -> (grant id, amount) pairs) are draws
    made final already: that invoice draws them as they are, and takes
    nothing more from grants; what they take is set aside before any other
    invoice burns. A recorded draw of a grant the contract no longer has is
    left out here. Allowances are not recorded draws: they are a function of
    the period and burn first on every invoice.

    A period's allowance pays only the lines *for* that period, on whichever
    invoice carries them: an advance fee line is for the period it pays for, so
    that period's allowance (when its scope reaches fees) pays it on the invoice
    before, and what it leaves pays that period's usage when its own invoice
    closes it (part2-decisions 10.4). A period's use is reported once that
    invoice is billed.

    Returns, per invoice key, the draws in the order they were made, every
    granted ledger (grants not yet granted by `through` are left out), and
    each billed period's allowances.
    """
    ledgers = [
        GrantLedger(contract.name, g, round_amount(g.amount), round_amount(g.amount))
        for g in burn_order(contract.credits)
        if g.granted <= through
    ]
    fixed = drawn or {}
    by_id = {ledger.grant.id: ledger for ledger in ledgers}
    reserved: dict[str, Decimal] = {}  # grant id -> recorded draws not yet passed in period order
    for pairs in fixed.values():
        for grant_id, amount in pairs:
            reserved[grant_id] = reserved.get(grant_id, ZERO) + amount
    applied: dict[str, list[Applied]] = {}
    uses: list[AllowanceUse] = []
    spent: dict[tuple[str, dt.date], Decimal] = {}  # AllowanceGrant.key -> used so far
    for bill in sorted(bills, key=lambda b: (b.start, b.kind != "advance")):
        draws = applied.setdefault(bill.key, [])
        unpaid = [max(n, ZERO) for n in bill.nets]
        owed = bill.subtotal
        own = bill.period.index if bill.kind == "usage" and bill.period is not None else None
        for grant in bill.allowances:
            owed -= _allowance(bill, grant, own, unpaid, owed, spent, draws, round_amount)
        if own is not None:
            uses.extend(AllowanceUse(g.allowance, g.plan, g.part, allowance_amount(g.allowance, g.part, round_amount),
                                     round_amount(spent.get(g.key, ZERO)), bill.number, bill.end)
                        for g in bill.allowances if g.part.index == own)
        if bill.draw_key in fixed:
            for grant_id, amount in fixed[bill.draw_key]:
                ledger = by_id.get(grant_id)
                if ledger is None:
                    continue
                reserved[grant_id] -= amount
                ledger.balance -= amount
                ledger.draws.append(Draw(bill.number, bill.start, amount, ledger.balance))
                draws.append(Applied(grant_id, ledger.grant.description, "grant", amount, ledger.balance,
                                     ("drawn as recorded when the invoice was issued",), ledger))
            continue
        for ledger in ledgers:
            if owed <= 0:
                break
            free = ledger.balance - reserved.get(ledger.grant.id, ZERO)
            if free <= 0 or not covers(ledger.grant, bill.start, bill.end):
                continue
            amount, notes = _pay(bill, unpaid, owed, free, ledger.grant.applies_to)
            if amount <= 0:
                continue
            ledger.balance -= amount
            owed -= amount
            ledger.draws.append(Draw(bill.number, bill.start, amount, ledger.balance))
            draws.append(Applied(ledger.grant.id, ledger.grant.description, "grant", amount, ledger.balance,
                                 (order_reason(ledger.grant) + f"; {_scope(ledger.grant.applies_to)}", *notes),
                                 ledger))
    billed_starts = {b.start: b for b in bills if b.kind == "usage"}
    stop = contract.end_exclusive
    for ledger in ledgers:
        expires = ledger.grant.expires
        ledger.ends_by_expiry = expires is not None and (stop is None or expires <= midnight(stop))
        last = ledger.last_period = last_period_start_before(contract, expires)
        if last is not None and last in billed_starts:
            ledger.closed_on = billed_starts[last].end
            ledger.breakage = ledger.balance if ledger.balance > 0 else round_amount(ZERO)
    return {k: v for k, v in applied.items() if v}, ledgers, uses
