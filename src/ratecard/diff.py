"""What a pricing change does to real usage: two evaluations, compared line by line.

    compare(old, new) -> PricingDiff        money per contract, the lines that moved and why
    diff_view(diff, ...) -> dict            strings only, for diff.txt.j2 / diff.md.j2 / JSON
    sources_at_revision(rev, paths)         the old side of `--old-rev`, read with `git show`

The figure compared is the **subtotal of the usage invoices** (fees, usage,
minimum true-ups, before prepaid credits): that is what rates change. Totals
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
import subprocess
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Sequence

from .billing import Evaluation, PricedLine
from .billing.documents import Invoice, Line
from .explain import describe_action, describe_conditions
from .model import RatingPlan
from .money import EXACT, ZERO, exact_text, plain, quantum
from .views import DEFAULT_LOCALE, Formatter

# ----------------------------------------------------------------- the comparison


@dataclass(frozen=True, order=True)
class LineKey:
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


@dataclass
class PricingDiff:
    currency: str
    through: dt.date
    contracts: list[ContractChange]
    lines: list[LineChange]  # only lines whose amount moved, or that exist on one side only
    events_read: int = 0
    events_billed_old: int = 0
    events_billed_new: int = 0

    @property
    def old_subtotal(self) -> Decimal:
        return sum((c.old_subtotal for c in self.contracts), self._zero)

    @property
    def new_subtotal(self) -> Decimal:
        return sum((c.new_subtotal for c in self.contracts), self._zero)

    @property
    def old_total(self) -> Decimal:
        return sum((c.old_total for c in self.contracts), self._zero)

    @property
    def new_total(self) -> Decimal:
        return sum((c.new_total for c in self.contracts), self._zero)

    @property
    def change(self) -> Decimal:
        return self.new_subtotal - self.old_subtotal

    @property
    def _zero(self) -> Decimal:
        return ZERO.quantize(quantum(self.currency))

    @property
    def unchanged(self) -> bool:
        return not self.lines and all(c.status == "unchanged" for c in self.contracts)


def _key(inv: Invoice, line: Line, repeat: int = 0) -> LineKey:
    segment = (line.segment.start, line.segment.end) if line.segment is not None else ()
    return LineKey(inv.contract, inv.period.start, inv.period.end, segment, line.kind, line.charge,
                   tuple(sorted(line.dimensions.items())), repeat)


def _sides(evaluation: Evaluation, plan: RatingPlan) -> dict[LineKey, LineSide]:
    priced = {id(pl.line): pl for pl in evaluation.priced}
    out: dict[LineKey, LineSide] = {}
    for inv in evaluation.run.invoices:
        if inv.kind != "usage":
            continue
        for line in inv.lines:
            key = _key(inv, line)
            while key in out:
                key = _key(inv, line, key.repeat + 1)
            out[key] = LineSide(line, inv, priced.get(id(line)), plan)
    return out


def _contracts(old: Evaluation, new: Evaluation, old_plan: RatingPlan,
               new_plan: RatingPlan) -> list[ContractChange]:
    zero = ZERO.quantize(quantum(new_plan.currency))
    names = sorted(set(old_plan.contracts) | set(new_plan.contracts))
    rows = {name: ContractChange(name, name in old_plan.contracts, name in new_plan.contracts,
                                 zero, zero, zero, zero) for name in names}
    for side, evaluation in (("old", old), ("new", new)):
        for inv in evaluation.run.invoices:
            if inv.kind != "usage":
                continue
            row = rows[inv.contract]
            setattr(row, f"{side}_subtotal", getattr(row, f"{side}_subtotal") + inv.subtotal)
            setattr(row, f"{side}_total", getattr(row, f"{side}_total") + inv.total)
    return list(rows.values())


def compare(old_plan: RatingPlan, old: Evaluation, new_plan: RatingPlan, new: Evaluation) -> PricingDiff:
    """Both evaluations must be of the same usage and `through` date, and be ok."""
    old_lines, new_lines = _sides(old, old_plan), _sides(new, new_plan)
    # new-side order first (the order a reader sees on the new invoices), then
    # lines that only the old side had, each at its own period
    order = {k: i for i, k in enumerate(new_lines)}
    for i, k in enumerate(old_lines):
        order.setdefault(k, len(new_lines) + i)
    changes = []
    for key in sorted(order, key=lambda k: (k.contract, k.period_start, order[k])):
        change = LineChange(key, old_lines.get(key), new_lines.get(key))
        if change.old and change.new and change.change == 0:
            continue
        change.reasons = classify(change.old, change.new)
        changes.append(change)
    _explain_splits(changes)
    return PricingDiff(
        currency=new_plan.currency,
        through=new.run.through,
        contracts=_contracts(old, new, old_plan, new_plan),
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
        for c in group:
            seg = (f"segment {c.key.segment[0]} to {c.key.segment[1]}" if c.key.segment
                   else "the whole period")
            # an old-side line is what the old pricing billed; a new-side line, what the new one bills
            verb = "billed" if c.old is not None else "now bills"
            c.reasons = [Reason("split", f"period {'split' if now > was else 'merged'} at a rate change: "
                                         f"{was} line{'s' if was != 1 else ''} → {now}; this line {verb} "
                                         f"{seg}")]


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


# ----------------------------------------------------------------- the view model


@functools.lru_cache(maxsize=8)
def formatter(currency: str) -> Formatter:
    """The one money formatter (Babel, as rendered invoices use), for the diff's currency;
    one per currency, so each distinct figure of a large diff is formatted once."""
    return Formatter(currency, DEFAULT_LOCALE)


def money_text(amount: Decimal, currency: str, sign: bool = False) -> str:
    """`$1,234.50`, `-$3.00`, `+$3.00` (with sign), `€1,234.50`: the invoices' money formatter."""
    text = formatter(currency).money(amount)
    return f"+{text}" if sign and amount > 0 else text


