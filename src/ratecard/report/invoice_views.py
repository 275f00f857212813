"""Invoices as people read them: the view models of a run's documents, built.

    InvoiceRun (+ plan, evaluation)  ->  DocumentView { invoices: [InvoiceView], summary }

Every value a template prints is computed here and already formatted: money
with Babel for the invoice's currency and locale (symbol, grouping, minor
units, `formatter`), quantities and dates likewise. Templates only choose
what to show and where; they do no arithmetic. Text column widths for the
100-column text layout come from `text_layout`, the summary table from
`summary`; the view models themselves are in `view_models`.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass, field
from decimal import Decimal

from ..billing.credits import purchase_number
from ..billing.documents import Invoice, InvoiceRun, Line, TierLine
from ..billing.invoice_steps import stated_minimum
from ..model import CreditGrant, RatingPlan
from ..money import EXACT, ZERO, plain, round_money, rounder
from .defaults import DEFAULT_ISSUER, DEFAULT_LOCALE
from .formatter import Formatter, compact_unit, expiry_text
from .summary import summary_view
from .text_layout import text_layout
from .view_models import ChargeGroup, CreditView, DocumentView, InvoiceView, LineView, PurchaseView, TierView
from .visible import dimension_pairs, joined_dimensions, visible


@dataclass
class Extras:
    """What the documents alone do not say, from the plan and the evaluation."""

    plan_titles: dict[str, str] = field(default_factory=dict)
    grants: dict[str, CreditGrant] = field(default_factory=dict)  # purchase invoice number -> grant
    packages: dict[int, tuple[Decimal, str]] = field(default_factory=dict)  # id(line) -> (n, size)
    rounding: str = "half_up"

    @classmethod
    def from_plan(cls, plan: RatingPlan | None, evaluation=None) -> "Extras":
        extras = cls()
        if plan is not None:
            extras.rounding = plan.rounding
            extras.plan_titles = {name: p.title for name, p in plan.plans.items()}
            for contract in plan.contracts.values():
                for index, grant in enumerate(contract.credits):
                    extras.grants[purchase_number(contract.name, grant, index)] = grant
        if evaluation is not None:
            extras.packages = cls.packages_of(evaluation.priced)
        return extras

    @staticmethod
    def packages_of(priced) -> dict[int, tuple[Decimal, str]]:
        """id(line) -> (whole packages billed, package size), for the package-priced
        lines among `priced` (billing's `PricedLine`s)."""
        return {id(pl.line): (pl.priced.packages, pl.priced.unit_label)
                for pl in priced if pl.priced.packages is not None}


class DocumentViews:
    """Documents of one run: the formatter and the plan's extras are worked out once.

    The extras walk every priced line of an evaluation, and the formatter
    remembers what it has formatted, so both are shared by every document
    asked for. A run rendered while it is priced (`invoice -o DIR`, a
    document per invoice) has no evaluation to walk: it hands each contract's
    priced lines to `priced` before that contract's documents.
    """

    def __init__(self, through: dt.date, currency: str, *, issuer: str = DEFAULT_ISSUER,
                 locale: str = DEFAULT_LOCALE, plan: RatingPlan | None = None, evaluation=None):
        self.through = through
        self.currency = currency
        self.issuer = issuer
        self.fmt = Formatter(currency, locale)
        self.extras = Extras.from_plan(plan, evaluation)

    def priced(self, lines) -> None:
        """The priced lines of the invoices documented next (and only those: a line's
        `id` is reused once it is freed)."""
        self.extras.packages = Extras.packages_of(lines)

    def document(self, invoices: list[Invoice], summary: bool = False) -> DocumentView:
        """The view of `invoices`, with a summary table on request."""
        fmt = self.fmt
        views = [invoice_view(inv, fmt, issuer=self.issuer, extras=self.extras) for inv in invoices]
        return DocumentView(
            through=fmt.date(self.through),
            currency=self.currency,
            lang=fmt.locale.replace("_", "-"),
            invoices=views,
            summary=summary_view(self.through, self.currency, invoices, fmt) if summary else None,
        )


def document_view(run: InvoiceRun, *, issuer: str = DEFAULT_ISSUER, locale: str = DEFAULT_LOCALE,
                  plan: RatingPlan | None = None, evaluation=None,
                  invoices: list[Invoice] | None = None, summary: bool = False) -> DocumentView:
    """The view of `invoices` (default: all of the run's), with a summary table on request."""
    views = DocumentViews(run.through, run.currency, issuer=issuer, locale=locale, plan=plan,
                          evaluation=evaluation)
    return views.document(run.invoices if invoices is None else invoices, summary)


def invoice_view(inv: Invoice, fmt: Formatter, *, issuer: str = DEFAULT_ISSUER,
                 extras: Extras | None = None) -> InvoiceView:
    extras = extras or Extras()
    is_purchase = inv.kind == "credit_purchase"
    last_day = inv.period.end if is_purchase else inv.period.end - dt.timedelta(days=1)
    start, end = fmt.date(inv.period.start), fmt.date(max(last_day, inv.period.start))
    period = start if is_purchase else fmt.days(inv.period.start, last_day)
    if inv.kind == "advance":  # the opening invoice is dated `starts`; it bills the days its fees pay for
        served = [ln.service_period for ln in inv.lines if ln.service_period is not None]
        if served:
            first, last = min(p.start for p in served), max(p.end for p in served) - dt.timedelta(days=1)
            period = fmt.days(first, last)
    lines = [_line_view(ln, inv, fmt, extras) for ln in inv.lines]  # each line's view, built once
    fees, adjustments, unused_time, minimum = [], [], [], None
    for v in lines:  # a view's kind is its line's
        kind = v.kind
        if kind == "fee":
            fees.append(v)
        elif kind == "minimum":
            if minimum is None:
                minimum = v
        elif kind == "discount" or kind == "cap":
            adjustments.append(v)
        elif kind == "unused_time":
            unused_time.append(v)
    groups = _charge_groups(inv, lines, fmt)
    # names and descriptions may come from a contracts JSON file, as any text: shown `visible`
    credits = [CreditView(grant=c.grant, description=visible(c.description or "Prepaid credit"),
                          applied=fmt.money(-c.applied), remaining=fmt.money(c.remaining))
               if c.kind == "grant" else
               CreditView(grant=c.grant, description=visible(c.description), applied=fmt.money(-c.applied),
                          remaining=fmt.money(c.remaining), label="Allowance", remaining_label="unused this period")
               for c in inv.credits]
    if inv.total.is_zero() and inv.credits_applied > 0:
        note = "Paid in full by prepaid credit: nothing to pay."
    elif inv.total.is_zero():
        note = "Nothing to pay for this period."
    else:
        note = ""
    if inv.kind == "advance" and not note:
        note = "Opening invoice: the first period's fees, billed in advance."
    subtotal, total = fmt.money(inv.subtotal), fmt.money(inv.total)
    credits_applied = fmt.money(-inv.credits_applied)
    return InvoiceView(
        kind=inv.kind,
        title="Credit purchase" if is_purchase else "Invoice",
        number=visible(inv.number),
        issuer=issuer,
        customer=visible(inv.customer),
        contract=visible(inv.contract),
        plan=inv.plan,
        plan_title=extras.plan_titles.get(inv.plan, inv.plan),
        currency=inv.currency,
        currency_name=fmt.currency_name(),
        period_start=start,
        period_end=end,
        period=period,
        issued=fmt.date(inv.issued),
        due=fmt.date(inv.due),
        payment_terms=f"Net {inv.payment_terms_days}" if inv.payment_terms_days else "Due on receipt",
        autopay=inv.autopay,
        autopay_text=(f"On: the payment method on file is charged on {fmt.date(inv.due)}"
                      if inv.autopay else "Off"),
        fees=fees,
        charges=groups,
        minimum=minimum,
        purchase=_purchase_view(inv, fmt, extras) if is_purchase else None,
        lines=lines,
        subtotal=subtotal,
        credits=credits,
        credits_applied=credits_applied,
        has_credits=bool(inv.credits),
        total=total,
        note=note,
        text=text_layout(lines, [subtotal, total, credits_applied] + [c.applied for c in credits]),
        adjustments=adjustments,
        unused_time=unused_time,
    )


def _charge_groups(inv: Invoice, line_views: list[LineView], fmt: Formatter) -> list[ChargeGroup]:
    """The usage lines by meter, in invoice order; `line_views` are the views of `inv.lines`."""
    grouped: dict[str, list[tuple[Line, LineView]]] = {}
    for ln, view in zip(inv.lines, line_views):
        if ln.kind == "usage":
            grouped.setdefault(ln.charge, []).append((ln, view))
    groups = []
    for charge, pairs in grouped.items():
        lines = [ln for ln, _ in pairs]
        views = [view for _, view in pairs]
        groups.append(ChargeGroup(
            charge=charge,
            title=visible(lines[0].description or charge),
            show_title=any(ln.dimensions for ln in lines) or len(lines) > 1,
            lines=views,
            amount=fmt.money(sum((ln.amount for ln in lines), ZERO)),
        ))
    return groups


_ORIGIN = re.compile(r"\s*\([^()]*\)$")


def _line_view(ln: Line, inv: Invoice, fmt: Formatter, extras: Extras) -> LineView:
    dims = dimension_pairs(sorted(ln.dimensions.items())) if ln.dimensions else []
    dims_text = joined_dimensions(dims)
    notes: list[str] = []
    quantity = fmt.quantity(ln.exact_quantity)
    unit_price = _unit_price(ln.unit_price, fmt) if ln.unit_price is not None else ""
    unit = compact_unit(ln.unit)
    label = visible(ln.description or ln.charge)  # a discount's or a credit's description: any text
    if ln.kind == "usage":
        label = dims_text or label
        notes.extend(f"includes {_ORIGIN.sub('', m)}" for m in ln.modifiers)
        package = extras.packages.get(id(ln))
        if package is not None:
            count, size = package
            notes.append(f"billed in whole packages: {fmt.number(count)} × {compact_unit(size)}")
        if ln.tiers:
            unit_price = ""
        if ln.pool is not None:  # the tiers shown are the pool's; they add up to its total
            notes.append(f"pooled: {ln.pool.lines} line{'s' if ln.pool.lines != 1 else ''}, "
                         f"{fmt.number(ln.pool.quantity)} for {fmt.money(ln.pool.amount)} (tiers below), "
                         f"shared in proportion")
    elif ln.kind == "minimum":
        label = "Minimum commitment true-up"
        if ln.plan is not None:  # a plan part's minimum: it compares with that part's lines only
            notes.append(f"brings plan {ln.plan}'s part up to its {fmt.money(minimum_floor(ln, inv))} minimum")
        else:
            notes.append(f"brings this period up to the {fmt.money(minimum_floor(ln, inv))} minimum")
        quantity, unit_price, unit = "", "", ""
    elif ln.kind == "credit":
        label = visible(ln.description or "Prepaid credit")
    elif ln.kind == "discount":
        notes.append(f"{plain(-ln.unit_price * 100)}% off {fmt.money(ln.quantity)} of charges"
                     if ln.unit == "share" else "amount off this period's charges")
        quantity, unit_price, unit = "", "", ""
    elif ln.kind == "cap":
        notes.append("usage above this period's spend cap")
        quantity, unit_price, unit = "", "", ""
    elif ln.kind == "unused_time" and ln.service_period is not None:
        last = ln.service_period.end - dt.timedelta(days=1)
        notes.append(f"paid in advance, unused: {fmt.days(ln.service_period.start, last)}, after the "
                     f"contract's end")
        quantity, unit_price, unit = "", "", ""
    if ln.kind == "fee" and ln.service_period is not None:
        last = ln.service_period.end - dt.timedelta(days=1)
        notes.append(f"in advance for {fmt.days(ln.service_period.start, last)}"
                     + (f", plan {ln.plan}" if ln.plan is not None and ln.plan != inv.plan else ""))
    if ln.prorated is not None:
        notes.append(_proration_note(ln.prorated, inv, ln.segment or ln.service_period))
    if ln.segment is not None:
        last = ln.segment.end - dt.timedelta(days=1)
        if ln.plan is not None:  # a plan part's line: the plan changed inside the period
            notes.append(f"plan {ln.plan}, {fmt.date(ln.segment.start)} to {fmt.date(last)}")
        else:
            notes.append(f"usage from {fmt.date(ln.segment.start)} to {fmt.date(last)}")
    return LineView(
        kind=ln.kind,
        charge=ln.charge,
        label=label,
        dimensions=dims,
        dimensions_text=dims_text,
        quantity=quantity,
        unit_price=unit_price,
        unit=unit if unit_price else "",
        amount=fmt.money(ln.amount),
        notes=notes,
        tiers=[_tier_view(t, share, unit, fmt)
               for t, share in zip(ln.tiers, tier_shares(ln, inv.currency, extras.rounding))] if ln.tiers else [],
    )



def _unit_price(value: Decimal, fmt: Formatter) -> str:
    return "free" if value.is_zero() else fmt.price(value)


def minimum_floor(minimum: Line, inv: Invoice) -> Decimal:
    """The (prorated) minimum a true-up line brings its period (or plan part) up to, as the
    pricer wrote it on the line ("Minimum commitment true-up (minimum 21.29)"). It is not
    always what the invoice's lines add up to: a period's fees billed in advance are on the
    invoice before, and the next period's on this one; an invoice-wide discount's share of
    a part's lines is not on the invoice; and a document read back from the ledger keeps
    only what it states."""
    stated = stated_minimum(minimum)
    if stated is not None:  # written plain (`63`): shown in the currency's places, like the line
        return stated.quantize(minimum.amount)
    return part_minimum(minimum, inv) if minimum.plan is not None else inv.subtotal


def part_minimum(minimum: Line, inv: Invoice) -> Decimal:
    """The minimum of the plan part a true-up line belongs to, when the line does not state
    it: the part's other lines plus the true-up."""
    part = [ln.amount for ln in inv.lines
            if ln.plan == minimum.plan and ln.segment == minimum.segment and ln is not minimum]
    return sum(part, minimum.amount)


def _proration_note(share: Decimal, inv: Invoice, segment=None) -> str:
    return f"prorated: {proration_days(share, inv, segment)}"


def proration_days(share: Decimal, inv: Invoice, segment=None) -> str:
    """A cut-short period's share in days, `7 of 30 days` (a line's `prorated` is days
    billed / days of the uncut period, to 10 places: enough to tell every length apart).
    A plan part's line (`segment`) is billed for the part's days, not the invoice's."""
    span = segment if segment is not None else inv.period
    days = (span.end - span.start).days
    if share > 0:
        full = (Decimal(days) / share).to_integral_value()
        return f"{days} of {full} days"
    return f"{days} days"


_rounder = functools.lru_cache(maxsize=16)(rounder)


def tier_shares(ln: Line, currency: str, rounding: str) -> list[Decimal]:
    """What each tier of a tiered line contributes to its (once rounded) amount, in money.

    Tier shares are exact (`TierLine.amount`); the line rounds their sum once. Shown
    as money, each share is the rounded running total through its tier minus the
    rounded running total before it, and the last running total is the line's amount:
    so the shares add up to the amount billed, exactly, and each is within one minor
    unit of its exact value (`$218.626054838772` shows as `$218.63`). A pooled line's
    tiers are its pool's: they add up to the pool's total, not to the line's share.
    """
    money = _rounder(currency, rounding)
    shares, running, before = [], ZERO, ZERO
    for index, t in enumerate(ln.tiers):
        running = EXACT.add(running, t.amount)
        last = ln.amount if ln.pool is None else ln.pool.amount  # a pooled line shows its pool's tiers
        through = last if index == len(ln.tiers) - 1 else money(running)
        shares.append(through - before)
        before = through
    return shares


def _tier_view(t: TierLine, share: Decimal, unit: str, fmt: Formatter) -> TierView:
    if t.upper is None:
        where = "any quantity" if t.lower.is_zero() else f"over {fmt.number(t.lower)}"
    elif t.lower.is_zero():
        where = f"up to {fmt.number(t.upper)}"
    else:
        where = f"over {fmt.number(t.lower)} up to {fmt.number(t.upper)}"
    return TierView(
        range=where,
        quantity=fmt.number(t.quantity),
        unit_price=_unit_price(t.unit_price, fmt),
        unit=unit,
        flat=f"+ {fmt.price(t.flat)} flat" if not t.flat.is_zero() else "",
        amount=fmt.money(share),
    )


def _purchase_view(inv: Invoice, fmt: Formatter, extras: Extras) -> PurchaseView:
    line = inv.lines[0] if inv.lines else None
    grant = extras.grants.get(inv.number)
    if grant is not None and grant.expires is not None:
        expires = expiry_text(grant.expires, fmt)
    else:
        expires = "never" if grant is not None else ""
    return PurchaseView(
        description=visible((line.description if line else "") or "Prepaid credit"),
        credit=fmt.money(round_money(grant.amount, inv.currency, extras.rounding)) if grant else "",
        price=fmt.money(inv.subtotal),
        granted=fmt.date(inv.issued),
        expires=expires,
    )

