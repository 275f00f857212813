"""`explain`: for each line of a contract's invoices, how its amount came to be.

Builds a view model from the evaluation (no re-pricing): the rules that were
considered, layer by layer with file:line, which one won and why, the
modifiers applied, the arithmetic (tier by tier) and the one rounding step.
The text comes from the `explain.txt.j2` template; the records below are its
context (what a `--template-dir` version of it may print), all text but the
event count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from ..billing import Evaluation, PricedLine
from ..billing.credits import GrantLedger, expired_by, purchase_number
from ..billing.documents import Invoice, Line
from ..billing.pools import exact_decimal
from ..billing.segments import Change, SplitInfo
from ..model import Modifier, PackagePrice, RatingPlan, Rule, TieredPrice, UnitPrice
from ..money import exact_text, plain, quantum, units
from ..rules import Resolution
from .formatter import expiry_text
from .intervals import held_intervals
from .invoice_views import minimum_floor, proration_days
from .render import render
from .visible import dimensions_text, visible


@dataclass(frozen=True)
class Candidate:
    """A rule considered for a usage line, and what became of it."""

    layer: str  # the layer's owner: "plan pro", "contract acme"
    where: str  # file:line of the rule
    rule: str  # the rule as written: "model = \"gpt-4\" : $0.03 per 1K tokens"
    outcome: str  # "won", "applied", "matched, less specific", "lower layer", "no match", ...


@dataclass(frozen=True)
class UsageExplained:
    """How a usage line was priced: the rules considered, the winner and the arithmetic."""

    kind: str  # "usage"
    charge: str
    title: str  # the meter's title
    heading: str  # the meter once: `CALLS`, or `REQUESTS (Requests)` when it has a title of its own
    dimensions: str  # `model = "gpt-4", region = "eu"`, or "no dimensions"
    quantity: str
    aggregation: str  # "sum tokens", "count"
    events: int
    segment: str | None  # "2026-01-10 to 2026-02-01" for a line of a split period
    split_notes: list[str]
    candidates: list[Candidate]
    winner: str  # file:line of the rule that set the price
    why: str
    modifiers: list[str]
    final_price: str
    arithmetic: list[str]  # tier by tier, or the one formula
    exact: str  # the exact amount, before the line's one rounding
    amount: str  # the line's amount as billed
    # a weighted line: its report intervals and the integral (`intervals.held_intervals`)
    intervals: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class OtherExplained:
    """A fee, minimum true-up or credit purchase line."""

    kind: str  # fee | minimum | credit
    charge: str
    label: str  # the line named once: `fee: Base`, `minimum true-up`, `credit purchase`
    text: str  # the arithmetic, or what was bought
    amount: str
    notes: tuple[str, ...] = ()  # a discount's or cap's arithmetic and its allocation over the lines


@dataclass(frozen=True)
class CreditExplained:
    """A prepaid credit applied to an invoice."""

    grant: str
    description: str
    applied: str
    remaining: str
    expiry: str  # "expires at the end of 2026-12-31", or ""
    notes: tuple[str, ...] = ()  # why it burns at that point of the order; the lines of its scope it paid


@dataclass(frozen=True)
class InvoiceExplained:
    number: str
    kind: str
    start: str  # ISO dates, as the period is written in pricing files
    end: str
    issued: str
    due: str
    lines: list[UsageExplained | OtherExplained]  # in invoice order
    subtotal: str
    credits: list[CreditExplained]
    credits_applied: str
    total: str


@dataclass(frozen=True)
class ExplainView:
    """One contract's invoices, explained (the context of `explain.txt.j2`)."""

    contract: str
    customer: str
    plan: str
    through: str
    rounding: str
    quantum: str
    currency: str
    invoices: list[InvoiceExplained]

    def context(self) -> dict:
        return {"contract": self.contract, "customer": self.customer, "plan": self.plan,
                "through": self.through, "rounding": self.rounding, "quantum": self.quantum,
                "currency": self.currency, "invoices": self.invoices}


