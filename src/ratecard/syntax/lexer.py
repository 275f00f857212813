"""A tighter loop over Lark's own contextual lexer (same tables, same tokens).

Lark's `ContextualLexer` spends most of a parse in Python bookkeeping around
each regex match (a `LineCounter`, a method call per match, tokens built for
ignored whitespace). This subclass keeps everything that decides *what* a
token is -- the per-parser-state scanners Lark compiles (terminal priorities,
keyword-vs-name callbacks, the `COMMENT` callback) -- and only replaces the
loop that applies them, which is where lexing spends its time (figures:
docs/scale.md, "Histories: syntax and compiler").

Errors are not reimplemented: when the current state's scanner does not match,
the lexer hands the position back to Lark's own `next_token`, so
`UnexpectedCharacters` / `UnexpectedToken` are raised by Lark exactly as
without this class. `tests/test_syntax.py` checks both lexers agree, tokens
and errors, on the conformance files and on random mutations of them.

Both lexers (this one, and `WordLexer` that the comparison runs with Lark's own
loop) add one rule Lark's contextual lexer lacks: **a keyword ends at a word
boundary**. A state whose parser cannot take a name there has no `NAME` in its
scanner, so Lark would read `summ` as the keyword `sum` followed by `m`, and
`net15` as `net 15`. `whole_word` turns any word-like token that stops inside
a word into the whole word, as a `NAME`: the parser then rejects it where a
keyword belongs, and `syntax.errors` offers the keyword it resembles.
"""

from __future__ import annotations

import re
import string

from lark.exceptions import LexError, UnexpectedCharacters, UnexpectedToken
from lark.lexer import ContextualLexer, Token

from .lark_compat import fast_loop_supported, keyword_scanner, new_token, scanner_regexps


class _Memo:
    """Lark's keyword check on names (`lark_compat.keyword_scanner`), remembering
    which texts are keywords."""

    __slots__ = ("scanner", "types")

    def __init__(self, scanner):
        self.scanner = scanner
        self.types: dict[str, str | None] = {}

    def __call__(self, tok: Token) -> Token:
        value = tok.value
        try:
            kind = self.types[value]
        except KeyError:
            kind = self.types[value] = self.scanner.fullmatch(value)
        if kind is not None:
            tok.type = kind
        return tok


_WORD_CHARS = frozenset(string.ascii_letters + string.digits + "_")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # the grammar's NAME
_WORD_END = re.compile(r"[A-Za-z0-9_]*")


def whole_word(tok: Token, text: str, end: int) -> Token | None:
    """The whole word when `tok`, a keyword, stops inside a longer word (`sum` of
    `summ`), as a `NAME` token; None when `tok` ends where its word ends.

    A `NAME` always ends at a word boundary (its pattern is greedy), and numbers,
    dates, amounts and punctuation are not words, so only keywords are affected.
    """
    pos = tok.end_pos
    if pos >= end or text[pos] not in _WORD_CHARS or tok.type == "NAME" or not _WORD.fullmatch(tok.value):
        return None
    stop = _WORD_END.match(text, pos, end).end()
    return new_token("NAME", text[tok.start_pos:stop], tok.start_pos, tok.line, tok.column,
                      tok.line, tok.column + stop - tok.start_pos, stop)


class WordLexer(ContextualLexer):
    """Lark's contextual lexer with keywords ending at a word boundary (`whole_word`)."""

    def lex(self, lexer_state, parser_state):
        text_obj = lexer_state.text
        text = getattr(text_obj, "text", text_obj)
        if not isinstance(text, str):
            yield from super().lex(lexer_state, parser_state)
            return
        end = getattr(text_obj, "end", len(text))
        for tok in super().lex(lexer_state, parser_state):
            word = whole_word(tok, text, end)
            if word is not None:  # go on after the word (words hold no newline)
                line_ctr = lexer_state.line_ctr
                line_ctr.char_pos = word.end_pos
                line_ctr.column = word.end_column
                lexer_state.last_token = tok = word
            yield tok


