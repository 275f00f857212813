"""What a pricing change does to real usage: two evaluations, compared line by line.

    compare(old, new) -> PricingDiff        money per contract, the lines that moved and why
    diff_view(diff, ...) -> dict            (diff_view) strings only, for diff.txt.j2 / diff.md.j2 / JSON
    sources_at_revision(rev, paths)         (diff_revision) the old side of `--old-rev`

The figure compared is the **subtotal of the usage invoices** (fees, usage,
minimum true-ups, before prepaid credits), and of the opening invoice of fees
`in advance`: that is what rates change. Totals
after credits are reported next to it, because a price cut on a customer with
a prepaid commitment changes how fast the commitment burns, not what they pay
this quarter. Credit purchase invoices are left out: rates do not change them.

Lines are matched by (contract, period, segment, kind, charge, dimensions).
A line that moved is classified by comparing how each side priced it: the
winning layer (an override added or removed), the winning rule's price, the
modifiers, the tier the quantity ended in, the quantity itself.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Collection, NamedTuple

from ..billing import Evaluation, PricedLine
from ..billing.documents import Invoice, Line
from ..model import RatingPlan
from ..money import ZERO, exact_text, plain, quantum
from ..report.explain import describe_action, describe_conditions
from ..report.defaults import DEFAULT_LOCALE
from ..report.formatter import Formatter

# ----------------------------------------------------------------- the comparison


class LineKey(NamedTuple):
    """Hashed, compared and ordered as the tuple of its fields (in C: a diff makes and
    looks up one per line of each side)."""

    contract: str
    period_start: dt.date
    period_end: dt.date
    segment: tuple[dt.date, dt.date] | tuple[()]
    kind: str
    charge: str
    dimensions: tuple[tuple[str, str], ...]
    repeat: int = 0  # the n-th line with all of the above on one invoice (two fees of one name)


@dataclass(frozen=True)
class LineSide:
    line: Line
    invoice: Invoice
    priced: PricedLine | None  # usage lines: how the rules engine priced it
    plan: RatingPlan


@dataclass(frozen=True)
class Reason:
    code: str  # line_added | line_removed | split | override_added | override_removed | layer_changed |
    #            rule_changed | modifiers_changed | tier_moved | quantity_changed | quantity_same |
    #            fee_changed | minimum_changed | rounding_changed | other
    text: str


@dataclass
class LineChange:
    key: LineKey
    old: LineSide | None
    new: LineSide | None
    reasons: list[Reason] = field(default_factory=list)

    @property
    def old_amount(self) -> Decimal:
        return self.old.line.amount if self.old else ZERO

    @property
    def new_amount(self) -> Decimal:
        return self.new.line.amount if self.new else ZERO

    @property
    def change(self) -> Decimal:
        return self.new_amount - self.old_amount


@dataclass
class ContractChange:
    contract: str
    in_old: bool
    in_new: bool
    old_subtotal: Decimal = ZERO
    new_subtotal: Decimal = ZERO
    old_total: Decimal = ZERO  # after prepaid credits
    new_total: Decimal = ZERO

    @property
    def change(self) -> Decimal:
        return self.new_subtotal - self.old_subtotal

    @property
    def total_change(self) -> Decimal:
        return self.new_total - self.old_total

    @property
    def status(self) -> str:
        if not self.in_old:
            return "added"
        if not self.in_new:
            return "removed"
        return "changed" if self.change or self.total_change else "unchanged"


def _added_up(figure: str) -> property:
    """`figure` of every contract of a `PricingDiff`, added up (zero at the currency's minor
    unit when there are none)."""
    def total(diff: PricingDiff) -> Decimal:
        return sum((getattr(c, figure) for c in diff.contracts), ZERO.quantize(quantum(diff.currency)))

    return property(total, doc=f"every contract's {figure}, added up")


@dataclass
class PricingDiff:
    currency: str
    through: dt.date
    contracts: list[ContractChange]
    lines: list[LineChange]  # only lines whose amount moved, or that exist on one side only
    events_read: int = 0
    events_billed_old: int = 0
    events_billed_new: int = 0

    old_subtotal = _added_up("old_subtotal")
    new_subtotal = _added_up("new_subtotal")
    old_total = _added_up("old_total")
    new_total = _added_up("new_total")

    @property
    def change(self) -> Decimal:
        return self.new_subtotal - self.old_subtotal

    @property
    def unchanged(self) -> bool:
        return not self.lines and all(c.status == "unchanged" for c in self.contracts)


BILLED = ("usage", "advance")  # the invoices a pricing change moves: not credit purchases


def _key(inv: Invoice, line: Line, repeat: int = 0) -> tuple:
    """A line's key as a plain tuple of `LineKey`'s fields (equal to that `LineKey`, and
    hashed alike): made without `LineKey`'s Python-level constructor, once per line of each
    side; the lines that moved get their `LineKey` (`compare`)."""
    # an advance fee line (or unused time) is matched by the period it is for as well: the two
    # plan parts of the next period are two lines of one fee name
    span = line.segment or line.service_period
    segment = (span.start, span.end) if span is not None else ()
    return (inv.contract, inv.period.start, inv.period.end, segment, line.kind, line.charge,
            tuple(sorted(line.dimensions.items())), repeat)


def _sides(evaluation: Evaluation) -> dict[tuple, tuple[Line, Invoice]]:
    """Every billed line of a side by its key (`_key`). A pair, not a `LineSide`: most
    lines of a large diff did not move, and are only looked up and compared by amount
    (`compare`)."""
    out: dict[tuple, tuple[Line, Invoice]] = {}
    for inv in evaluation.run.invoices:
        if inv.kind not in BILLED:
            continue
        for line in inv.lines:
            key = _key(inv, line)
            while key in out:
                key = _key(inv, line, key[-1] + 1)
            out[key] = (line, inv)
    return out


def _side(pair: tuple[Line, Invoice] | None, priced: dict[int, PricedLine], plan: RatingPlan) -> LineSide | None:
    return None if pair is None else LineSide(pair[0], pair[1], priced.get(id(pair[0])), plan)


def _contracts(old: Evaluation, new: Evaluation, old_plan: RatingPlan,
               new_plan: RatingPlan, only: Collection[str] | None) -> list[ContractChange]:
    zero = ZERO.quantize(quantum(new_plan.currency))
    names = sorted(set(old_plan.contracts) | set(new_plan.contracts))
    if only is not None:
        names = [name for name in names if name in only]
    rows = {name: ContractChange(name, name in old_plan.contracts, name in new_plan.contracts,
                                 zero, zero, zero, zero) for name in names}
    for side, evaluation in (("old", old), ("new", new)):
        for inv in evaluation.run.invoices:
            if inv.kind not in BILLED:
                continue
            row = rows[inv.contract]
            setattr(row, f"{side}_subtotal", getattr(row, f"{side}_subtotal") + inv.subtotal)
            setattr(row, f"{side}_total", getattr(row, f"{side}_total") + inv.total)
    return list(rows.values())


def compare(old_plan: RatingPlan, old: Evaluation, new_plan: RatingPlan, new: Evaluation,
            only: Collection[str] | None = None) -> PricingDiff:
    """Both evaluations must be of the same usage and `through` date, and be ok.

    With `only` (contract names), the diff of those contracts alone, both evaluations
    having priced them (`evaluate(..., only=)`): the diffs of contiguous ranges of the
    contracts in name order, put one after another, are the diff of them all."""
    old_lines, new_lines = _sides(old), _sides(new)
    # new-side order first (the order a reader sees on the new invoices), then
    # lines that only the old side had, each at its own period; only the lines that
    # moved are ordered and described
    order: dict[LineKey, int] = {}
    for i, (k, (line, _)) in enumerate(new_lines.items()):
        was = old_lines.get(k)
        if was is None or was[0].amount != line.amount:
            order[LineKey._make(k)] = i
    for i, k in enumerate(old_lines):
        if k not in new_lines:
            order[LineKey._make(k)] = len(new_lines) + i
    old_priced = {id(pl.line): pl for pl in old.priced}
    new_priced = {id(pl.line): pl for pl in new.priced}
    changes = []
    for key in sorted(order, key=lambda k: (k.contract, k.period_start, order[k])):
        change = LineChange(key, _side(old_lines.get(key), old_priced, old_plan),
                            _side(new_lines.get(key), new_priced, new_plan))
        change.reasons = classify(change.old, change.new)
        changes.append(change)
    _explain_splits(changes)
    return PricingDiff(
        currency=new_plan.currency,
        through=new.run.through,
        contracts=_contracts(old, new, old_plan, new_plan, only),
        lines=changes,
        events_read=new.run.events.read,
        events_billed_old=old.run.events.billed,
        events_billed_new=new.run.events.billed,
    )


def _explain_splits(changes: list[LineChange]) -> None:
    """A usage line on one side whose period the other side splits at a rate change
    (or merges back) is not usage added or removed: say `split` instead."""
    def unsegmented(k: LineKey):
        return (k.contract, k.period_start, k.kind, k.charge, k.dimensions)

    one_sided: dict[tuple, list[LineChange]] = {}
    for c in changes:
        if (c.old is None) != (c.new is None) and c.key.kind == "usage":
            one_sided.setdefault(unsegmented(c.key), []).append(c)
    for group in one_sided.values():
        olds = [c for c in group if c.old is not None]
        news = [c for c in group if c.new is not None]
        if not olds or not news:
            continue
        was, now = len(olds), len(news)
        word = _split_or_merged(olds, news)
        for c in group:
            seg = (f"segment {c.key.segment[0]} to {c.key.segment[1]}" if c.key.segment
                   else "the whole period")
            # an old-side line is what the old pricing billed; a new-side line, what the new one bills
            verb = "billed" if c.old is not None else "now bills"
            c.reasons = [Reason("split", f"period {word} at a rate change: "
                                         f"{was} line{'s' if was != 1 else ''} → {now}; this line {verb} "
                                         f"{seg}")]


def _split_or_merged(olds: list[LineChange], news: list[LineChange]) -> str:
    """`split` when the new side cuts the period finer than the old one, else `merged`.
    More lines say so; with as many lines on each side (usage on one side of the change
    only: one line for the whole period against one for a segment), the narrower
    segment does: a line without one bills the whole period."""
    if len(news) != len(olds):
        return "split" if len(news) > len(olds) else "merged"

    def narrowest(side: list[LineChange]) -> float:
        return min(((c.key.segment[1] - c.key.segment[0]).days if c.key.segment else float("inf"))
                   for c in side)
    return "split" if narrowest(news) < narrowest(olds) else "merged"


# ----------------------------------------------------------------- why a line moved


def _where(side: LineSide, rule_id: str) -> str:
    return side.plan.origins.get(rule_id, rule_id)


def _rule(side: LineSide) -> str:
    res = side.priced.resolution
    return f"`{describe_conditions(res.base)} : {describe_action(res.base.action, side.plan.currency)}`"


def _last_tier(line: Line) -> str | None:
    reached = [t for t in line.tiers if t.quantity > 0] or line.tiers
    if not reached:
        return None
    t = reached[-1]
    upper = plain(t.upper) if t.upper is not None else "above"
    return f"{plain(t.lower)}-{upper}"


def _pool_text(pool) -> str:
    if pool is None:
        return "not pooled"
    return f"{plain(pool.quantity)} over {pool.lines} line{'s' if pool.lines != 1 else ''} for {pool.amount}"


def classify(old: LineSide | None, new: LineSide | None) -> list[Reason]:
    if old is None:
        return [Reason("line_added", f"line added ({new.line.kind})" if new.line.kind != "usage"
                       else "line added: usage only the new pricing bills")]
    if new is None:
        return [Reason("line_removed", f"line removed ({old.line.kind})" if old.line.kind != "usage"
                       else "line removed: usage the new pricing no longer bills")]
    reasons: list[Reason] = []
    same_quantity = old.line.exact_quantity == new.line.exact_quantity
    if old.line.kind == "usage" and old.priced and new.priced:
        ro, rn = old.priced.resolution, new.priced.resolution
        lo, ln = ro.base_layer, rn.base_layer
        if lo.kind != ln.kind or lo.owner != ln.owner:
            if ln.kind == "contract":
                reasons.append(Reason("override_added", f"override added: {ln.owner} {_rule(new)} "
                                                        f"({_where(new, rn.base.id)})"))
            elif lo.kind == "contract":
                reasons.append(Reason("override_removed", f"override removed: now {ln.owner} {_rule(new)} "
                                                          f"({_where(new, rn.base.id)})"))
            else:
                reasons.append(Reason("layer_changed", f"now priced by {ln.owner} {_rule(new)} "
                                                       f"({_where(new, rn.base.id)}), was {lo.owner}"))
        elif ro.base.action != rn.base.action or ro.base.conditions != rn.base.conditions \
                or ro.base.is_default != rn.base.is_default:
            cur_old, cur_new = old.plan.currency, new.plan.currency
            before, after = describe_action(ro.base.action, cur_old), describe_action(rn.base.action, cur_new)
            text = (f"rule changed: {before} → {after}" if ro.base.action != rn.base.action
                    else f"another rule wins: {_rule(new)}")
            text += f" ({_where(new, rn.base.id)})"
            if (ro.modifiers or rn.modifiers) and ro.price != rn.price:
                text += (f", after modifiers {describe_action(ro.price, cur_old)} → "
                         f"{describe_action(rn.price, cur_new)}")
            reasons.append(Reason("rule_changed", text))
        mods_old = [describe_action(r.action, old.plan.currency) for r, _ in ro.modifiers]
        mods_new = [describe_action(r.action, new.plan.currency) for r, _ in rn.modifiers]
        if mods_old != mods_new:
            reasons.append(Reason("modifiers_changed", f"modifiers: {', '.join(mods_old) or 'none'} → "
                                                       f"{', '.join(mods_new) or 'none'}"))
        pool_old, pool_new = old.line.pool, new.line.pool
        if pool_old != pool_new:  # a pooled line moves with the other lines of its pool
            reasons.append(Reason("pool_changed", f"pool: {_pool_text(pool_old)} → {_pool_text(pool_new)}"))
        tier_old, tier_new = _last_tier(old.line), _last_tier(new.line)
        if tier_old != tier_new and (tier_old or tier_new):
            reasons.append(Reason("tier_moved", f"tier moved: {tier_old or 'none'} → {tier_new or 'none'}"))
    elif old.line.kind == "fee" and old.line.unit_price != new.line.unit_price:
        fmt = formatter(new.plan.currency)
        reasons.append(Reason("fee_changed", f"fee changed: {fmt.price(old.line.unit_price)} → "
                                             f"{fmt.price(new.line.unit_price)} per {new.line.unit}"))
    elif old.line.kind == "minimum":
        reasons.append(Reason("minimum_changed", "minimum true-up changed (the minimum, or what "
                                                 "fees and usage add up to, moved)"))
    if not same_quantity:
        reasons.append(Reason("quantity_changed", f"quantity {exact_text(old.line.exact_quantity)} → "
                                                  f"{exact_text(new.line.exact_quantity)}"))
    if old.plan.rounding != new.plan.rounding:
        reasons.append(Reason("rounding_changed", f"rounding {old.plan.rounding} → {new.plan.rounding}"))
    if not reasons:
        reasons.append(Reason("other", "amount changed"))
    if same_quantity:
        reasons.append(Reason("quantity_same", "quantity same"))
    return reasons


@functools.lru_cache(maxsize=8)
def formatter(currency: str) -> Formatter:
    """The one money formatter (Babel, as rendered invoices use), for the diff's currency;
    one per currency, so each distinct figure of a large diff is formatted once."""
    return Formatter(currency, DEFAULT_LOCALE)