class _IsoDates:
    """What `expiry_text` needs of a formatter, writing dates as explain does (ISO)."""

    @staticmethod
    def date(day) -> str:
        return day.isoformat()


_ISO = _IsoDates()


def describe_conditions(rule: Rule) -> str:
    if rule.is_default:
        return "default"
    if not rule.conditions:
        return "(any)"
    parts = []
    for c in rule.conditions:
        values = ", ".join(f'"{v}"' for v in c.values)
        parts.append(f"{c.key} {c.op} {values}" if c.op in ("=", "!=") else f"{c.key} {c.op} ({values})")
    return ", ".join(parts)


def written_money(amount, currency: str) -> str:
    """An amount as a rule in the language writes it: `$0.03` in USD, `0.012 EUR` otherwise.

    Rules quoted by `explain` and `diff` are shown in the language's own syntax, so a
    reader can find them in the source; amounts billed go through the money formatter."""
    return f"${plain(amount)}" if currency == "USD" else f"{plain(amount)} {currency}"


def describe_action(action, currency: str) -> str:
    def money(amount) -> str:
        return written_money(amount, currency)

    if isinstance(action, Modifier):
        return f"{plain(action.percent)}% {action.direction}"
    if isinstance(action, UnitPrice):
        return f"{money(action.amount)} per {action.unit.label()}"
    if isinstance(action, PackagePrice):
        return f"package {money(action.amount)} per {plain(action.size)} {action.unit_name}"
    if isinstance(action, TieredPrice):
        tiers = []
        for t in action.tiers:
            bound = f"up to {plain(t.up_to)}" if t.up_to is not None else "above"
            flat = f" + {money(t.flat)}" if t.flat else ""
            tiers.append(f"{bound}: {money(t.amount)}{flat}")
        return f"{'pooled ' if action.pooled else ''}{action.kind} per {action.unit.label()} {{ {'; '.join(tiers)} }}"
    return str(action)


def _visible_notes(notes: tuple[str, ...]) -> tuple[str, ...]:
    """Billing's notes (an allocation, a credit draw) name lines with their dimension values
    (`adjustments.line_name`), written where billing cannot reach `report`: shown `visible`."""
    return tuple(visible(note) for note in notes)


def _dims(dimensions: dict[str, str]) -> str:
    return dimensions_text(dimensions.items(), quoted=True) or "no dimensions"


def _change_text(change: Change, plan: RatingPlan) -> str:
    """`2026-04-01: t.pricing:9 [plan pro] `default : $0.08` starts; ...`"""
    parts = []
    for verb, entries in (("starts", change.starting), ("ends", change.ending)):
        for rule, layer in entries:
            rule_text = f"{describe_conditions(rule)} : {describe_action(rule.action, plan.currency)}"
            parts.append(f"{plan.origins.get(rule.id, rule.id)} [{visible(layer.owner)}] `{rule_text}` {verb}")
    return f"{change.day}: {'; '.join(parts)}"


def plan_part_notes(pl: PricedLine) -> list[str]:
    """What `explain` says about a usage line of one plan part (a plan change inside the period)."""
    if pl.line.plan is None:
        return []
    part = pl.period
    return [f"plan change inside the period: this line is plan {pl.line.plan}'s part, {part.start} to "
            f"{part.end}; only the usage of that part is aggregated here, priced by plan {pl.line.plan}'s "
            f"rules, with tiers starting afresh"]


