"""Semantic tokens: every word of a `.pricing` file classified, for any editor.

Two layers. The lexical one needs no parse: comments, strings, numbers
(amounts, dates, percentages) and the grammar's keywords. The semantic one,
from the name index of a file that parses, says what each name is: a meter,
plan or contract (marked `declaration` where it is defined), a dimension key,
a unit, an aggregated field, an enumerated setting. Editors without the
TextMate grammar (Neovim, Helix) get their colours from these alone.
"""

from __future__ import annotations

import re

from lsprotocol import types

from ..syntax import without_bom
from ..syntax.grammar import keywords
from .analysis import Analysis
from .positions import Positions

TOKEN_TYPES = ["keyword", "type", "class", "struct", "property", "enum", "variable", "enumMember",
               "string", "number", "comment", "operator"]
TOKEN_MODIFIERS = ["declaration"]
LEGEND = types.SemanticTokensLegend(token_types=TOKEN_TYPES, token_modifiers=TOKEN_MODIFIERS)

_SYMBOL_TYPE = {"meter": "type", "plan": "class", "contract": "struct",
                "dimension": "property", "contract-dimension": "property"}
_WORD_TYPE = {"unit": "enum", "field": "variable", "setting": "enumMember", "currency": "enumMember"}

_LEXER = re.compile(r"""
    (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"?)
  | (?P<number>-?\$-?\d[\d_]*(?:\.\d[\d_]*)?
             | \d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2}))?
             | -?\d[\d_]*(?:\.\d[\d_]*)?%?[KM]?(?![A-Za-z0-9_]))
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<operator>!=|=)
""", re.X)


def semantic_tokens(analysis: Analysis | None, file: str, text: str, positions: Positions) -> list[int]:
    """The LSP-encoded token data for one file's current text."""
    found: dict[tuple[int, int], tuple[int, str, int]] = {}  # (line, col) -> (length, type, modifiers)
    words = keywords()
    for number, line in enumerate(without_bom(text).split("\n"), start=1):  # columns as spans count
        for m in _LEXER.finditer(line):
            kind = m.lastgroup
            if kind == "word":
                if m.group() not in words:
                    continue
                kind = "keyword"
            found[(number, m.start() + 1)] = (m.end() - m.start(), kind, 0)
    tree_names = analysis is not None and analysis.tree(file) is not None \
        and analysis.texts.get(file) == text
    if tree_names:
        for occ in analysis.index.in_file(file):
            s = occ.span
            found[(s.line, s.col)] = (s.end_col - s.col, _SYMBOL_TYPE[occ.symbol[0]], 1 if occ.definition else 0)
        for word in analysis.index.words:
            s = word.span
            if s.file == file:
                found[(s.line, s.col)] = (s.end_col - s.col, _WORD_TYPE[word.role], 0)
    return _encode(found, text.split("\n"), positions)


def _encode(found: dict, lines: list[str], positions: Positions) -> list[int]:
    data: list[int] = []
    prev_line = prev_char = 0
    for (line, col), (length, kind, mods) in sorted(found.items()):
        start = positions.position(lines, line, col)
        end = positions.position(lines, line, col + length)
        delta_line = start.line - prev_line
        delta_char = start.character - (prev_char if delta_line == 0 else 0)
        data += [delta_line, delta_char, end.character - start.character, TOKEN_TYPES.index(kind), mods]
        prev_line, prev_char = start.line, start.character
    return data
