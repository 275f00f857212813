"""ratecard `Diagnostic`s as LSP diagnostics.

The range is the diagnostic's span in the client's position encoding; the
code links to its section of docs/diagnostics.md (`codeDescription`); notes
("first defined here", "the other rule") become related information pointing
at their own file and range; `help:` hints follow the message, as in the
terminal. A diagnostic about a whole file (E001) sits at its first character.
"""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types
from pygls.uris import from_fs_path

from ..diagnostics import Diagnostic, Severity, Span
from .analysis import Analysis
from .docs import doc_link
from .positions import Positions

SOURCE = "ratecard"


def uri_of(path: Path) -> str:
    return from_fs_path(str(path)) or path.as_uri()


def location(analysis: Analysis, span: Span, positions: Positions) -> types.Location | None:
    path = analysis.paths.get(span.file)
    if path is None:
        return None
    return types.Location(uri_of(path), positions.range(span, analysis.lines(span.file)))


def to_lsp(diag: Diagnostic, analysis: Analysis, file: str, positions: Positions,
           docs_base: str | None = None) -> types.Diagnostic:
    if diag.span is not None and diag.span.file == file:
        rng = positions.range(diag.span, analysis.lines(file))
    else:
        rng = types.Range(types.Position(0, 0), types.Position(0, 0))
    message = diag.message + "".join(f"\nhelp: {h}" for h in diag.hints)
    related = []
    for note in diag.notes:
        loc = location(analysis, note.span, positions)
        if loc is not None:
            related.append(types.DiagnosticRelatedInformation(loc, note.message))
    href = doc_link(diag.code, docs_base)
    return types.Diagnostic(
        range=rng,
        message=message,
        severity=(types.DiagnosticSeverity.Error if diag.severity is Severity.ERROR
                  else types.DiagnosticSeverity.Warning),
        code=diag.code,
        code_description=types.CodeDescription(href=href) if href else None,
        source=SOURCE,
        related_information=related or None,
    )


def publishable(analysis: Analysis, positions: Positions, docs_base: str | None = None
                ) -> dict[str, list[types.Diagnostic]]:
    """uri -> the diagnostics to publish for it, for every file of the project (empty clears)."""
    out: dict[str, list[types.Diagnostic]] = {}
    for name, diags in analysis.diagnostics_by_file().items():
        out[uri_of(analysis.paths[name])] = [to_lsp(d, analysis, name, positions, docs_base)
                                             for d in diags]
    return out
