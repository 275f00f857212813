"""What the grammar accepts at a point of a file being edited (for completion).

An editor asks for completions in text that rarely parses: the line being
typed is unfinished, and lines above it may be too. The LALR parser knows, in
any state, which terminals it can shift next; this runs the project's own
parser over the text before the cursor, skipping any token it cannot use (so
an earlier broken line does not hide the context), and reports the parser's
state at the end: the terminals it accepts there and the value stack (tokens
and already-built nodes) that led to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lark import Token
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput

from .grammar import keywords
from .parser import shared_parser

# terminals whose text is not a fixed keyword: completion offers names/values for these
VALUE_TERMINALS = frozenset({"NAME", "STRING", "NUMBER", "DATE", "TIMESTAMP", "DOLLARS", "PERCENT"})


@dataclass(frozen=True)
class Prefix:
    """The parser's state after the text before the cursor."""

    expected: frozenset[str]  # terminal names it accepts next (`NAME`, `CHARGE`, `AGG_FN`...)
    words: frozenset[str]  # the keywords among them, spelled out (`charge`, `sum`, `max`...)
    stack: tuple  # the value stack: tokens and syntax nodes, innermost last
    recovered: bool  # some token before the end could not be used and was skipped


def expected_after(text: str) -> Prefix:
    """Parse `text` (a file cut at the cursor) and say what may come next."""
    p = shared_parser()
    state: dict = {"recovered": False}

    def on_error(exc: UnexpectedInput) -> bool:
        token = getattr(exc, "token", None)
        if isinstance(token, Token) and token.type == "$END":
            state["ip"] = exc.interactive_parser
            return False
        state["recovered"] = True
        return not isinstance(exc, UnexpectedCharacters) or exc.interactive_parser is not None

    with p.lock:
        p.builder.file = "<completion>"
        p.comments.clear()
        try:
            p.lark.parse(text, on_error=on_error)
        except LarkError:
            pass
        except Exception:  # noqa: BLE001 - a skipped token can reach a node builder half-formed
            state.pop("ip", None)
        ip = state.get("ip")
        if ip is None:  # the text is a whole file: what may start the next item
            expected = frozenset(_top_level(p.lark))
            stack: tuple = ()
        else:
            expected = frozenset(ip.accepts())
            stack = tuple(ip.parser_state.value_stack)
    return Prefix(expected, frozenset(_words(expected, p.lark)), stack, state["recovered"])


def _top_level(lark) -> set[str]:
    ip = lark.parse_interactive("")
    return set(ip.accepts()) - {"$END"}


def _words(expected: frozenset[str], lark) -> set[str]:
    out: set[str] = set()
    for name in expected - VALUE_TERMINALS:
        try:
            regexp = lark.get_terminal(name).pattern.to_regexp()
        except KeyError:
            continue
        out.update(w for w in keywords() if re.fullmatch(regexp, w))
    return out
