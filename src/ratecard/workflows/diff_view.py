"""A pricing diff as people and machines read it: every figure already text.

    diff_view(diff, ...) -> dict            strings only, for diff.txt.j2 / diff.md.j2
    diff_json(view) -> dict                 the `--format json` document

Money goes through the invoices' formatter (`diff_compare.formatter`), so a
figure in a diff reads as it does on the invoice; percentages are computed
exactly and rounded once. Templates do no arithmetic.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Sequence

from ..money import EXACT, plain
from .diff_compare import ContractChange, LineChange, PricingDiff, formatter


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