def split_notes(info: SplitInfo | None, price, plan: RatingPlan) -> list[str]:
    """What `explain` says about a line of a period in which rates change."""
    if info is None:
        return []
    period = f"{info.period.start} to {info.period.end}"
    notes: list[str] = []
    if not info.split_meter:
        notes.append(f"rates change inside this period, but a `{info.aggregation}` quantity is one figure "
                     f"for the whole period, so it is not split: priced with the rules in effect on "
                     f"the period's first day ({info.period.start})")
        notes.extend(f"  change {_change_text(c, plan)}" for c in info.unchanged)
        return notes
    if info.is_segment:
        notes.append(f"one segment of the period {period}, split where rates change: this line bills "
                     f"{info.start} to {info.end}, priced with the rules in effect on {info.start}")
        notes.extend(f"  split {_change_text(c, plan)}" for c in info.cuts)
    if info.unchanged:
        notes.append("rates change inside " + ("this segment" if info.is_segment else "this period")
                     + ", but this line's rule and price are the same on both sides, so it is not split there")
        notes.extend(f"  change {_change_text(c, plan)}" for c in info.unchanged)
    if isinstance(price, TieredPrice) and price.kind == "volume":
        notes.append(f"volume tier chosen by the period's total ({units(info.total)})"
                     + ("" if info.final else "; the tier's flat amount is billed on the period's last line"))
    elif isinstance(price, (TieredPrice, PackagePrice)) and info.already:
        what = "tiers continue" if isinstance(price, TieredPrice) else "packages continue"
        notes.append(f"{what} from the {units(info.already)} used earlier in the period")
    return notes


def pool_arithmetic(pl: PricedLine, plan: RatingPlan) -> list[str]:
    """A pooled line: its pool (the lines one pooled rule prices in the period), the tiers
    the pool's quantity fills, its total rounded once, and this line's share of it."""
    pool = pl.pool
    unit = pool.priced.unit_label
    out = [f"pool: {pool.lines} line{'s' if pool.lines != 1 else ''} of {pl.line.charge}, "
           f"{units(pool.quantity)} (the lines this rule prices in the period; "
           f"tiers filled by their sum)"]
    if pool.already:
        out.append(f"tiers continue from the {units(pool.already)} of the charge's pools earlier in the "
                   f"period (the rates change inside it)")
    for s in pool.priced.steps:
        upper = plain(s.upper) if s.upper is not None else "above"
        flat = f" + {plain(s.flat)} flat" if s.flat else ""
        out.append(f"tier {plain(s.lower)}-{upper}: {units(s.quantity)} x "
                   f"{plain(s.unit_price)} per {unit}{flat} = {plain(s.amount)}")
    out.append(f"pool total {pool.total} (exact {plain(pool.priced.amount)}, rounded once)")
    share = (f"share {pool.total} x {plain(pl.line.quantity)} / {plain(pool.quantity)} = "
             f"{exact_text(pool.exact_share)}" if pool.quantity else
             f"share: the pool's quantity is 0, its whole amount goes to its first line: "
             f"{exact_text(pool.exact_share)}")
    if "/" in share:  # no finite decimal: the fraction, and about how much it is
        share += f" (about {plain(exact_decimal(pool.exact_share).quantize(Decimal('0.0001')))})"
    extra = (f" (+{quantum(plan.currency)} by largest remainder: the minor units left after flooring "
             f"every share go to the largest remainders, ties to the earlier line)" if pool.bonus else "")
    out.append(f"{share} -> {pl.line.amount}{extra}")
    return out


def winner_reason(res: Resolution) -> str:
    """Why the base rule won, in `explain`'s words (the language server's hover says the same)."""
    if res.base.is_default:
        return f"the `default` rule of {visible(res.base_layer.owner)}: no more specific rule matched"
    return (f"the most specific matching price rule ({max(res.base.specificity, 0)} condition"
            f"{'s' if res.base.specificity != 1 else ''}) in the highest layer with a match "
            f"({visible(res.base_layer.owner)})")


