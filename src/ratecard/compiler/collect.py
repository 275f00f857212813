"""Pass 1: project settings and the global name tables.

Names are global across every file of the project. A second definition of a
name is reported at the second place with a note pointing at the first.
"""

from __future__ import annotations

import difflib

from ..diagnostics import Note, error
from ..money import known_currencies
from ..syntax import nodes as n
from .context import Context
from .literals import word

ROUNDING_MODES = ("half_up", "half_even")


def collect(ctx: Context) -> None:
    settings(ctx)
    names(ctx)


def names(ctx: Context) -> None:
    """The global name tables (JSON contracts, once added as files, included)."""
    tables = {
        n.MeterBlock: ("meter", ctx.meter_nodes),
        n.PlanBlock: ("plan", ctx.plan_nodes),
        n.ContractBlock: ("contract", ctx.contract_nodes),
    }
    for f in ctx.files:
        for item in f.items:
            if isinstance(item, n.TestBlock):
                ctx.test_nodes.append(item)
                continue
            entry = tables.get(type(item))
            if entry is None:
                continue
            kind, table = entry
            name = item.name.name
            first = table.get(name)
            if first is not None:
                ctx.report(error(
                    "E200", f"duplicate {kind} `{name}`", item.name.span,
                    notes=[Note(f"`{name}` is first defined here", first.name.span)],
                    hints=[f"{kind} names are global across every file of the project; rename one"],
                ))
                continue
            table[name] = item


def _shared_prefix(a: str, b: str) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def unknown_currency(ctx: Context, ident: n.Ident) -> None:
    """E300 for a currency code that is not ISO 4217's. Not `word`'s list of every allowed
    value (three hundred codes, printed in full); and of equally close codes the one that
    begins like the name written: `USX` was "did you mean `UZS`?" (the last of `USD` and
    `UZS` in the alphabet), where `USD` was meant."""
    name = ident.name.upper()
    known = sorted(known_currencies())
    close = difflib.get_close_matches(name, known, n=len(known), cutoff=0.6)
    guess = name if name in known else max(close, key=lambda c: (difflib.SequenceMatcher(None, name, c).ratio(),
                                                                  _shared_prefix(name, c), [-ord(ch) for ch in c]),
                                           default=None)
    hints = [f"did you mean `{guess}`?"] if guess else []
    hints.append("a currency is an ISO 4217 code in capitals, such as `USD`, `EUR`, `GBP` or `JPY`")
    ctx.report(error("E300", f"unknown currency `{ident.name}`", ident.span, hints=hints))


def settings(ctx: Context) -> None:
    """`currency` and `rounding` (JSON contracts need the currency: cents to amounts)."""
    first_currency: n.CurrencyDecl | None = None
    first_rounding: n.RoundingDecl | None = None
    for f in ctx.files:
        for item in f.items:
            if isinstance(item, n.CurrencyDecl):
                code = item.code.name
                if code not in known_currencies():
                    unknown_currency(ctx, item.code)
                    continue
                if first_currency is None:
                    first_currency = item
                    ctx.currency = code
                elif first_currency.code.name != code:
                    ctx.report(error(
                        "E208", f"the project's currency is stated twice, differently (`{code}`)",
                        item.code.span,
                        notes=[Note(f"`currency {first_currency.code.name}` is stated here",
                                    first_currency.span)],
                    ))
            elif isinstance(item, n.RoundingDecl):
                mode = word(ctx, item.mode, ROUNDING_MODES, "rounding mode")
                if mode is None:
                    continue
                if first_rounding is None:
                    first_rounding = item
                    ctx.rounding = mode
                elif first_rounding.mode.name != mode:
                    ctx.report(error(
                        "E208", f"the project's rounding is stated twice, differently (`{mode}`)",
                        item.mode.span,
                        notes=[Note(f"`rounding {first_rounding.mode.name}` is stated here",
                                    first_rounding.span)],
                    ))
