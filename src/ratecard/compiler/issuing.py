"""The ledger's project settings: `grace N days` and `numbering SERIES "FORMAT"`.

Like `currency` and `rounding`, each is project-wide and may be written in any
file; stating one twice, differently, is E208. They go to `Compiled.issuing`,
not into the rating plan: they decide when and under what number `ratecard
issue` finalizes a document, never what it bills (docs/ledger.md).
"""

from __future__ import annotations

from ..diagnostics import Note, error
from .numbering import SERIES, FormatError, may_collide, parse_format
from ..model import Issuing
from ..syntax import nodes as n
from .context import Context
from .literals import plain_number, word

GRACE_UNITS = ("days", "day")


def issuing(ctx: Context) -> None:
    grace: n.GraceDecl | None = None
    days = 0
    formats: dict[str, n.NumberingDecl] = {}
    for f in ctx.files:
        for item in f.items:
            if isinstance(item, n.GraceDecl):
                value = plain_number(ctx, item.days, "a grace period", integer=True)
                unit = word(ctx, item.unit, GRACE_UNITS, "grace unit")
                if value is None or unit is None:
                    continue
                if grace is None:
                    grace, days = item, int(value)
                elif int(value) != days:
                    ctx.report(error(
                        "E208", f"the project's grace is stated twice, differently (`{item.days.raw} "
                                f"{item.unit.name}`)", item.days.span,
                        notes=[Note(f"`grace {grace.days.raw} {grace.unit.name}` is stated here", grace.span)]))
            elif isinstance(item, n.NumberingDecl):
                series = word(ctx, item.series, SERIES, "document series")
                if series is None:
                    continue
                try:
                    parse_format(item.format.value)
                except FormatError as exc:
                    ctx.report(error("E950", f"bad number format {item.format.raw}: {exc}", item.format.span,
                                     hints=['write it like "INV-{n:06}": text, then `{n}` with an optional '
                                            "zero-padded width"]))
                    continue
                first = formats.get(series)
                if first is None:
                    formats[series] = item
                elif first.format.value != item.format.value:
                    ctx.report(error(
                        "E208", f"the numbering of {series} is stated twice, differently ({item.format.raw})",
                        item.format.span,
                        notes=[Note(f"`numbering {series} {first.format.raw}` is stated here", first.span)]))
    chosen = {s: d.format.value for s, d in formats.items()}
    settings = Issuing(grace_days=days, **chosen)
    inv, cn = parse_format(settings.invoices), parse_format(settings.credit_notes)
    if may_collide(inv, cn):
        where = formats.get("credit_notes") or formats.get("invoices")
        ctx.report(error(
            "E951", f"invoices ({settings.invoices}) and credit notes ({settings.credit_notes}) could be "
                    "given the same number", where.format.span if where else None,
            hints=["give the two series different text around `{n}`, e.g. \"INV-{n:06}\" and \"CN-{n:06}\""]))
        return
    ctx.issuing = settings
