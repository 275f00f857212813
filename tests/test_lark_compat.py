"""The Lark internals ratecard relies on (`syntax/lark_compat.py`) are all there.

At run time a missing internal only costs speed (the lexer falls back to
Lark's own loop and callbacks), so nothing else would notice. These tests fail
by name when the installed Lark stops providing one: before lifting the pin in
`pyproject.toml`, make them pass on the new Lark.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import lark
import lark.lexer
from lark import Lark, Token
from lark.lexer import ContextualLexer
from packaging.requirements import Requirement

from ratecard.syntax import lark_compat, parse
from ratecard.syntax.grammar import grammar_text
from ratecard.syntax.lexer import FastContextualLexer
from ratecard.syntax.prefix import expected_after

ROOT = Path(__file__).resolve().parents[1]


def _lark_requirement() -> Requirement:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return next(Requirement(r) for r in project["dependencies"] if Requirement(r).name == "lark")


def test_the_installed_lark_is_the_pinned_minor():
    spec = _lark_requirement().specifier
    assert lark.__version__ in spec, f"lark {lark.__version__} is outside the pin {spec}"
    # the pin names one minor version: the one these tests ran on
    upper = [s.version for s in spec if s.operator == "<"]
    lower = [s.version for s in spec if s.operator == ">="]
    assert len(upper) == len(lower) == 1
    assert upper[0].split(".")[:2] != lower[0].split(".")[:2]
    assert int(upper[0].split(".")[1]) == int(lower[0].split(".")[1]) + 1, spec


def test_token_future_new_builds_tokens():
    assert hasattr(Token, "_future_new"), "Token._future_new is gone: tokens are built the slow way"
    assert lark_compat.new_token == Token._future_new
    tok = lark_compat.new_token("NAME", "summ", 4, 2, 3, 2, 7, 8)
    assert isinstance(tok, Token) and tok == "summ" and tok.type == "NAME"
    assert (tok.start_pos, tok.line, tok.column, tok.end_line, tok.end_column, tok.end_pos) == (4, 2, 3, 2, 7, 8)


class _Recording(FastContextualLexer):
    """The product's lexer, remembering the instance Lark built and the states it lexed with."""

    built: list = []
    states: list = []

    def __init__(self, conf, states, always_accept=()):
        super().__init__(conf, states, always_accept)
        _Recording.built.append(self)

    def lex(self, lexer_state, parser_state):
        _Recording.states.append((lexer_state, parser_state))
        yield from super().lex(lexer_state, parser_state)


def _ratecard_lexer() -> _Recording:
    _Recording.built.clear()
    _Recording.states.clear()
    parser = Lark(grammar_text(), parser="lalr", lexer="contextual", maybe_placeholders=False,
                  keep_all_tokens=True, strict=True, **lark_compat.lexer_plugin(_Recording))
    assert _Recording.built, "Lark ignored the `_plugins` option: our contextual lexer was never built"
    parser.parse('meter M { event "e" count }\n')
    return _Recording.built[-1]


def test_plugins_option_installs_our_contextual_lexer():
    lexer = _ratecard_lexer()
    assert isinstance(lexer, ContextualLexer)
    # and `parse` goes through it: a keyword stops at a word boundary only with our lexer
    tree, diags = parse('meter M { event "e" summ tokens }\n', "t.pricing")
    assert tree is None and "`summ`" in diags[0].message


def test_the_fast_loop_finds_what_it_reads():
    lexer = _ratecard_lexer()
    assert lark_compat.fast_loop_supported(lexer.root_lexer), (
        "the lexers lack Scanner._mres or one of " + ", ".join(lark_compat.LEXER_ATTRIBUTES))
    assert lexer.fast, "FastContextualLexer fell back to Lark's own loop"
    for state_lexer in set(lexer.lexers.values()):
        mres = lark_compat.scanner_regexps(state_lexer)
        assert mres and all(hasattr(m, "match") for m in mres)
        for name in lark_compat.LEXER_ATTRIBUTES:
            assert hasattr(state_lexer, name), name


def test_the_lexing_state_the_fast_loop_reads_in_place():
    lexer = _ratecard_lexer()
    assert isinstance(lexer.lexers, dict) and lexer.lexers
    assert "NAME" in lexer.root_lexer.terminals_by_name and callable(lexer.root_lexer.next_token)
    lexer_state, parser_state = _Recording.states[-1]
    text = lexer_state.text
    assert isinstance(text.text, str) and text.end == len(text.text)
    for name in ("char_pos", "line", "line_start_pos", "column"):
        assert isinstance(getattr(lexer_state.line_ctr, name), int), f"LineCounter.{name}"
    assert lexer_state.last_token == "}"
    assert isinstance(parser_state.position, int)


def test_completion_reads_the_interactive_parsers_value_stack():
    prefix = expected_after('meter M {\n  event "e"\n  ')
    assert "COUNT" in prefix.expected and prefix.stack, "InteractiveParser.parser_state.value_stack"
    assert any(getattr(t, "type", None) == "NAME" and t == "M" for t in prefix.stack)


def test_completion_can_cut_the_interactive_parsers_stacks():
    from ratecard.syntax.lark_compat import parser_stacks
    from ratecard.syntax.parser import shared_parser

    ip = shared_parser().lark.parse_interactive('meter M {\n  event "e"\n')
    ip.exhaust_lexer()
    stacks = parser_stacks(ip)
    assert stacks is not None, "ParserState.state_stack / value_stack / parse_conf.parse_table.states"
    states, values, table = stacks
    assert len(states) == len(values) + 1 and states[-1] in table and "COUNT" in table[states[-1]]


def test_unless_callback_still_decides_keywords():
    assert hasattr(lark.lexer, "UnlessCallback"), "lark.lexer.UnlessCallback is gone"
    lexer = _ratecard_lexer()
    scanners = []
    for state_lexer in set(lexer.lexers.values()):
        lark_compat.scanner_regexps(state_lexer)  # Lark builds `callback` with the scanner
        scanners += [lark_compat.keyword_scanner(cb) for cb in state_lexer.callback.values()]
    scanners = [s for s in scanners if s is not None]
    assert scanners, "no UnlessCallback (with a `scanner`) among the lexer callbacks"
    # the keyword check on names: `default` is the keyword DEFAULT, `defaults` a name
    assert "DEFAULT" in {s.fullmatch("default") for s in scanners}
    assert all(s.fullmatch("defaults") is None for s in scanners)
    assert lark_compat.keyword_scanner(lambda tok: tok) is None
