"""Lark exceptions -> one friendly `Diagnostic` (the only place that sees them).

The common mistakes get named messages: a missing `}` (pointing at the block it
should close), an unterminated string, a number or keyword where a name belongs.
Everything else says what was found and what the grammar expected there.
"""

from __future__ import annotations

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

import re

from ..diagnostics import Diagnostic, Note, Span, did_you_mean, error
from ..money import known_currencies
from . import nodes as n

_FRIENDLY = {
    "NAME": "a name",
    "STRING": 'a string ("...")',
    "NUMBER": "a number",
    "DATE": "a date (YYYY-MM-DD)",
    "TIMESTAMP": "a timestamp (2026-12-31T23:59:59Z)",
    "DOLLARS": "an amount like `$12.50`",
    "PERCENT": "a percentage like `20%`",
    "COUNT": "`count`",
    "AGG_FN": "`sum`, `max`, `unique` or `latest`",
    "CMP": "`=` or `!=`",
    "MOD_DIR": "`off` or `up`",
    "TIER_MODE": "`graduated` or `volume`",
    "DEFAULT": "`default`",
    "$END": "end of file",
}

_TOP_LEVEL = {"meter", "plan", "contract", "currency", "rounding", "grace", "numbering", "test"}


def _describe_terminal(name: str, lark: Lark) -> str:
    if name in _FRIENDLY:
        return _FRIENDLY[name]
    try:
        pattern = lark.get_terminal(name).pattern
    except KeyError:
        return name
    if pattern.type == "str":
        return f"`{pattern.value}`"
    return name.lower()


def _describe_token(tok: Token) -> str:
    if tok.type == "$END":
        return "end of file"
    kind = {
        "NAME": "name",
        "STRING": "string",
        "NUMBER": "number",
        "DATE": "date",
        "TIMESTAMP": "timestamp",
        "DOLLARS": "amount",
        "PERCENT": "percentage",
    }.get(tok.type)
    return f"{kind} `{tok}`" if kind else f"`{tok}`"


_ALTERNATIVES = re.compile(r"\(\?:([A-Za-z_|]+)\)")


def _keywords(names, lark: Lark) -> list[str]:
    """The keywords among the expected terminals (`net`; `sum`, `max`... of AGG_FN)."""
    words = []
    for name in names:
        try:
            pattern = lark.get_terminal(name).pattern
        except KeyError:
            continue
        if pattern.type == "str":
            found = [pattern.value]
        else:
            m = _ALTERNATIVES.fullmatch(pattern.value)
            found = m.group(1).split("|") if m else []
        words.extend(w for w in found if w.isidentifier())
    return sorted(set(words))


def _keyword_hints(word: str, expected, lark: Lark) -> list[str]:
    """For a word where a keyword belongs: the expected keyword it resembles, and the
    split it needs when it starts with a keyword (`net15` is `net 15`: a keyword ends at
    a word boundary). Any keyword: the parser may have moved past the one glued on."""
    hints = []
    close = did_you_mean(word, _keywords(expected, lark))
    if close:
        hints.append(f"did you mean `{close}`?")
    every = _keywords((t.name for t in lark.terminals), lark)
    prefix = max((k for k in every if word.startswith(k) and len(word) > len(k)), key=len, default=None)
    if prefix:
        hints.append(f"a keyword ends where its word ends: write `{prefix} {word[len(prefix):]}` "
                     "with a space if that is what you meant")
    return hints


def _expected(names, lark: Lark) -> str:
    described = sorted({_describe_terminal(x, lark) for x in names})
    if len(described) > 8:
        described = described[:8] + ["..."]
    if len(described) == 1:
        return described[0]
    return ", ".join(described[:-1]) + " or " + described[-1]


def _end_span(text: str, path: str) -> Span:
    lines = text.splitlines() or [""]
    last = len(lines)
    # point just past the last non-blank line, where the missing text belongs
    while last > 1 and not lines[last - 1].strip():
        last -= 1
    return Span.point(path, last, len(lines[last - 1]) + 1)