_TENTH = Decimal("0.1")


def percent(old: Decimal, new: Decimal) -> Decimal | None:
    """The change as a percentage of `old`, to one decimal (half up, computed exactly);
    None when `old` is zero."""
    if old == 0:
        return Decimal("0.0") if new == 0 else None
    ratio = EXACT.divide(EXACT.multiply(EXACT.subtract(new, old), Decimal(100)), old)
    return ratio.quantize(_TENTH, rounding=ROUND_HALF_UP, context=EXACT)


def percent_text(old: Decimal, new: Decimal) -> str:
    pct = percent(old, new)
    if pct is None:
        return "new"
    return f"+{pct}%" if pct > 0 else f"{pct}%"


def _pct_json(old: Decimal, new: Decimal) -> str | None:
    pct = percent(old, new)
    return None if pct is None else str(pct)


def _dims_text(dims: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f'{k} = "{v}"' for k, v in dims)


def _line_view(c: LineChange, currency: str) -> dict:
    k = c.key
    side = c.new or c.old
    period = f"{k.period_start} to {k.period_end}"
    if k.segment:
        period += f" (segment {k.segment[0]} to {k.segment[1]})"
    quantity_old = plain(c.old.line.quantity) if c.old else None  # the JSON's figures
    quantity_new = plain(c.new.line.quantity) if c.new else None
    # shown: every digit of the quantity billed, grouped; a prorated fee's exact share (7/30)
    shown = formatter(currency).quantity
    exact_old = shown(c.old.line.exact_quantity) if c.old else None
    exact_new = shown(c.new.line.exact_quantity) if c.new else None
    if exact_old == exact_new or exact_old is None or exact_new is None:
        quantity = exact_new or exact_old
    else:
        quantity = f"{exact_old} → {exact_new}"
    rule_old = c.old.line.rule if c.old else None
    rule_new = c.new.line.rule if c.new else None
    return {
        "contract": k.contract,
        "period": period,
        "period_start": k.period_start.isoformat(),
        "period_end": k.period_end.isoformat(),
        "kind": k.kind,
        "charge": k.charge,
        "description": side.line.description,
        "dimensions": _dims_text(k.dimensions),
        "dimensions_map": dict(k.dimensions),
        "label": f"{k.charge} {_dims_text(k.dimensions)}".rstrip(),
        "quantity": quantity,
        "quantity_old": quantity_old,
        "quantity_new": quantity_new,
        "old": money_text(c.old_amount, currency) if c.old else "—",
        "new": money_text(c.new_amount, currency) if c.new else "—",
        "old_amount": str(c.old_amount) if c.old else None,
        "new_amount": str(c.new_amount) if c.new else None,
        "change": money_text(c.change, currency, sign=True),
        "change_amount": str(c.change),
        "rule_old": rule_old,
        "rule_new": rule_new,
        "why": "; ".join(r.text for r in c.reasons),
        "reasons": [{"code": r.code, "text": r.text} for r in c.reasons],
    }


