"""A pricing diff as people and machines read it: every figure already text.

    diff_view(diff, ...) -> DiffView        text only, for diff.txt.j2 / diff.md.j2
    diff_json(view) -> dict                 the `--format json` document

Money goes through the invoices' formatter (`diff_compare.formatter`), so a
figure in a diff reads as it does on the invoice; percentages are computed
exactly and rounded once. Templates do no arithmetic. The records below are
the templates' context (what a `--template-dir` version may print); beside each
figure as text they keep it as the JSON writes it (`Decimal` as a string).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import ROUND_HALF_UP, Decimal
from typing import Sequence

from ..money import EXACT, plain
from ..report.render import code_span
from ..report.visible import dimensions_text, visible
from .diff_compare import ContractChange, LineChange, PricingDiff, Reason, formatter


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
    return dimensions_text(dims, quoted=True)


def _md(text: str) -> str:
    return text.replace("|", "\\|")


@dataclass(frozen=True)
class LineView:
    """A line whose amount moved, or that one side only bills."""

    contract: str  # as the views show it (`visible`: a JSON contract's name is any text)
    contract_id: str  # as it is, for the JSON
    period: str  # "2026-01-01 to 2026-02-01", with " (segment ... to ...)" for a segment
    period_start: str
    period_end: str
    kind: str
    charge: str
    description: str
    dimensions: str  # `model = "gpt-4"`
    dimensions_map: dict[str, str]
    label: str  # the charge and its dimensions
    quantity: str  # "1,815", or "1,000 → 1,200" when it moved
    quantity_old: str | None  # the JSON's figures; None on the side without the line
    quantity_new: str | None
    old: str  # "$65.64", or "—"
    new: str
    old_amount: str | None
    new_amount: str | None
    change: str  # "+$3.00"
    change_amount: str
    rule_old: str | None
    rule_new: str | None
    why: str  # every reason's text, "; " apart
    reasons: list[Reason]
    md_contract: str  # the same texts escaped for a Markdown table
    md_label: str
    md_why: str


@dataclass(frozen=True)
class Figures:
    """Old and new money of a contract or of the whole diff, before and after credits."""

    old: str  # "—" for a contract one side does not have
    new: str
    change: str
    percent: str  # "+14.4%", or "new" when the old side billed nothing
    old_after_credits: str
    new_after_credits: str
    change_after_credits: str
    old_subtotal: str  # the JSON's figures
    new_subtotal: str
    change_amount: str
    percent_value: str | None
    old_total: str
    new_total: str
    total_change: str


@dataclass(frozen=True)
class ContractView(Figures):
    contract: str = ""  # as the views show it (`visible`)
    contract_id: str = ""  # as it is, for the JSON
    status: str = ""  # added | removed | changed | unchanged
    md_contract: str = ""


@dataclass(frozen=True)
class DiffView:
    """The templates' context, and what the JSON document is written from."""

    old_label: str
    new_label: str
    usage: list[str]
    usage_text: str
    through: str
    currency: str
    basis: str
    unchanged: bool
    total: Figures
    contracts: list[ContractView]  # the contracts that moved, most money first
    all_contracts: list[ContractView]
    contract_count: int
    unchanged_contracts: list[str]
    unchanged_contracts_text: str
    widths: dict[str, int]  # text columns: contract, old, new, change, percent
    lines: list[LineView]  # the lines shown (`--max-lines`)
    all_lines: list[LineView]
    line_count: int
    lines_hidden: int
    events_read: int
    events_billed_old: int
    events_billed_new: int

    def context(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _line_view(c: LineChange, currency: str) -> LineView:
    k = c.key
    side = c.new or c.old
    period = f"{k.period_start} to {k.period_end}"
    if k.segment and side.line.segment is None:  # an advance fee: the period it pays for
        period += f" (in advance for {k.segment[0]} to {k.segment[1]})"
    elif k.segment:
        period += f" (segment {k.segment[0]} to {k.segment[1]})"
    # shown: every digit of the quantity billed, grouped; a prorated fee's exact share (7/30)
    shown = formatter(currency).quantity
    exact_old = shown(c.old.line.exact_quantity) if c.old else None
    exact_new = shown(c.new.line.exact_quantity) if c.new else None
    if exact_old == exact_new or exact_old is None or exact_new is None:
        quantity = exact_new or exact_old
    else:
        quantity = f"{exact_old} → {exact_new}"
    label = f"{visible(k.charge)} {_dims_text(k.dimensions)}".rstrip()  # a discount's charge: its description
    why = "; ".join(r.text for r in c.reasons)
    return LineView(
        contract=visible(k.contract),
        contract_id=k.contract,
        period=period,
        period_start=k.period_start.isoformat(),
        period_end=k.period_end.isoformat(),
        kind=k.kind,
        charge=k.charge,
        description=side.line.description,
        dimensions=_dims_text(k.dimensions),
        dimensions_map=dict(k.dimensions),
        label=label,
        quantity=quantity,
        quantity_old=plain(c.old.line.quantity) if c.old else None,
        quantity_new=plain(c.new.line.quantity) if c.new else None,
        old=money_text(c.old_amount, currency) if c.old else "—",
        new=money_text(c.new_amount, currency) if c.new else "—",
        old_amount=str(c.old_amount) if c.old else None,
        new_amount=str(c.new_amount) if c.new else None,
        change=money_text(c.change, currency, sign=True),
        change_amount=str(c.change),
        rule_old=c.old.line.rule if c.old else None,
        rule_new=c.new.line.rule if c.new else None,
        why=why,
        reasons=list(c.reasons),
        md_contract=_md(visible(k.contract)),
        md_label=code_span(label),  # exact, whatever backticks or spaces a value holds
        md_why=_md(why),
    )


def _figures(moved: ContractChange | PricingDiff, currency: str) -> dict:
    """The `Figures` fields of a contract or of the whole diff."""
    old_subtotal, new_subtotal = moved.old_subtotal, moved.new_subtotal
    old_total, new_total = moved.old_total, moved.new_total
    return dict(
        old=money_text(old_subtotal, currency),
        new=money_text(new_subtotal, currency),
        change=money_text(new_subtotal - old_subtotal, currency, sign=True),
        percent=percent_text(old_subtotal, new_subtotal),
        old_after_credits=money_text(old_total, currency),
        new_after_credits=money_text(new_total, currency),
        change_after_credits=money_text(new_total - old_total, currency, sign=True),
        old_subtotal=str(old_subtotal),
        new_subtotal=str(new_subtotal),
        change_amount=str(new_subtotal - old_subtotal),
        percent_value=_pct_json(old_subtotal, new_subtotal),
        old_total=str(old_total),
        new_total=str(new_total),
        total_change=str(new_total - old_total),
    )


def _contract_view(c: ContractChange, currency: str) -> ContractView:
    figures = _figures(c, currency)
    if not c.in_old:
        figures["old"] = "—"
    if not c.in_new:
        figures["new"] = "—"
    shown = visible(c.contract)
    return ContractView(contract=shown, contract_id=c.contract, status=c.status, md_contract=_md(shown), **figures)


def diff_view(d: PricingDiff, *, old_label: str, new_label: str, usage: Sequence[str],
              max_lines: int | None = None) -> DiffView:
    """Everything the templates and the JSON print, as text: no arithmetic left to do."""
    return joined_view(d, [line_views(d)], old_label=old_label, new_label=new_label, usage=usage,
                       max_lines=max_lines)


def line_views(d: PricingDiff) -> list[LineView]:
    """The moved lines of `d` as text: what a process that compared part of the contracts
    hands back (pickled), a fraction of the invoices it compared."""
    return [_line_view(c, d.currency) for c in d.lines]


def contract_views(d: PricingDiff) -> list[ContractView]:
    """Each contract of `d` as text (made where its range was compared, as `line_views`)."""
    return [_contract_view(c, d.currency) for c in d.contracts]


def joined_view(d: PricingDiff, parts: Sequence[Sequence[LineView]], *, old_label: str, new_label: str,
                usage: Sequence[str], max_lines: int | None = None,
                contracts: Sequence[ContractView] | None = None) -> DiffView:
    """The view of a diff whose moved lines are given as text, in `parts` one after another
    (the lines of consecutive ranges of contracts, `line_views`); `d` holds every contract,
    and `contracts` their views when they are made already (`contract_views`, in `d`'s order)."""
    cur = d.currency
    contracts = contract_views(d) if contracts is None else list(contracts)
    moved = sorted((i for i, c in enumerate(d.contracts) if c.status != "unchanged"),
                   key=lambda i: (-abs(d.contracts[i].change), -abs(d.contracts[i].total_change),
                                  d.contracts[i].contract))
    rows = [contracts[i] for i in moved]  # the same views, most money first
    unchanged = [visible(c.contract) for c in d.contracts if c.status == "unchanged"]
    lines = [line for part in parts for line in part]
    shown = lines if max_lines is None else lines[:max_lines]
    total = Figures(**_figures(d, cur))
    widths = {"contract": max([len(r.contract) for r in rows] + [len("total"), len("contract")])}
    for col in ("old", "new", "change", "percent"):
        widths[col] = max([len(getattr(r, col)) for r in rows] + [len(getattr(total, col)), len(col)])
    return DiffView(
        old_label=old_label,
        new_label=new_label,
        usage=list(usage),
        usage_text=", ".join(usage),
        through=d.through.isoformat(),
        currency=cur,
        basis="sum of usage invoice subtotals (fees, usage, minimums), before prepaid credits",
        unchanged=not lines and d.unchanged,
        total=total,
        contracts=rows,
        all_contracts=contracts,
        contract_count=len(d.contracts),
        unchanged_contracts=unchanged,
        unchanged_contracts_text=", ".join(unchanged),
        widths=widths,
        lines=shown,
        all_lines=lines,
        line_count=len(lines),
        lines_hidden=len(lines) - len(shown),
        events_read=d.events_read,
        events_billed_old=d.events_billed_old,
        events_billed_new=d.events_billed_new,
    )


def _figures_json(f: Figures) -> dict:
    return {"old_subtotal": f.old_subtotal, "new_subtotal": f.new_subtotal, "change": f.change_amount,
            "percent": f.percent_value, "old_total": f.old_total, "new_total": f.new_total,
            "total_change": f.total_change}


def diff_json(view: DiffView) -> dict:
    """The `--format json` document: every contract and every moved line, machine-readable."""
    return {
        "old": view.old_label,
        "new": view.new_label,
        "usage": view.usage,
        "through": view.through,
        "currency": view.currency,
        "basis": "usage_subtotal",
        "unchanged": view.unchanged,
        "events": {"read": view.events_read, "billed_old": view.events_billed_old,
                   "billed_new": view.events_billed_new},
        "total": _figures_json(view.total),
        "contracts": [{"contract": c.contract_id, "status": c.status, **_figures_json(c)}
                      for c in view.all_contracts],
        "lines": [{
            "contract": ln.contract_id,
            "period": {"start": ln.period_start, "end": ln.period_end},
            "kind": ln.kind,
            "charge": ln.charge,
            "dimensions": ln.dimensions_map,
            "old": None if ln.old_amount is None else
            {"quantity": ln.quantity_old, "amount": ln.old_amount, "rule": ln.rule_old},
            "new": None if ln.new_amount is None else
            {"quantity": ln.quantity_new, "amount": ln.new_amount, "rule": ln.rule_new},
            "change": ln.change_amount,
            "reasons": [{"code": r.code, "text": r.text} for r in ln.reasons],
        } for ln in view.all_lines],
    }
