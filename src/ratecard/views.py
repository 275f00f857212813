"""Invoices as people read them: the view models behind the invoice templates.

    InvoiceRun (+ plan, evaluation)  ->  DocumentView { invoices: [InvoiceView], summary }

Every value a template prints is computed here and already formatted: money
with Babel for the invoice's currency and locale (symbol, grouping, minor
units), quantities and dates likewise. Templates only choose what to show and
where; they do no arithmetic. Text column widths for the 100-column text
layout are computed here too (`TextLayout`).

The view models are frozen dataclasses of strings, booleans and lists; the
field names are the documented interface for `--template-dir` templates
(docs/invoices.md).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_interval
from babel.numbers import format_currency, format_decimal, get_currency_name

from .billing.credits import purchase_number
from .billing.documents import Invoice, InvoiceRun, Line, TierLine
from .model import CreditGrant, RatingPlan
from .money import EXACT, ZERO, exact_text, round_money, rounder, zero

DEFAULT_LOCALE = "en_US"
DEFAULT_ISSUER = "ratecard"
TEXT_WIDTH = 100  # the text layout fits a 100-column terminal


def parse_locale(text: str) -> str:
    """A locale identifier Babel knows (`en_US`, `de-DE`), normalised; ValueError otherwise."""
    try:
        return str(Locale.parse(text.replace("-", "_")))
    except (ValueError, TypeError, UnknownLocaleError):
        raise ValueError(f"unknown locale `{text}` (try en_US, en_GB, de_DE, fr_FR, ja_JP)") from None


class Formatter:
    """Money, numbers and dates for one currency and locale, all through Babel.

    Each distinct value is formatted once: Babel takes tens of microseconds per
    call, and a large run prints the same prices, amounts, counts and dates on
    thousands of lines. Values are remembered by their exact text (`1.0` and
    `1` print differently), up to `KEPT` of each kind.
    """

    KEPT = 100_000

    def __init__(self, currency: str, locale: str = DEFAULT_LOCALE):
        self.currency = currency
        self.locale = parse_locale(locale)
        self._seen: defaultdict[str, dict] = defaultdict(dict)

    def _once(self, kind: str, key, make) -> str:
        seen = self._seen[kind]
        found = seen.get(key)
        if found is None:
            if len(seen) >= self.KEPT:
                seen.clear()
            found = seen[key] = make()
        return found

    def money(self, amount: Decimal) -> str:
        """An amount in the currency's minor units: `$1,234.50`, `¥1,235`, `-$200.00`."""
        return self._once("money", str(amount), lambda: format_currency(
            _no_negative_zero(amount), self.currency, locale=self.locale))

    def price(self, amount: Decimal) -> str:
        """A unit price or an exact share: at least the minor units, every digit it has."""
        return self._once("price", str(amount), lambda: format_currency(
            _no_negative_zero(amount), self.currency, locale=self.locale, decimal_quantization=False))

    def number(self, value: Decimal) -> str:
        """A quantity with grouping and every digit it has: what was billed, never rounded
        for display (41.499999987 stays 41.499999987)."""
        return self._once("number", str(value), lambda: format_decimal(
            value, locale=self.locale, decimal_quantization=False))

    def quantity(self, value: Decimal | Fraction) -> str:
        """A line's exact quantity (`Line.exact_quantity`): a decimal as `number`, a share
        without a finite decimal expansion as its fraction (`7/30`); see `money.exact_text`."""
        if isinstance(value, Decimal):
            return self.number(value)
        text = exact_text(value)
        if "/" not in text:
            return self.number(Decimal(text))
        return f"{self.number(Decimal(value.numerator))}/{self.number(Decimal(value.denominator))}"

    def date(self, day: dt.date) -> str:
        return self._once("date", day, lambda: format_date(day, format="medium", locale=self.locale))

    def days(self, first: dt.date, last: dt.date) -> str:
        """An inclusive range of days, as the locale writes it: `Jan 1 – Mar 31, 2026`."""
        return self._once("days", (first, last), lambda: format_interval(
            first, max(first, last), "yMMMd", locale=self.locale))

    def currency_name(self) -> str:
        return get_currency_name(self.currency, locale=self.locale)


def _no_negative_zero(amount: Decimal) -> Decimal:
    return amount.copy_abs() if amount.is_zero() else amount


# ----------------------------------------------------------------- view models


@dataclass(frozen=True)
class TierView:
    range: str  # "up to 100", "over 100 up to 1,000", "over 1,000"
    quantity: str
    unit_price: str  # "$0.10", or "free"
    unit: str  # what the unit price is per ("GB")
    flat: str  # "+ $5.00 flat", or ""
    amount: str  # the money this tier contributes to the line's amount (`tier_shares`)