def _contract_view(c: ContractChange, currency: str) -> dict:
    return {
        "contract": c.contract,
        "status": c.status,
        "old": money_text(c.old_subtotal, currency) if c.in_old else "—",
        "new": money_text(c.new_subtotal, currency) if c.in_new else "—",
        "change": money_text(c.change, currency, sign=True),
        "percent": percent_text(c.old_subtotal, c.new_subtotal),
        "old_after_credits": money_text(c.old_total, currency),
        "new_after_credits": money_text(c.new_total, currency),
        "change_after_credits": money_text(c.total_change, currency, sign=True),
        "json": {
            "contract": c.contract,
            "status": c.status,
            "old_subtotal": str(c.old_subtotal),
            "new_subtotal": str(c.new_subtotal),
            "change": str(c.change),
            "percent": _pct_json(c.old_subtotal, c.new_subtotal),
            "old_total": str(c.old_total),
            "new_total": str(c.new_total),
            "total_change": str(c.total_change),
        },
    }


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def diff_view(d: PricingDiff, *, old_label: str, new_label: str, usage: Sequence[str],
              max_lines: int | None = None) -> dict:
    """Everything the templates and the JSON print, as text: no arithmetic left to do."""
    cur = d.currency
    contracts = [_contract_view(c, cur) for c in d.contracts]
    moved = sorted((c for c in d.contracts if c.status != "unchanged"),
                   key=lambda c: (-abs(c.change), -abs(c.total_change), c.contract))
    rows = [_contract_view(c, cur) for c in moved]
    unchanged = [c.contract for c in d.contracts if c.status == "unchanged"]
    lines = [_line_view(c, cur) for c in d.lines]
    shown = lines if max_lines is None else lines[:max_lines]
    for row in rows:
        row["md_contract"] = _md(row["contract"])
    for ln in shown:
        ln["md_label"] = f"`{_md(ln['label'])}`"
        ln["md_why"] = _md(ln["why"])
        ln["md_contract"] = _md(ln["contract"])
    total = {
        "old": money_text(d.old_subtotal, cur),
        "new": money_text(d.new_subtotal, cur),
        "change": money_text(d.change, cur, sign=True),
        "percent": percent_text(d.old_subtotal, d.new_subtotal),
        "old_after_credits": money_text(d.old_total, cur),
        "new_after_credits": money_text(d.new_total, cur),
        "change_after_credits": money_text(d.new_total - d.old_total, cur, sign=True),
        "json": {
            "old_subtotal": str(d.old_subtotal),
            "new_subtotal": str(d.new_subtotal),
            "change": str(d.change),
            "percent": _pct_json(d.old_subtotal, d.new_subtotal),
            "old_total": str(d.old_total),
            "new_total": str(d.new_total),
            "total_change": str(d.new_total - d.old_total),
        },
    }
    columns = ("contract", "old", "new", "change", "percent")
    widths = {col: max([len(r[col]) for r in rows] + [len(total[col]) if col in total else 5,
                                                        len(col)]) for col in columns}
    return {
        "old_label": old_label,
        "new_label": new_label,
        "usage": list(usage),
        "usage_text": ", ".join(usage),
        "through": d.through.isoformat(),
        "currency": cur,
        "basis": "sum of usage invoice subtotals (fees, usage, minimums), before prepaid credits",
        "unchanged": d.unchanged,
        "total": total,
        "contracts": rows,
        "all_contracts": contracts,
        "contract_count": len(d.contracts),
        "unchanged_contracts": unchanged,
        "unchanged_contracts_text": ", ".join(unchanged),
        "widths": widths,
        "lines": shown,
        "all_lines": lines,
        "line_count": len(lines),
        "lines_hidden": len(lines) - len(shown),
        "events_read": d.events_read,
        "events_billed_old": d.events_billed_old,
        "events_billed_new": d.events_billed_new,
    }


