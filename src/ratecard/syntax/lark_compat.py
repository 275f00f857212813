"""Every Lark internal ratecard relies on, in one place.

Lark's public API builds the parser and the contextual lexer, but the two
things that make parsing fast and keywords whole (`syntax.lexer`) reach past
it: a plugin slot for our own lexer class, the lexer's compiled scanners and
callbacks, the keyword check Lark puts on names, and the token constructor
that skips a deprecation shim. None of these is promised by Lark's docs, so
they are named here, each with what ratecard does when a Lark release drops
it, and `tests/test_lark_compat.py` fails loudly if the installed Lark no
longer provides one. `pyproject.toml` pins lark to the minor version tested.

- `lexer_plugin`: Lark's `_plugins` option, which swaps our class in for
  `lark.lexer.ContextualLexer`. Without it there is no word-boundary rule for
  keywords, so there is no fallback: the test and the pin guard it.
- `new_token`: `Token._future_new` builds a token without the per-call check
  of the old keyword signature; plain `Token` when it is gone (slower, same
  tokens).
- `keyword_scanner`: the scanner inside Lark's `UnlessCallback` (is this
  `NAME` really the keyword `count`?), so the lexer can remember its answers;
  None when Lark changes it, and the callback then runs as it is.
- `scanner_regexps` / `fast_loop_supported`: a lexer's compiled alternations
  (`Scanner._mres`) and its `callback`, `ignore_types` and `newline_types`,
  which the fast loop applies itself; without them every parse uses Lark's
  own loop.

Two more are read in place, in the lexer's per-token loop where a call
through this module would cost on every token, and in completion; the test
checks them as well:

- the state Lark hands `ContextualLexer.lex`: `lexer_state.text` (`.text`,
  `.end`), `lexer_state.line_ctr` (`char_pos`, `line`, `line_start_pos`,
  `column`), `lexer_state.last_token`, `parser_state.position`, and the
  contextual lexer's `lexers` (per parser state), `root_lexer` and its
  `terminals_by_name`;
- `InteractiveParser.parser_state.value_stack`, the tokens and nodes before
  the cursor (`syntax.prefix`).

Completion also cuts an unfinished statement off the interactive parser's
stacks (`syntax.prefix._abandon`) through `parser_stacks`: the parser state's
`state_stack` and `value_stack` (cut in place, in step) and its parse table's
`states` (per state, the terminals it takes). Without them an unfinished
statement on an earlier line hides the context of the lines after it, as it
did before; the test checks they are there.
"""

from __future__ import annotations

import lark.lexer
from lark import Token

_UnlessCallback = getattr(lark.lexer, "UnlessCallback", None)

new_token = getattr(Token, "_future_new", Token)

# What the fast loop reads on each of Lark's per-state lexers, besides its scanner.
LEXER_ATTRIBUTES = ("callback", "ignore_types", "newline_types")


def lexer_plugin(contextual_lexer: type) -> dict:
    """The `Lark(...)` keyword argument that makes `contextual_lexer` Lark's contextual lexer."""
    return {"_plugins": {"ContextualLexer": contextual_lexer}}


def keyword_scanner(callback):
    """The scanner deciding whether a `NAME` is a keyword, if `callback` is Lark's
    `UnlessCallback` (which matches `scanner.fullmatch(text)` -> type or None)."""
    if _UnlessCallback is not None and type(callback) is _UnlessCallback:
        return getattr(callback, "scanner", None)
    return None


def scanner_regexps(lexer) -> list | None:
    """A lexer's compiled alternations, in Lark's order (building the scanner also
    builds `lexer.callback`); None when this Lark keeps them elsewhere."""
    mres = getattr(getattr(lexer, "scanner", None), "_mres", None)
    return mres if isinstance(mres, list) else None


def fast_loop_supported(root_lexer) -> bool:
    """Whether this Lark's lexers expose what the fast loop applies itself."""
    return scanner_regexps(root_lexer) is not None and all(
        hasattr(root_lexer, a) for a in LEXER_ATTRIBUTES)


def parser_stacks(ip) -> tuple[list, list, dict] | None:
    """(state stack, value stack, parse table by state) of an interactive parser, the
    stacks its own to cut; None when this Lark keeps them elsewhere (no cutting then)."""
    state = getattr(ip, "parser_state", None)
    states, values = getattr(state, "state_stack", None), getattr(state, "value_stack", None)
    table = getattr(getattr(getattr(state, "parse_conf", None), "parse_table", None), "states", None)
    if not isinstance(states, list) or not isinstance(values, list) or not isinstance(table, dict):
        return None
    return states, values, table