def _open_block(exc: UnexpectedToken, path: str) -> tuple[str, Span] | None:
    """The innermost `{` still open when the parser stopped, and what it opened."""
    ip = getattr(exc, "interactive_parser", None)
    if ip is None:
        return None
    stack = list(ip.parser_state.value_stack)
    closed = 0  # `}` already on the stack close the nearest `{` below them
    for i in range(len(stack) - 1, -1, -1):
        tok = stack[i]
        if isinstance(tok, Token) and tok.type == "RBRACE":
            closed += 1
        elif isinstance(tok, Token) and tok.type == "LBRACE":
            if closed:
                closed -= 1
                continue
            words = [str(t) for t in stack[max(0, i - 2):i] if isinstance(t, Token)]
            opener = " ".join(words) if words else "block"
            return opener, Span(path, tok.line, tok.column, tok.end_line, tok.end_column)
    return None


def _keyword_read_as_name(exc: UnexpectedToken, text: str) -> Token | None:
    """The token before the error, when it is a top-level keyword that the parser
    took for a name (as a condition key) at the start of a line."""
    ip = getattr(exc, "interactive_parser", None)
    stack = ip.parser_state.value_stack if ip is not None else ()
    prev = stack[-1] if stack else None
    if not (isinstance(prev, Token) and prev.type == "NAME" and str(prev) in _TOP_LEVEL):
        return None
    lines = text.splitlines()
    if not 1 <= prev.line <= len(lines) or lines[prev.line - 1][:prev.column - 1].strip():
        return None
    return prev


# Tokens an amount follows (`fee "x" : AMOUNT`, `minimum AMOUNT`, `+ AMOUNT`, ...): a number
# right after one of them, followed by a name, was read as `NUMBER CODE`, an amount in a
# currency named by that name.
_BEFORE_AMOUNT = {"COLON", "PLUS", "MINIMUM", "CAP", "CREDIT", "PRICE", "DISCOUNT", "ALLOWANCE", "PACKAGE",
                  "TOTAL", "SUBTOTAL", "APPLIED"}  # (the last three: a test's `expect total AMOUNT`, ...)
_CODE = re.compile(r"[A-Z]{3}")


def _bare_amount(exc: UnexpectedToken, path: str) -> Diagnostic | None:
    """E107 for a number written where an amount belongs without `$` or a currency code:
    `fee "x" : 250 per month` reads `250 per` as 250 in a currency named `per`, and the
    parser stops later (at `month`, or on the next line), where nothing is wrong. Found on
    the parser's stack: an amount whose code is not an ISO-like code (three capitals), or
    a number after a token an amount follows, with a name that is not one or nothing after.
    """
    ip = getattr(exc, "interactive_parser", None)
    stack = list(ip.parser_state.value_stack) if ip is not None else []
    if not stack:
        return None
    top = stack[-1]
    money = getattr(top, "money", top)  # a unit price holds its amount
    if isinstance(top, Tree) and top.children:
        money = getattr(top.children[0], "money", top.children[0])
    if isinstance(money, n.Money) and money.currency is not None and _not_a_code(money.currency.name):
        number = money.raw.split()[0]
        return _no_currency(number, Span.point(path, money.span.line, money.span.col, len(number)))
    tokens = [t if isinstance(t, Token) else None for t in stack[-3:]]
    number = None
    if len(tokens) >= 3 and tokens[-2] is not None and tokens[-2].type == "NUMBER" and tokens[-1] is not None \
            and tokens[-1].type == "NAME" and _not_a_code(str(tokens[-1])):
        before, number = tokens[-3], tokens[-2]
    elif len(tokens) >= 2 and tokens[-1] is not None and tokens[-1].type == "NUMBER" \
            and set(exc.expected or ()) == {"NAME"}:
        before, number = tokens[-2], tokens[-1]
    if number is None or before is None or before.type not in _BEFORE_AMOUNT:
        return None
    return _no_currency(str(number), Span.point(path, number.line, number.column, len(str(number))))


def _not_a_code(word: str) -> bool:
    """Neither a code's shape (three capitals) nor a known code in small letters (`usd`,
    which the compiler's E301 says how to write)."""
    return not _CODE.fullmatch(word) and word.upper() not in known_currencies()


def _no_currency(number: str, span: Span) -> Diagnostic:
    return error("E107", f"amount `{number}` without a currency", span,
                 hints=[f"write `${number}` in the project's currency, or the ISO code after the number: "
                        f"`{number} EUR`"])