@dataclass(frozen=True)
class LineView:
    kind: str  # usage | fee | minimum | credit
    charge: str  # the meter or fee name
    label: str  # what the line is: dimension values for usage lines, else its name
    dimensions: list[tuple[str, str]]
    dimensions_text: str  # "model: gpt-4, region: eu", or ""
    quantity: str  # "" where a quantity says nothing (minimum true-up)
    unit_price: str  # "" for tiered lines (see `tiers`) and the minimum true-up
    unit: str  # what the unit price is per: "1K tokens", "month"
    amount: str
    notes: list[str]  # "includes 50% off", "prorated: 15 of 31 days", ...
    tiers: list[TierView]


@dataclass(frozen=True)
class ChargeGroup:
    charge: str  # meter name
    title: str  # the meter's title
    show_title: bool  # the lines are labelled by their dimensions, under this title
    lines: list[LineView]
    amount: str  # the group's total


@dataclass(frozen=True)
class CreditView:
    grant: str  # grant id
    description: str
    applied: str  # negative: "-$200.00"
    remaining: str  # the grant's balance after this invoice


@dataclass(frozen=True)
class PurchaseView:
    """What a credit purchase invoice buys."""

    description: str
    credit: str  # face value of the grant ("" when unknown)
    price: str
    granted: str
    expires: str  # "Dec 31, 2026, 23:59:59 UTC", "end of Dec 31, 2026", or "never"


@dataclass(frozen=True)
class TextLayout:
    """Column widths of the 100-column text layout (all rows are exactly `width` wide)."""

    width: int
    label: int  # key column of the header block
    value: int  # value column of the header block
    rule: str  # a line of "-" across the width
    heavy_rule: str  # a line of "=" across the width
    description: int
    quantity: int
    unit_price: int
    unit: int
    amount: int
    totals_label: int  # totals labels end where the amount column starts


@dataclass(frozen=True)
class CorrectionView:
    """An adjustment line (a ledger document's correction of an issued invoice)."""

    corrects: str  # the number of the invoice it corrects
    period: str  # that invoice's period
    label: str  # what changed: the charge and its dimension values
    reason: str  # "3 events late", "price change: pro.pricing:14 (was pro.pricing:12)"
    note: str  # "corrects INV-000001 (Jan 1 – 31, 2026): 3 events late"
    quantity: str  # the change in quantity ("+1,000"), or ""
    amount: str  # signed on invoices ("+$3.00" is "$3.00", less owed "-$2.00"); credited on credit notes


@dataclass(frozen=True)
class InvoiceView:
    kind: str  # usage | credit_purchase | adjustment | credit_note (the last two: ledger documents)
    title: str  # "Invoice" | "Credit purchase" | "Adjustment invoice" | "Credit note"
    number: str
    issuer: str
    customer: str
    contract: str
    plan: str
    plan_title: str
    currency: str
    currency_name: str
    period_start: str
    period_end: str  # the last day of the period (periods are [start, end))
    period: str  # "Jan 1, 2026 – Mar 31, 2026"
    issued: str
    due: str
    payment_terms: str  # "Net 45" | "Due on receipt"
    autopay: bool
    autopay_text: str
    fees: list[LineView]
    charges: list[ChargeGroup]
    minimum: LineView | None
    purchase: PurchaseView | None
    lines: list[LineView]  # every line, in invoice order
    subtotal: str
    credits: list[CreditView]
    credits_applied: str  # negative, "-$200.00"
    has_credits: bool
    total: str
    note: str  # "Paid in full by prepaid credit.", "Nothing to pay for this period.", or ""
    text: TextLayout
    # ledger documents (`ratecard ledger show/export`, docs/ledger.md); an invoice priced
    # by `ratecard invoice` has none of these
    number_label: str = "Invoice number"  # "Credit note number" for credit notes
    total_label: str = "Total due"  # "Total credited" for credit notes
    corrections: list[CorrectionView] = field(default_factory=list)
    corrections_title: str = ""  # "Adjustments to earlier invoices" | "Credited"
    corrections_total: str = ""
    corrects: str = ""  # the invoice a credit note or an adjustment invoice corrects
    reason: str = ""  # why a credit note was issued
    status: str = "issued"  # issued | void
    status_note: str = ""  # "Void: reversed by credit note CN-000002"


@dataclass(frozen=True)
class SummaryRow:
    contract: str
    customer: str
    periods: str  # usage invoices
    subtotal: str  # subtotal of the usage invoices (fees, usage, minimum true-ups)
    purchases: str  # credit purchases invoiced
    credits: str  # credits applied (negative)
    total: str  # total due over all of the contract's invoices


@dataclass(frozen=True)
class SummaryView:
    through: str
    rows: list[SummaryRow]
    total: SummaryRow | None  # only with more than one contract
    widths: dict[str, int]