def _usage_view(pl: PricedLine, plan: RatingPlan) -> UsageExplained:
    res = pl.resolution
    meter = plan.meters[pl.aggregate.meter]
    agg = meter.aggregation
    how = agg.text
    candidates = []
    for c in res.candidates:
        candidates.append(Candidate(
            layer=visible(c.layer.owner),
            where=plan.origins.get(c.rule.id, c.rule.id),
            rule=f"{describe_conditions(c.rule)} : {describe_action(c.rule.action, plan.currency)}",
            outcome=c.outcome,
        ))
    if res.modifiers:
        steps = [f"{describe_action(r.action, plan.currency)} from {visible(layer.owner)} "
                 f"({plan.origins.get(r.id, r.id)})" for r, layer in res.modifiers]
    else:
        steps = []
    arithmetic = []
    if pl.pool is not None:
        arithmetic.extend(pool_arithmetic(pl, plan))
    elif pl.priced.steps:
        # a later segment of a graduated price: show where in the period's running total it bills
        position = pl.split.already if pl.split is not None and isinstance(res.price, TieredPrice) \
            and res.price.kind == "graduated" and pl.split.already else None
        for s in pl.priced.steps:
            upper = plain(s.upper) if s.upper is not None else "above"
            flat = f" + {plain(s.flat)} flat" if s.flat else ""
            count = units(s.quantity)
            if position is not None and s.quantity > 0:
                first = max(position, s.lower)
                count = f"units {plain(first)}-{plain(first + s.quantity)}, {count}"
                position = first + s.quantity
            arithmetic.append(f"tier {plain(s.lower)}-{upper}: {count} x "
                              f"{plain(s.unit_price)} per {pl.priced.unit_label}{flat} = {plain(s.amount)}")
    else:
        arithmetic.append(f"{pl.priced.formula} = {plain(pl.exact)}")
    why = winner_reason(res)
    return UsageExplained(
        kind="usage",
        charge=pl.line.charge,
        title=meter.title,
        heading=pl.line.charge if meter.title == pl.line.charge else f"{pl.line.charge} ({meter.title})",
        dimensions=_dims(pl.line.dimensions),
        quantity=f"{pl.line.quantity:f}" if pl.aggregate.held else plain(pl.line.quantity),
        aggregation=how,
        events=pl.aggregate.events,
        segment=f"{pl.line.segment.start} to {pl.line.segment.end}" if pl.line.segment else None,
        split_notes=plan_part_notes(pl) + split_notes(pl.split, res.price if pl.pool is None else None, plan),
        candidates=candidates,
        winner=plan.origins.get(res.base.id, res.base.id),
        why=why,
        modifiers=steps,
        final_price=describe_action(res.price, plan.currency),
        arithmetic=arithmetic,
        exact=plain(pl.exact) if pl.pool is None else exact_text(pl.pool.exact_share),
        amount=f"{pl.line.amount}",
        intervals=held_intervals(pl, plan),
    )


def _other_view(line: Line, inv: Invoice, grant: GrantLedger | None, through) -> OtherExplained:
    """A fee, minimum, discount, spend cap or credit purchase line. `label` names the line once (its kind,
    and its charge where that says more: `fee: Base`, never `minimum: minimum`)."""
    if line.kind == "fee":
        label = f"fee: {line.charge}"
        text = f"{plain(line.unit_price)} per {line.unit} x {exact_text(line.exact_quantity)}"
        served = line.service_period
        if served is not None:  # a fee `in advance`: for the period it pays for, not the invoice's
            text += f" (in advance for {served.start} to {served.end}"
            if line.prorated is not None:
                text += f": {proration_days(line.prorated, inv, served)}"
            text += f", plan {line.plan})" if line.plan is not None else ")"
        elif line.plan is not None and line.segment is not None:
            text += (f" (plan change: plan {line.plan}'s part of the period, {line.segment.start} to "
                     f"{line.segment.end}: {proration_days(line.prorated or 1, inv, line.segment)})")
        elif line.prorated is not None:
            text += f" (period cut short: {proration_days(line.prorated, inv)})"
    elif line.kind == "minimum":
        label = "minimum true-up"
        floor = minimum_floor(line, inv)
        text = f"minimum {floor} - {floor - line.amount} of fees and usage"
        if any(ln.kind in ("discount", "cap") for ln in inv.lines):
            text += " after discounts and spend cap"
        if line.prorated is not None:
            text += f" (the minimum prorated: {proration_days(line.prorated, inv, line.segment)})"
        if line.plan is not None:
            text += f" (plan {line.plan}'s part of the period; its lines compared with its minimum)"
    elif line.kind == "discount":
        label = f"discount: {visible(line.charge)}" + (f" ({line.rule})" if line.rule else "")
        text = (f"{plain(-line.unit_price * 100)}% of {line.quantity}" if line.unit == "share"
                else f"amount discount, {-line.amount} used")
    elif line.kind == "cap":
        label = "spend cap" + (f" ({line.rule})" if line.rule else "")
        text = "usage above the period's cap"
    elif line.kind == "unused_time":
        label = f"unused time: {line.charge.removesuffix(' (unused time)')}"
        served = line.service_period
        text = (f"{line.quantity} days paid in advance and not used, {served.start} to {served.end}"
                if served is not None else visible(line.description))
    elif line.kind == "credit":
        label = "credit purchase"
        text = visible(line.description)
        if grant is not None:
            text += f": {grant.amount} of credit, {_grant_time(grant, through)}"
    else:
        label, text = line.kind, visible(line.description)
    return OtherExplained(kind=line.kind, charge=line.charge, label=label, text=text,
                          amount=f"{line.amount}", notes=_visible_notes(line.notes))


