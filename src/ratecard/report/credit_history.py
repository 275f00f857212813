"""`ratecard credits`: every credit grant's history, from grant to breakage.

    Evaluation.ledgers (billing/credits.py)  ->  CreditLedger (JSON)  ->  credits view (text)

A grant's history is: granted (date, amount, the price paid and the purchase
invoice), each draw-down (the usage invoice that drew on it and the balance
after), and how it ends: still active with its expiry, or closed with its
breakage (what expired unused). `CreditLedger` is the JSON document; the text
comes from `credits.txt.j2` through a view model of formatted strings.

A grant's status and expiry are billing's (`billing.credits`): the one notion
pricing burns grants by and `explain` quotes, so the view never infers them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from pydantic import Field, model_serializer

from ..billing import Evaluation
from ..billing.credits import expired_by, purchase_number
from ..billing.documents import Doc, PeriodRange
from ..model import RatingPlan
from ..money import round_money
from .formatter import Formatter, expiry_text
from .text_layout import TEXT_WIDTH
from .visible import visible


class LedgerDraw(Doc):
    invoice: str  # the usage invoice (or the opening invoice of fees in advance) that drew on the grant
    issued: dt.date
    period_start: dt.date
    period_end: dt.date
    amount: Decimal
    balance: Decimal  # the grant's balance after this draw


class GrantHistory(Doc):
    contract: str
    customer: str
    grant: str
    description: str
    granted: dt.date
    amount: Decimal
    price: Decimal | None  # what the customer paid; None for a free grant
    purchase_invoice: str | None
    expires: dt.datetime | None  # exclusive, UTC; None: never
    draws: list[LedgerDraw]
    used: Decimal
    balance: Decimal
    status: Literal["active", "expired", "closed"]  # billing.credits: GrantLedger.status
    closed_on: dt.date | None  # end of the last period the grant could cover, once invoiced
    breakage: Decimal | None  # what expired unused, once closed
    priority: int | None = None  # `priority N`: lower burns first
    applies_to: list[str] = Field(default_factory=list)  # meters and/or `fees`; empty: every line

    @model_serializer(mode="wrap")
    def _omit_unset_part2(self, handler):
        """`priority` and `applies_to` are written when stated: ledgers without them stay
        byte-identical."""
        data = handler(self)
        if self.priority is None:
            data.pop("priority", None)
        if not self.applies_to:
            data.pop("applies_to", None)
        return data


class AllowancePeriod(Doc):
    """A plan's allowance in one billed period (a plan part's: `period` is the part): granted,
    used, unused (never breakage), and the invoice that used it, as a grant's draws name
    theirs: a part's allowance is used on the whole period's invoice, issued after the part."""

    contract: str
    customer: str
    allowance: str  # its id, `plan:<plan>/allowance/<n>`
    description: str
    plan: str
    applies_to: list[str]
    period: PeriodRange
    granted: Decimal
    used: Decimal
    unused: Decimal
    invoice: str  # the usage invoice that closes the period
    issued: dt.date  # its issue date: the period's end (a part's period's, not the part's)


class CreditLedger(Doc):
    through: dt.date
    currency: str
    grants: list[GrantHistory]
    allowances: list[AllowancePeriod] = Field(default_factory=list)

    @model_serializer(mode="wrap")
    def _omit_no_allowances(self, handler):
        data = handler(self)
        if not self.allowances:
            data.pop("allowances", None)
        return data


def credit_ledger(evaluation: Evaluation, plan: RatingPlan, contract: str | None = None) -> CreditLedger:
    run = evaluation.run
    invoices = {inv.number: inv for inv in run.invoices}
    grants = []
    for ledger in evaluation.ledgers:
        if contract is not None and ledger.contract != contract:
            continue
        c = plan.contracts[ledger.contract]
        grant = ledger.grant
        index = next((i for i, g in enumerate(c.credits) if g.id == grant.id), None)
        purchase = None
        if grant.price is not None and index is not None:
            number = purchase_number(c.name, grant, index)
            purchase = number if number in invoices else None
        draws = []
        for d in ledger.draws:
            inv = invoices.get(d.invoice)
            draws.append(LedgerDraw(
                invoice=d.invoice,
                issued=inv.issued if inv else d.period_start,
                period_start=d.period_start,
                period_end=inv.period.end if inv else d.period_start,
                amount=d.amount,
                balance=d.balance,
            ))
        grants.append(GrantHistory(
            contract=ledger.contract,
            customer=c.customer,
            grant=grant.id,
            description=grant.description,
            granted=grant.granted,
            amount=ledger.amount,
            price=round_money(grant.price, plan.currency, plan.rounding) if grant.price is not None else None,
            purchase_invoice=purchase,
            expires=grant.expires,
            draws=draws,
            used=ledger.used,
            balance=ledger.balance,
            status=ledger.status(run.through),
            closed_on=ledger.closed_on,
            breakage=ledger.breakage,
            priority=grant.priority,
            applies_to=list(grant.applies_to),
        ))
    grants.sort(key=lambda g: (g.contract, g.granted, g.grant))
    allowances = [
        AllowancePeriod(contract=name, customer=plan.contracts[name].customer, allowance=use.allowance.id,
                        description=use.allowance.description, plan=use.plan,
                        applies_to=list(use.allowance.applies_to),
                        period=PeriodRange(start=use.period.start, end=use.period.end),
                        granted=use.granted, used=use.used, unused=use.unused,
                        invoice=use.invoice, issued=use.issued)
        for name, use in evaluation.allowances if contract is None or name == contract]
    allowances.sort(key=lambda a: (a.contract, a.period.start, a.allowance))
    return CreditLedger(through=run.through, currency=run.currency, grants=grants, allowances=allowances)


# ----------------------------------------------------------------- text view


@dataclass(frozen=True)
class LedgerRow:
    date: str
    event: str  # "granted", an invoice number, "expired", "closed"
    amount: str  # "+$500.00", "-$120.00", or ""
    balance: str
    note: str


@dataclass(frozen=True)
class GrantView:
    grant: str
    description: str
    amount: str
    price: str  # "$100,000.00", or "" for a free grant
    expires: str
    status: str  # "active" | "expired" | "closed"
    used: str
    balance: str
    breakage: str  # "" while active
    ending: str  # "$119,800.00 left; expires ...", or "closed ... with $250.00 unused (breakage); ..."
    rows: list[LedgerRow]
    terms: str = ""  # "priority 1; applies to STORAGE_GB", or ""


@dataclass(frozen=True)
class AllowanceView:
    """One allowance over the billed periods (not a prepaid grant: nothing carries over)."""

    heading: str  # "Included calls: $5.00 a period, applies to CALLS (plan:pro/allowance/0)"
    rows: list[LedgerRow]  # one per period: granted, used, unused


@dataclass(frozen=True)
class ContractCredits:
    contract: str
    customer: str
    grants: list[GrantView]
    allowances: list[AllowanceView] = field(default_factory=list)


@dataclass(frozen=True)
class LedgerView:
    through: str
    currency: str
    contracts: list[ContractCredits]
    widths: dict[str, int]  # text columns: date, event, amount, balance (note takes the rest)
    note_pad: str  # spaces from the left margin to the note column (for wrapped notes)


def _expiry(expires: dt.datetime | None, fmt: Formatter, expired: bool = False) -> str:
    if expires is None:
        return "never expires"
    return f"{'expired' if expired else 'expires'} {expiry_text(expires, fmt)}"


def _ending(g: GrantHistory, fmt: Formatter) -> tuple[str, LedgerRow | None]:
    """How the grant's history ends: the sentence under it, and the closing row (if closed).

    The closing row is dated on the day its breakage is known (the end of the last
    period it could pay); it is the expiry only when the grant expired that very day.
    """
    left = fmt.money(g.balance)
    if g.status == "active":
        return f"{left} left; {_expiry(g.expires, fmt)}", None
    if g.status == "expired":
        return (f"{left} left; {_expiry(g.expires, fmt, expired=True)}, but it can still pay the period "
                f"it expired in, once that is invoiced; what it leaves then is breakage"), None
    breakage = g.breakage if g.breakage is not None else Decimal(0)
    closed = g.closed_on
    assert closed is not None
    at_close = dt.datetime.combine(closed, dt.time(), tzinfo=dt.UTC)
    expired_then = g.expires is not None and g.expires == at_close
    row = LedgerRow(
        date=fmt.date(closed),
        event="expired" if breakage and expired_then else "closed",
        amount=fmt.money(-breakage) if breakage else "",
        balance=fmt.money(g.balance - breakage),
        note="breakage: unused credit" if breakage else "fully used",
    )
    if expired_then:
        ended = _expiry(g.expires, fmt, expired=True)
    elif g.expires is not None and g.expires < at_close:
        ended = (f"{_expiry(g.expires, fmt, expired=True)}; closed {fmt.date(closed)}, once the last "
                 f"period it could pay was invoiced")
    else:
        ended = f"closed {fmt.date(closed)} at the contract's end"
        if g.expires is not None:
            ended += f", before its expiry {expiry_text(g.expires, fmt)}"
    return f"{ended}, {fmt.money(breakage)} unused (breakage)", row


def ledger_view(ledger: CreditLedger, locale: str) -> LedgerView:
    fmt = Formatter(ledger.currency, locale)
    contracts: dict[str, ContractCredits] = {}
    for g in ledger.grants:
        paid = "free grant"
        if g.price is not None:
            paid = f"paid {fmt.money(g.price)}" + (f", invoice {visible(g.purchase_invoice)}"
                                                   if g.purchase_invoice else "")
        rows = [LedgerRow(date=fmt.date(g.granted), event="granted", amount="+" + fmt.money(g.amount),
                          balance=fmt.money(g.amount), note=paid)]
        for d in g.draws:
            last = d.period_end - dt.timedelta(days=1)
            rows.append(LedgerRow(
                date=fmt.date(d.issued),
                event=visible(d.invoice),  # named after the contract: any text
                amount=fmt.money(-d.amount),
                balance=fmt.money(d.balance),
                # the opening invoice of fees in advance is dated `starts`: it has no period of its own
                note=(f"period {fmt.days(d.period_start, last)}" if d.period_end > d.period_start
                      else "opening invoice: fees in advance"),
            ))
        ending, closing = _ending(g, fmt)
        if closing is not None:
            rows.append(closing)
        expiry = _expiry(g.expires, fmt, expired=expired_by(g.expires, ledger.through))
        view = GrantView(
            grant=visible(g.grant),
            description=visible(g.description or "Prepaid credit"),
            amount=fmt.money(g.amount),
            price=fmt.money(g.price) if g.price is not None else "",
            expires=expiry,
            status=g.status,
            used=fmt.money(g.used),
            balance=fmt.money(g.balance),
            breakage=fmt.money(g.breakage) if g.breakage is not None else "",
            ending=ending,
            rows=rows,
            terms="; ".join(([f"priority {g.priority}"] if g.priority is not None else [])
                            + ([f"applies to {', '.join(g.applies_to)}"] if g.applies_to else [])),
        )
        entry = contracts.setdefault(g.contract, ContractCredits(visible(g.contract), visible(g.customer), []))
        entry.grants.append(view)
    _allowance_views(ledger, fmt, contracts)
    every = [r for c in contracts.values() for gv in [*c.grants, *c.allowances] for r in gv.rows]
    widths = {
        "date": max([len("Date")] + [len(r.date) for r in every]),
        "event": max([len("Event")] + [len(r.event) for r in every]),
        "amount": max([len("Amount")] + [len(r.amount) for r in every]),
        "balance": max([len("Balance")] + [len(r.balance) for r in every]),
    }
    indent = 4 + sum(widths.values()) + 2 * 4  # rows are indented 4, columns 2 apart
    widths["note"] = max(TEXT_WIDTH - indent, 20)
    widths["total"] = TEXT_WIDTH
    return LedgerView(through=fmt.date(ledger.through), currency=ledger.currency,
                      contracts=list(contracts.values()), widths=widths, note_pad=" " * indent)


def _allowance_views(ledger: CreditLedger, fmt: Formatter, contracts: dict[str, ContractCredits]) -> None:
    """Each contract's allowances, a row per billed period (granted, used, unused: never breakage),
    dated by the invoice that used it, as a grant's draws are (a plan part's: the period's end)."""
    by_key: dict[tuple[str, str], list[AllowancePeriod]] = {}
    for a in ledger.allowances:
        by_key.setdefault((a.contract, a.allowance), []).append(a)
    for (name, allowance), periods in by_key.items():
        first = periods[0]
        scope = f", applies to {', '.join(first.applies_to)}" if first.applies_to else ", every line"
        rows = [LedgerRow(date=fmt.date(p.issued), event=fmt.days(p.period.start,
                                                                   p.period.end - dt.timedelta(days=1)),
                          amount=fmt.money(-p.used), balance=fmt.money(p.unused),
                          note=f"granted {fmt.money(p.granted)}; {fmt.money(p.unused)} unused (not breakage)")
                for p in periods]
        entry = contracts.setdefault(name, ContractCredits(visible(name), visible(first.customer), []))
        entry.allowances.append(AllowanceView(
            heading=f"{visible(first.description or 'Allowance')}: plan {first.plan}, every period{scope} ({allowance})",
            rows=rows))
