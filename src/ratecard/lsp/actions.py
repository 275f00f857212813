"""Quick fixes for "did you mean" diagnostics: replace the name with the suggestion.

The compiler suggests the closest known name for an unknown meter or plan
(E201, E202, in the message), an unknown word (E300, in a hint) and an unknown
dimension (E401, in the message, on the whole rule). The fix replaces the
misspelled name itself: the diagnostic's span when it is exactly that name,
else each occurrence of the name inside the span (the rule's condition keys).
"""

from __future__ import annotations

import re

from lsprotocol import types

from ..diagnostics import Diagnostic, Span
from .analysis import Analysis
from ..syntax import without_bom
from .positions import Positions, lines_of
from .report import to_lsp, uri_of

_SUGGESTION = re.compile(r"did you mean `([^`]+)`\?")
_UNKNOWN = re.compile(r"unknown [a-z ]+? `([^`]+)`")


def suggestion(diag: Diagnostic) -> tuple[str, str] | None:
    """(misspelled, suggested) when the diagnostic suggests a name."""
    found = _SUGGESTION.search(diag.message) or next(
        (m for m in (_SUGGESTION.search(h) for h in diag.hints) if m), None)
    wrong = _UNKNOWN.search(diag.message)
    if found is None or wrong is None:
        return None
    return wrong.group(1), found.group(1)


def _targets(analysis: Analysis, diag: Diagnostic, wrong: str) -> list[Span]:
    span = diag.span
    if span is None:
        return []
    lines = lines_of(without_bom(analysis.texts.get(span.file, "")))  # columns as spans count
    if span.line == span.end_line and lines[span.line - 1][span.col - 1:span.end_col - 1] == wrong:
        return [span]
    out = []
    for line in range(span.line, span.end_line + 1):
        text = lines[line - 1]
        lo = span.col - 1 if line == span.line else 0
        hi = span.end_col - 1 if line == span.end_line else len(text)
        for m in re.finditer(rf"(?<![A-Za-z0-9_]){re.escape(wrong)}(?![A-Za-z0-9_])", text):
            if lo <= m.start() and m.end() <= hi and _is_name(analysis, span.file, line, m.start() + 1):
                out.append(Span(span.file, line, m.start() + 1, line, m.end() + 1))
    return out


def _is_name(analysis: Analysis, file: str, line: int, col: int) -> bool:
    """Is a name of the index (not a word inside a string or comment) at (line, col)?"""
    occ = analysis.index.at(file, line, col)
    if occ is not None and (occ.span.line, occ.span.col) == (line, col):
        return True
    return any(w.span.file == file and (w.span.line, w.span.col) == (line, col) for w in analysis.index.words)


def code_actions(analysis: Analysis, file: str, wanted: tuple[int, int, int, int],
                 positions: Positions, docs_base: str | None = None) -> list[types.CodeAction]:
    """Fixes for the diagnostics of `file` that touch `wanted` (line, col, end_line, end_col)."""
    out = []
    for diag in analysis.diagnostics_by_file().get(file, []):
        span = diag.span
        if span is None or (span.end_line, span.end_col) < wanted[:2] or (span.line, span.col) > wanted[2:]:
            continue
        found = suggestion(diag)
        if found is None:
            continue
        wrong, right = found
        targets = _targets(analysis, diag, wrong)
        if not targets:
            continue
        uri = uri_of(analysis.paths[file])
        edits = [types.TextEdit(positions.range(t, analysis.lines(file)), right) for t in targets]
        out.append(types.CodeAction(
            title=f"Replace `{wrong}` with `{right}`",
            kind=types.CodeActionKind.QuickFix,
            diagnostics=[to_lsp(diag, analysis, file, positions, docs_base)],
            edit=types.WorkspaceEdit(changes={uri: edits}),
            is_preferred=True,
        ))
    return out