@dataclass(frozen=True)
class DocumentView:
    through: str
    currency: str
    lang: str  # the locale as a BCP 47 tag, for <html lang>: "en-US"
    invoices: list[InvoiceView]
    summary: SummaryView | None = None

    def context(self) -> dict:
        return {"through": self.through, "currency": self.currency, "lang": self.lang,
                "invoices": self.invoices, "summary": self.summary}


# ----------------------------------------------------------------- building views


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
    lines = [_line_view(ln, inv, fmt, extras) for ln in inv.lines]  # each line's view, built once
    fees = [v for ln, v in zip(inv.lines, lines) if ln.kind == "fee"]
    minimum = next((v for ln, v in zip(inv.lines, lines) if ln.kind == "minimum"), None)
    groups = _charge_groups(inv, lines, fmt)
    credits = [CreditView(grant=c.grant, description=c.description or "Prepaid credit",
                          applied=fmt.money(-c.applied), remaining=fmt.money(c.remaining))
               for c in inv.credits]
    if inv.total.is_zero() and inv.credits_applied > 0:
        note = "Paid in full by prepaid credit: nothing to pay."
    elif inv.total.is_zero():
        note = "Nothing to pay for this period."
    else:
        note = ""
    subtotal, total = fmt.money(inv.subtotal), fmt.money(inv.total)
    credits_applied = fmt.money(-inv.credits_applied)
    return InvoiceView(
        kind=inv.kind,
        title="Credit purchase" if is_purchase else "Invoice",
        number=inv.number,
        issuer=issuer,
        customer=inv.customer,
        contract=inv.contract,
        plan=inv.plan,
        plan_title=extras.plan_titles.get(inv.plan, inv.plan),
        currency=inv.currency,
        currency_name=fmt.currency_name(),
        period_start=start,
        period_end=end,
        period=start if is_purchase else fmt.days(inv.period.start, last_day),
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
            title=lines[0].description or charge,
            show_title=any(ln.dimensions for ln in lines) or len(lines) > 1,
            lines=views,
            amount=fmt.money(sum((ln.amount for ln in lines), ZERO)),
        ))
    return groups


_ORIGIN = re.compile(r"\s*\([^()]*\)$")


def _line_view(ln: Line, inv: Invoice, fmt: Formatter, extras: Extras) -> LineView:
    dims = sorted(ln.dimensions.items())
    dims_text = ", ".join(f"{k}: {v}" for k, v in dims)
    notes: list[str] = []
    quantity = fmt.quantity(ln.exact_quantity)
    unit_price = _unit_price(ln.unit_price, fmt) if ln.unit_price is not None else ""
    unit = compact_unit(ln.unit)
    label = ln.description or ln.charge
    if ln.kind == "usage":
        label = dims_text or label
        notes.extend(f"includes {_ORIGIN.sub('', m)}" for m in ln.modifiers)
        package = extras.packages.get(id(ln))
        if package is not None:
            count, size = package
            notes.append(f"billed in whole packages: {fmt.number(count)} × {compact_unit(size)}")
        if ln.tiers:
            unit_price = ""
    elif ln.kind == "minimum":
        label = "Minimum commitment true-up"
        notes.append(f"brings this period up to the {fmt.money(inv.subtotal)} minimum")
        quantity, unit_price, unit = "", "", ""
    elif ln.kind == "credit":
        label = ln.description or "Prepaid credit"
    if ln.prorated is not None:
        notes.append(_proration_note(ln.prorated, inv))
    if ln.segment is not None:
        last = ln.segment.end - dt.timedelta(days=1)
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
               for t, share in zip(ln.tiers, tier_shares(ln, inv.currency, extras.rounding))],
    )


_SIZED_UNIT = re.compile(r"^(\d+) (.+)$")


def compact_unit(label: str) -> str:
    """`1000000 requests` -> `1M requests`, `1000 calls` -> `1K calls`, as prices are written."""
    m = _SIZED_UNIT.match(label)
    if not m:
        return label
    size = int(m.group(1))
    for factor, suffix in ((1_000_000, "M"), (1_000, "K")):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{suffix} {m.group(2)}"
    return label


def _unit_price(value: Decimal, fmt: Formatter) -> str:
    return "free" if value.is_zero() else fmt.price(value)


def _proration_note(share: Decimal, inv: Invoice) -> str:
    return f"prorated: {proration_days(share, inv)}"


