"""Code-point spans <-> LSP positions, in the encoding agreed with the client.

Lark counts columns in code points (1-based); LSP positions are 0-based and
count columns in the code units of the negotiated encoding: UTF-16 unless
client and server agree on another (LSP 3.17 `positionEncoding`). The server
prefers UTF-32 (code points: no conversion at all), then UTF-8, and falls back
to UTF-16, which every client supports. `é` is one unit in UTF-16 and UTF-32 and
two in UTF-8; an emoji outside the Basic Multilingual Plane is two UTF-16 units.

A byte order mark at the start of a file is no character to the compiler (its
spans count from after it), but a client that keeps it in the text it sends
counts it; on line 1 of such a text a span's column is shifted past it here
(files read from disk have it dropped already: `DiskTexts`).

The arithmetic is pygls's `PositionCodec`; this module adds the choice of
encoding and the translation between ratecard's `Span` and LSP's `Range`.
"""

from __future__ import annotations

from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec

from ..diagnostics import Span
from ..syntax.parser import BOM

PREFERENCE = (
    types.PositionEncodingKind.Utf32,
    types.PositionEncodingKind.Utf8,
    types.PositionEncodingKind.Utf16,
)


def prefer_code_points(capabilities: types.ClientCapabilities) -> None:
    """Order the client's offered encodings by the server's preference.

    pygls takes the first offered encoding it supports; putting ours first makes
    it pick UTF-32 or UTF-8 when the client offers them. A client that offers
    none keeps UTF-16 (the protocol's default).
    """
    general = capabilities.general
    if general is None or not general.position_encodings:
        return
    offered = list(general.position_encodings)
    rank = {kind: i for i, kind in enumerate(PREFERENCE)}
    offered.sort(key=lambda kind: rank.get(kind, len(PREFERENCE)))
    general.position_encodings = offered


class Positions:
    """Converts between one document's text and LSP positions in one encoding."""

    def __init__(self, encoding: str | types.PositionEncodingKind = types.PositionEncodingKind.Utf16):
        self.codec = PositionCodec(encoding)

    @property
    def encoding(self):
        return self.codec.encoding

    def range(self, span: Span, lines: list[str]) -> types.Range:
        """A span (1-based code points, end exclusive) as an LSP range."""
        return types.Range(self.position(lines, span.line, span.col),
                           self.position(lines, span.end_line, span.end_col))

    def position(self, lines: list[str], line: int, col: int) -> types.Position:
        """1-based (line, code-point column) -> LSP position."""
        index = max(line - 1, 0)
        if index >= len(lines):
            return types.Position(line=index, character=0)
        text = lines[index].rstrip("\r\n")
        skip = _bom(lines, index)
        return types.Position(line=index, character=self.codec.client_num_units(text[:max(col - 1, 0) + skip]))

    def point(self, lines: list[str], position: types.Position) -> tuple[int, int]:
        """LSP position -> 1-based (line, code-point column), clamped to the line."""
        if position.line >= len(lines):
            return position.line + 1, 1
        text = lines[position.line].rstrip("\r\n")
        skip = _bom(lines, position.line)
        units = 0
        for index, char in enumerate(text):
            if units >= position.character and index >= skip:
                return position.line + 1, index + 1 - skip
            units += self.codec.impl.code_units_for_char(char)
        return position.line + 1, len(text) + 1 - skip


def _bom(lines: list[str], index: int) -> int:
    """1 on the first line of a text that starts with a byte order mark (not counted in spans)."""
    return 1 if index == 0 and lines and lines[0].startswith(BOM) else 0


def lines_of(text: str) -> list[str]:
    """The text's lines as Lark counts them (only `\\n` ends a line)."""
    return text.split("\n")