class FastContextualLexer(WordLexer):
    """Drop-in for `lark.lexer.ContextualLexer` (plugged in through the Lark shim, lark_compat)."""

    def __init__(self, conf, states, always_accept=()):
        super().__init__(conf, states, always_accept)
        self._tables: dict[int, tuple] = {}  # parser state -> what its lexer matches with
        # The fast loop reads a few Lark internals (`lark_compat`); if this Lark
        # lacks them, every parse simply uses Lark's own loop.
        self.fast = fast_loop_supported(self.root_lexer)

    def _table(self, state: int) -> tuple:
        lexer = self.lexers[state]
        mres = tuple(scanner_regexps(lexer))  # built lazily by Lark, with `lexer.callback`
        # Ignored terminals without a callback (whitespace) become an atomic prefix
        # of the state's pattern, so one `match` skips them and reads the token.
        # Only the skipping is fused: the alternation, its order and its groups
        # are Lark's, so the token found is the one Lark would find.
        by_name = self.root_lexer.terminals_by_name
        skip = [by_name[name].pattern.to_regexp() for name in sorted(lexer.ignore_types)
                if name not in lexer.callback and name in by_name]
        if skip and len(mres) == 1:
            prefix = "(?>(?:%s)*)" % "|".join(f"(?:{r})" for r in skip)
            mres = (re.compile(prefix + "(?:" + mres[0].pattern + ")", mres[0].flags),)
        # Lark's keyword check on names (is this NAME really the keyword `count`?)
        # depends only on the text: remember its answers.
        callback = {}
        for name, cb in lexer.callback.items():
            scanner = keyword_scanner(cb)
            callback[name] = cb if scanner is None else _Memo(scanner)
        table = (lexer, mres, callback, lexer.ignore_types, lexer.newline_types)
        self._tables[state] = table
        return table

    def lex(self, lexer_state, parser_state):
        text_obj = lexer_state.text
        text = getattr(text_obj, "text", text_obj)
        if not self.fast or not isinstance(text, str):  # (bytes input: not used by ratecard)
            yield from super().lex(lexer_state, parser_state)
            return
        end = getattr(text_obj, "end", len(text))
        line_ctr = lexer_state.line_ctr
        pos, line, line_start = line_ctr.char_pos, line_ctr.line, line_ctr.line_start_pos
        tables = self._tables
        try:
            while True:
                state = parser_state.position
                lexer, mres, callback, ignore, newline = tables.get(state) or self._table(state)
                while True:
                    if pos >= end:
                        line_ctr.char_pos, line_ctr.line, line_ctr.line_start_pos = pos, line, line_start
                        line_ctr.column = pos - line_start + 1
                        raise EOFError()
                    m = None
                    for mre in mres:
                        m = mre.match(text, pos, end)
                        if m:
                            break
                    if not m:
                        # let Lark raise its own UnexpectedCharacters from here
                        line_ctr.char_pos, line_ctr.line, line_ctr.line_start_pos = pos, line, line_start
                        line_ctr.column = pos - line_start + 1
                        tok = lexer.next_token(lexer_state, parser_state)
                        pos, line, line_start = line_ctr.char_pos, line_ctr.line, line_ctr.line_start_pos
                        break
                    type_ = m.lastgroup
                    start = m.start(type_)
                    if start > pos:  # skipped whitespace
                        newlines = text.count("\n", pos, start)
                        if newlines:
                            line += newlines
                            line_start = text.rindex("\n", pos, start) + 1
                    value = m.group(type_)
                    start_line, start_col = line, start - line_start + 1
                    pos = m.end()
                    if type_ in newline:
                        newlines = value.count("\n")
                        if newlines:
                            line += newlines
                            line_start = start + value.rindex("\n") + 1
                    if type_ in ignore:
                        if type_ in callback:
                            callback[type_](new_token(type_, value, start, start_line, start_col,
                                                       line, pos - line_start + 1, pos))
                        continue
                    tok = new_token(type_, value, start, start_line, start_col,
                                     line, pos - line_start + 1, pos)
                    if type_ in callback:
                        tok = callback[type_](tok)
                        if not isinstance(tok, Token):
                            raise LexError("Callbacks must return a token (returned %r)" % tok)
                    if pos < end and text[pos] in _WORD_CHARS:
                        word = whole_word(tok, text, end)
                        if word is not None:
                            tok, pos = word, word.end_pos
                    lexer_state.last_token = tok
                    break
                line_ctr.char_pos, line_ctr.line, line_ctr.line_start_pos = pos, line, line_start
                line_ctr.column = pos - line_start + 1
                yield tok
        except EOFError:  # the line counter is where the input ended (set by us or by Lark)
            pass
        except UnexpectedCharacters as e:
            # as in Lark: a terminal of another context gives the nicer UnexpectedToken
            try:
                last_token = lexer_state.last_token
                token = self.root_lexer.next_token(lexer_state, parser_state)
                raise UnexpectedToken(token, e.allowed, state=parser_state, token_history=[last_token],
                                      terminals_by_name=self.root_lexer.terminals_by_name)
            except UnexpectedCharacters:
                raise e