def translate(exc: Exception, text: str, path: str, lark: Lark) -> Diagnostic:
    if isinstance(exc, UnexpectedCharacters):
        return _unexpected_char(exc, text, path)
    if isinstance(exc, UnexpectedToken):
        return _unexpected_token(exc, text, path, lark)
    if isinstance(exc, UnexpectedEOF):
        return error("E100", "unexpected end of file", _end_span(text, path))
    return error("E100", f"cannot parse this file: {exc}", Span.point(path, 1, 1))


def _unexpected_char(exc: UnexpectedCharacters, text: str, path: str) -> Diagnostic:
    line_text = text.splitlines()[exc.line - 1] if exc.line - 1 < len(text.splitlines()) else ""
    ch = exc.char
    if ch == '"':
        width = len(line_text) - exc.column + 1
        return error("E102", "unterminated string", Span.point(path, exc.line, exc.column, width),
                     hints=['close the string with `"` on the same line'])
    if ch == "'":
        return error("E103", "strings use double quotes", Span.point(path, exc.line, exc.column),
                     hints=["write \"...\" instead of '...'"])
    shown = repr(ch)[1:-1] if not ch.isprintable() else ch
    hints = []
    if ch == "$":
        hints.append("amounts are written `$12.50`, with digits right after `$`")
    elif ch in "€£¥":
        hints.append("write the ISO code after the number: `12.50 EUR`")
    elif ch.isdigit():
        hints.append("dates are written YYYY-MM-DD; percentages `20%`; amounts `$12.50`")
    return error("E101", f"unexpected character `{shown}`", Span.point(path, exc.line, exc.column),
                 hints=hints)


def _unexpected_token(exc: UnexpectedToken, text: str, path: str, lark: Lark) -> Diagnostic:
    tok = exc.token
    expected = set(exc.expected or ())
    if tok.type == "$END":
        block = _open_block(exc, path)
        span = _end_span(text, path)
        if "RBRACE" in expected and block:
            opener, open_span = block
            return error("E104", f"missing `}}`: `{opener} {{` is never closed", span,
                         notes=[Note("the block opened here", open_span)],
                         hints=["add `}` at the end of the block"])
        return error("E100", f"unexpected end of file; expected {_expected(expected, lark)}", span)

    bare = _bare_amount(exc, path)
    if bare is not None:
        return bare
    span = Span(path, tok.line, tok.column, tok.end_line or tok.line,
                tok.end_column or tok.column + len(str(tok)))
    keyword = _keyword_read_as_name(exc, text)
    if keyword is not None and tok.type in ("NAME", "STRING"):
        # inside a block of rules a line `meter N {` reads as a condition on a key
        # named `meter`: the real mistake is the missing `}` before that line
        block = _open_block(exc, path)
        if block:
            return error("E104", f"missing `}}` before `{keyword}`: `{block[0]} {{` is never closed",
                         Span(path, keyword.line, keyword.column, keyword.end_line, keyword.end_column),
                         notes=[Note("the block opened here", block[1])],
                         hints=["add `}` where the block ends"])
    if "RBRACE" in expected and str(tok) in _TOP_LEVEL:
        block = _open_block(exc, path)
        notes = [Note("the block opened here", block[1])] if block else []
        what = f"`{block[0]} {{`" if block else "the block above"
        return error("E104", f"missing `}}` before `{tok}`: {what} is never closed", span,
                     notes=notes, hints=["add `}` where the block ends"])
    if "NAME" in expected and tok.type in {"NUMBER", "DOLLARS", "PERCENT", "DATE", "TIMESTAMP", "STRING"}:
        hints = ["names start with a letter or `_` and contain letters, digits and `_`"]
        if tok.type == "STRING":
            hints = ["names are written without quotes"]
        return error("E105", f"expected a name, found {_describe_token(tok)}", span, hints=hints)
    if expected == {"DATE"} or expected == {"DATE", "TIMESTAMP"}:
        return error("E106", f"expected a date, found {_describe_token(tok)}", span,
                     hints=["dates are written YYYY-MM-DD, timestamps 2026-12-31T23:59:59Z"])
    hints = _keyword_hints(str(tok), expected, lark) if tok.type == "NAME" else []
    return error("E100", f"unexpected {_describe_token(tok)}; expected {_expected(expected, lark)}",
                 span, hints=hints)