def diff_json(view: dict) -> dict:
    """The `--format json` document: every contract and every moved line, machine-readable."""
    return {
        "old": view["old_label"],
        "new": view["new_label"],
        "usage": view["usage"],
        "through": view["through"],
        "currency": view["currency"],
        "basis": "usage_subtotal",
        "unchanged": view["unchanged"],
        "events": {"read": view["events_read"], "billed_old": view["events_billed_old"],
                   "billed_new": view["events_billed_new"]},
        "total": view["total"]["json"],
        "contracts": [c["json"] for c in view["all_contracts"]],
        "lines": [{
            "contract": ln["contract"],
            "period": {"start": ln["period_start"], "end": ln["period_end"]},
            "kind": ln["kind"],
            "charge": ln["charge"],
            "dimensions": ln["dimensions_map"],
            "old": None if ln["old_amount"] is None else
            {"quantity": ln["quantity_old"], "amount": ln["old_amount"], "rule": ln["rule_old"]},
            "new": None if ln["new_amount"] is None else
            {"quantity": ln["quantity_new"], "amount": ln["new_amount"], "rule": ln["rule_new"]},
            "change": ln["change_amount"],
            "reasons": ln["reasons"],
        } for ln in view["all_lines"]],
    }


# ----------------------------------------------------------------- the old side from git


class RevisionError(Exception):
    """`--old-rev` cannot be read: not a repository, unknown revision, no files there."""


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=False,
                              check=False)
    except FileNotFoundError:
        raise RevisionError("`git` is not installed, so --old-rev cannot be read") from None


def _stderr(proc: subprocess.CompletedProcess) -> str:
    lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else "git failed"


def sources_at_revision(rev: str, paths: Sequence[str]) -> list[tuple[str, str]]:
    """(name, text) of every .pricing file under `paths` as they were at `rev`.

    Each path is resolved in the git repository that contains it; a directory
    stands for every .pricing file under it at `rev` (files added since are not
    on the old side, files deleted since are). Names read `REV:path/in/repo`.
    """
    if not rev or rev.startswith("-"):
        raise RevisionError(f"unknown revision `{rev}`")
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise RevisionError(f"no such file or directory: {raw}")
        folder = p if p.is_dir() else p.parent
        top = _git(folder, "rev-parse", "--show-toplevel")
        if top.returncode != 0:
            raise RevisionError(f"{raw} is not inside a git repository, so --old-rev cannot be read")
        root = Path(top.stdout.decode().strip())
        prefix = _git(folder, "rev-parse", "--show-prefix").stdout.decode().strip()
        rel = prefix + (p.name if p.is_file() else "")
        rel = rel.rstrip("/")
        if _git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").returncode != 0:
            raise RevisionError(f"unknown revision `{rev}` in {root}")
        listing = _git(root, "ls-tree", "-r", "--name-only", "--full-tree", "-z", rev, "--", rel or ".")
        if listing.returncode != 0:
            raise RevisionError(f"cannot list {raw} at `{rev}`: {_stderr(listing)}")
        names = [x for x in listing.stdout.decode("utf-8", "replace").split("\0") if x]
        # a path with nothing at `rev` was added since: the old side simply lacks it
        for name in sorted(x for x in names if x.endswith(".pricing")):
            if name in seen:
                continue
            seen.add(name)
            shown = _git(root, "show", f"{rev}:{name}")
            if shown.returncode != 0:
                raise RevisionError(f"cannot read {name} at `{rev}`: {_stderr(shown)}")
            try:
                text = shown.stdout.decode("utf-8")
            except UnicodeDecodeError:
                raise RevisionError(f"{name} at `{rev}` is not UTF-8 text") from None
            out.append((f"{rev}:{name}", text))
    if not out:
        raise RevisionError(f"no .pricing files under {' '.join(paths)} at revision `{rev}`")
    return out