def _grant_time(grant: GrantLedger, through) -> str:
    """The grant's expiry as billing sees it (billing.credits), in the words `credits` uses."""
    expires = grant.grant.expires
    if expires is None:
        return "never expires"
    return f"{'expired' if expired_by(expires, through) else 'expires'} {expiry_text(expires, _ISO)}"


def explain_view(evaluation: Evaluation, plan: RatingPlan, contract: str) -> ExplainView:
    run = evaluation.run
    priced_by_line = {id(pl.line): pl for pl in evaluation.priced if pl.contract == contract}
    c = plan.contracts[contract]
    ledgers = {lg.grant.id: lg for lg in evaluation.ledgers if lg.contract == contract}
    sold = {purchase_number(contract, g, i): ledgers.get(g.id) for i, g in enumerate(c.credits)}
    invoices = []
    for inv in run.invoices:
        if inv.contract != contract:
            continue
        lines = []
        for line in inv.lines:
            pl = priced_by_line.get(id(line))
            lines.append(_usage_view(pl, plan) if pl is not None
                         else _other_view(line, inv, sold.get(inv.number), run.through))
        invoices.append(_invoice_view(inv, lines, ledgers, run.through))
    return ExplainView(
        contract=visible(contract),
        customer=visible(c.customer),
        plan=c.plan,
        through=run.through.isoformat(),
        rounding=plan.rounding,
        quantum=f"{quantum(plan.currency)}",
        currency=plan.currency,
        invoices=invoices,
    )


def _invoice_view(inv: Invoice, lines: list[UsageExplained | OtherExplained],
                  ledgers: dict[str, GrantLedger], through) -> InvoiceExplained:
    return InvoiceExplained(
        number=visible(inv.number),
        kind=inv.kind,
        start=inv.period.start.isoformat(),
        end=inv.period.end.isoformat(),
        issued=inv.issued.isoformat(),
        due=inv.due.isoformat(),
        lines=lines,
        subtotal=f"{inv.subtotal}",
        credits=[CreditExplained(grant=visible(c.grant), description=visible(c.description or "Prepaid credit"),
                                 applied=f"{c.applied}", remaining=f"{c.remaining}",
                                 expiry=_grant_time(ledgers[c.grant], through) if c.grant in ledgers else "",
                                 notes=_visible_notes(c.notes))
                 for c in inv.credits],
        credits_applied=f"{inv.credits_applied}",
        total=f"{inv.total}",
    )


def explain_text(evaluation: Evaluation, plan: RatingPlan, contract: str,
                 template_dir: str | None = None) -> str:
    return render("explain.txt.j2", template_dir, **explain_view(evaluation, plan, contract).context())