def proration_days(share: Decimal, inv: Invoice) -> str:
    """A cut-short period's share in days, `7 of 30 days` (a line's `prorated` is days
    billed / days of the uncut period, to 10 places: enough to tell every length apart)."""
    days = (inv.period.end - inv.period.start).days
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
    unit of its exact value (`$218.626054838772` shows as `$218.63`).
    """
    money = _rounder(currency, rounding)
    shares, running, before = [], ZERO, ZERO
    for index, t in enumerate(ln.tiers):
        running = EXACT.add(running, t.amount)
        through = ln.amount if index == len(ln.tiers) - 1 else money(running)
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
        description=(line.description if line else "") or "Prepaid credit",
        credit=fmt.money(round_money(grant.amount, inv.currency, extras.rounding)) if grant else "",
        price=fmt.money(inv.subtotal),
        granted=fmt.date(inv.issued),
        expires=expires,
    )


def expiry_text(expires: dt.datetime, fmt: Formatter) -> str:
    """An exclusive UTC expiry as people say it: `at the end of Dec 31, 2026` for a
    midnight (how `expires 2026-12-31` is stored), else the date and the UTC time."""
    exp = expires.astimezone(dt.timezone.utc)
    if exp.time() == dt.time(0, 0):
        return f"at the end of {fmt.date(exp.date() - dt.timedelta(days=1))}"
    return f"{fmt.date(exp.date())}, {exp:%H:%M:%S} UTC"


# ----------------------------------------------------------------- text layout

_LABEL = 16  # the key column of the header block
_GAPS = 4 * 2  # two spaces between the five columns of the lines table


def text_layout(lines: list[LineView], totals: list[str]) -> TextLayout:
    """Column widths that fit every value; the description column takes what is left of 100."""
    tiers = [t for ln in lines for t in ln.tiers]
    quantity = max([len("Quantity")] + [len(r.quantity) for r in lines] + [len(t.quantity) for t in tiers])
    unit_price = max([len("Unit price")] + [len(r.unit_price) for r in lines]
                     + [len(t.unit_price) for t in tiers])
    unit = max([len("Per")] + [len(r.unit) for r in lines if r.unit_price] + [len(t.unit) for t in tiers])
    amount = max([len("Amount")] + [len(a) for a in totals] + [len(r.amount) for r in lines]
                 + [len(t.amount) for t in tiers])
    return TextLayout(
        width=TEXT_WIDTH,
        label=_LABEL,
        value=TEXT_WIDTH - _LABEL,
        rule="-" * TEXT_WIDTH,
        heavy_rule="=" * TEXT_WIDTH,
        description=max(TEXT_WIDTH - quantity - unit_price - unit - amount - _GAPS, 20),
        quantity=quantity,
        unit_price=unit_price,
        unit=unit,
        amount=amount,
        totals_label=TEXT_WIDTH - amount - 2,
    )


# ----------------------------------------------------------------- summary


def summary_view(through: dt.date, currency: str, invoices: list[Invoice], fmt: Formatter) -> SummaryView:
    by_contract: dict[str, list[Invoice]] = {}
    for inv in invoices:
        by_contract.setdefault(inv.contract, []).append(inv)

    def row(contract: str, customer: str, group: list[Invoice]) -> SummaryRow:
        usage = [i for i in group if i.kind == "usage"]
        return SummaryRow(
            contract=contract,
            customer=customer,
            periods=fmt.number(Decimal(len(usage))),
            subtotal=fmt.money(sum((i.subtotal for i in usage), zero(currency))),
            purchases=fmt.money(sum((i.subtotal for i in group if i.kind == "credit_purchase"), zero(currency))),
            credits=fmt.money(-sum((i.credits_applied for i in group), zero(currency))),
            total=fmt.money(sum((i.total for i in group), zero(currency))),
        )

    rows = [row(name, group[0].customer, group) for name, group in sorted(by_contract.items())]
    total = row("Total", "", list(invoices)) if len(rows) > 1 else None
    headers = {"contract": "Contract", "customer": "Customer", "periods": "Periods",
               "subtotal": "Subtotal", "purchases": "Credit purchases", "credits": "Credits applied",
               "total": "Total due"}
    every = rows + ([total] if total else [])
    widths = {key: max([len(title)] + [len(getattr(r, key)) for r in every])
              for key, title in headers.items()}
    # long names give way so the table still fits: they are cut with an ellipsis
    spare = TEXT_WIDTH - sum(widths.values()) - 2 * (len(widths) - 1)
    if spare < 0:
        for key in ("customer", "contract"):
            cut = min(-spare, widths[key] - len(headers[key]))
            widths[key] -= cut
            spare += cut
        rows = [_clip_row(r, widths) for r in rows]
        total = _clip_row(total, widths) if total else None
    return SummaryView(through=fmt.date(through), rows=rows, total=total, widths=widths)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def _clip_row(r: SummaryRow, widths: dict[str, int]) -> SummaryRow:
    return replace(r, contract=_clip(r.contract, widths["contract"]),
                    customer=_clip(r.customer, widths["customer"]))
