"""Go to definition and find references, from the name index."""

from __future__ import annotations

from ..diagnostics import Span
from .analysis import Analysis


def definitions(analysis: Analysis, file: str, line: int, col: int) -> list[Span]:
    occ = analysis.index.at(file, line, col)
    if occ is None:
        return []
    return list(analysis.index.definitions.get(occ.symbol, ()))


def references(analysis: Analysis, file: str, line: int, col: int, include_declaration: bool) -> list[Span]:
    occ = analysis.index.at(file, line, col)
    if occ is None:
        return []
    spans = list(analysis.index.references.get(occ.symbol, ()))
    if include_declaration:
        spans = list(analysis.index.definitions.get(occ.symbol, ())) + spans
    return sorted(spans)
