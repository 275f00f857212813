"""What the grammar accepts at a point of a file being edited (for completion).

An editor asks for completions in text that rarely parses: the line being
typed is unfinished, and lines above it may be too. The LALR parser knows, in
any state, which terminals it can shift next; this runs the project's own
parser over the text before the cursor, skipping any token it cannot use (so
an earlier broken line does not hide the context), and reports the parser's
state at the end: the terminals it accepts there and the value stack (tokens
and already-built nodes) that led to it.

Skipping alone is not enough when a statement is left unfinished (`charge M :`
without a price, `title "abc` without its closing quote): the parser would
wait for the rest of it and skip everything after. So a token on a later line
than the unfinished statement, which the parser cannot take, first drops that
statement (`_abandon`): the block it is in then takes the token as the start of
the next statement.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from lark import Token
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from .grammar import keywords
from .lark_compat import parser_stacks
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
        if isinstance(exc, UnexpectedToken) and exc.interactive_parser is not None:
            _abandon(exc.interactive_parser, exc.token, _keyword_patterns(p.lark))
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


def _abandon(ip, token: Token, patterns: dict[str, re.Pattern]) -> None:
    """Drop the statement left unfinished on an earlier line than `token`, if the block it is in
    can take `token`, and feed it; else leave the parser as it was (the token is skipped).

    The lexer read `token` in the unfinished statement's state, where a keyword may have been
    lexed as a NAME (`title "abc` then `sum x`): the block gets it as the keyword it spells."""
    stacks = parser_stacks(ip)
    if stacks is None:
        return  # this Lark's parser cannot be cut: the token is skipped, as before
    states, values, table = stacks
    top = values[-1] if values else None
    if not (isinstance(top, Token) and top.line is not None and token.line is not None
            and top.line < token.line):
        return  # nothing unfinished on an earlier line: the token itself is the stray one
    depth = len(values)
    while depth > 0:
        below = values[depth - 1]
        if isinstance(below, Token) and below.type == "LBRACE":
            break  # never out of the block the statement is in
        depth -= 1
        accepted = table[states[depth]]
        kind = token.type if token.type in accepted else next(
            (t for t in sorted(accepted) if t in patterns and patterns[t].fullmatch(token)), None)
        if kind is not None:
            del states[depth + 1:], values[depth:]
            ip.feed_token(Token.new_borrow_pos(kind, str(token), token))
            return


@functools.lru_cache(maxsize=2)
def _keyword_patterns(lark) -> dict[str, re.Pattern]:
    """The keyword terminals' patterns by terminal name (`CHARGE`, `AGG_FN`...)."""
    out = {}
    for t in lark.terminals:
        if t.name not in VALUE_TERMINALS and t.pattern.type in ("str", "re"):
            out[t.name] = re.compile(t.pattern.to_regexp())
    return out


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
