"""Reading a block's statements: what may appear once, and names that resolve to nothing.

Shared by `build` (Part 1 blocks) and `price_lists` (Part 2 statements), so that both
say "given twice" and "unknown meter" in the same words and codes.
"""

from __future__ import annotations

from typing import Iterable

from ..diagnostics import Note, did_you_mean, error
from ..syntax import nodes as n
from .context import Context

CADENCES = ("month", "quarter", "year", "period")


def singles(ctx: Context, block: str, body: Iterable, kinds: dict[type, str]) -> dict[type, object]:
    """The statements that may appear once per block; repeats are reported."""
    seen: dict[type, object] = {}
    for stmt in body:
        label = kinds.get(type(stmt))
        if label is None:
            continue
        if type(stmt) in seen:
            ctx.report(error("E203", f"`{label}` is given twice in {block}", stmt.span,
                             notes=[Note("first given here", seen[type(stmt)].span)]))
            continue
        seen[type(stmt)] = stmt
    return seen


def unknown_name(ctx: Context, ident: n.Ident, kind: str, known: Iterable[str], owner: str) -> None:
    """Report an unknown name; `owner` (the model id of what names it) is then unresolved."""
    ctx.unresolved.add(owner)
    guess = did_you_mean(ident.name, known)
    msg = f"unknown {kind} `{ident.name}`"
    if guess:
        msg += f" (did you mean `{guess}`?)"
    hints = [] if guess else [f"no {kind} of that name is defined in this project"]
    ctx.report(error("E201" if kind == "meter" else "E202", msg, ident.span, hints=hints))
