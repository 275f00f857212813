"""The layout of `ratecard fmt`: comments hung on rows, blank lines, alignment, text.

The comments (which the parser collects with their line and column) are hung
on rows by position: an own-line comment before the row that follows it, a
trailing comment at the end of the row holding the token before it. Then the
rows become text: blank lines where the source had them (collapsed, none at
block starts or ends, one between top-level blocks), colons and trailing
comments aligned, two spaces per level.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from .. import nodes as n
from .rows import Row

INDENT = "  "


# ----------------------------------------------------------------- comments


def _place_comments(rows: list[Row], comments) -> list[n.Comment]:
    """Hang each comment on a row; returns the comments after the last token.

    A comment between a row's first and last token, or after its last token on
    the same line, is the row's (`inside`); one on a line of its own goes before
    the next row (`before`).
    """
    starts = [r.start for r in rows]
    tail: list[n.Comment] = []
    for c in comments:
        pos = (c.line, c.col)
        i = bisect.bisect_left(starts, pos) - 1
        if i >= 0 and (rows[i].end > pos or rows[i].end[0] == c.line):
            rows[i].inside.append(c)
        elif i + 1 < len(rows):
            rows[i + 1].before.append(c)
        else:
            tail.append(c)
    return tail


# ----------------------------------------------------------------- layout


@dataclass
class _Line:
    """One output line: a row of code (with maybe a trailing comment) or an own-line comment."""

    depth: int
    first: int  # source lines it came from, for keeping blank lines
    last: int
    row: Row | None = None
    comment: str | None = None  # the text of a comment line, or the trailing comment of a row
    item: int | None = None
    top_block: bool = False
    text: str = ""

    @property
    def code(self) -> bool:
        return self.row is not None


def _comment_text(c: n.Comment) -> str:
    """A comment as written, without trailing blanks (or the `\r` of a CRLF file)."""
    return c.text.rstrip()


def _lines(rows: list[Row], tail: list[n.Comment]) -> list[_Line]:
    """Rows and comments in output order.

    A row's own-line comments come first; comments written between a row's
    tokens go on their own lines before it too, except the last of them, which
    ends the row. Comments before a `}` stay inside the block (one level deeper).
    """
    out: list[_Line] = []
    for r in rows:
        depth = r.depth + 1 if r.kind == "close" else r.depth
        meta = dict(item=r.item, top_block=r.top_block)
        for c in r.before:
            out.append(_Line(depth, c.line, c.line, comment=_comment_text(c), **meta))
        for c in r.inside[:-1]:
            out.append(_Line(depth, r.start[0], r.start[0], comment=_comment_text(c), **meta))
        trailing = _comment_text(r.inside[-1]) if r.inside else None
        out.append(_Line(r.depth, r.start[0], r.end[0], row=r, comment=trailing, **meta))
    for c in tail:
        out.append(_Line(0, c.line, c.line, comment=_comment_text(c)))
    return out


def _blank_between(a: _Line, b: _Line) -> bool:
    """One blank line between two output lines, or none."""
    if a.code and a.row.kind == "open":
        return False  # none at the start of a block
    if b.code and b.row.kind == "close":
        return False  # nor at its end
    if a.item is not None and b.item is not None and a.item != b.item and (a.top_block or b.top_block):
        return True  # top-level blocks are always set apart
    return b.first - a.last > 1  # elsewhere, as the source had it (a run of blanks is one)


def _align(lines: list[_Line], blanks: list[bool]) -> None:
    """Set each code line's text, padding heads so their colons line up.

    ("block", id) rows align across their whole block (rules, tiers);
    ("run", kind) rows only with their neighbours: the same kind of one-line
    statement on consecutive lines (a run of `charge M : PRICE`).
    """
    widths: dict[tuple, int] = {}
    for line in lines:
        r = line.row
        if r is not None and r.head is not None and r.align[0] == "block":
            widths[r.align] = max(widths.get(r.align, 0), len(r.head))
    run: list[_Line] = []

    def flush() -> None:
        width = max((len(x.row.head) for x in run), default=0)
        for x in run:
            x.text = x.row.rendered(width)
        run.clear()

    for i, line in enumerate(lines):
        r = line.row
        if r is not None and r.head is not None and r.align[0] == "run":
            if run and (blanks[i] or run[-1].row.align != r.align or run[-1] is not lines[i - 1]):
                flush()
            run.append(line)
            continue
        flush()
        if r is not None:
            line.text = r.rendered(widths.get(r.align, 0))
    flush()


def _trailing_columns(lines: list[_Line], blanks: list[bool]) -> dict[int, int]:
    """Where each trailing comment starts: aligned over consecutive commented lines."""
    columns: dict[int, int] = {}
    run: list[int] = []

    def flush() -> None:
        col = max((len(INDENT * lines[i].depth + lines[i].text) for i in run), default=0) + 2
        for i in run:
            columns[i] = col
        run.clear()

    for i, line in enumerate(lines):
        if line.code and line.comment is not None:
            prev = lines[run[-1]] if run else None
            if prev is not None and (blanks[i] or run[-1] != i - 1 or prev.depth != line.depth):
                flush()
            run.append(i)
        else:
            flush()
    flush()
    return columns


def _render(lines: list[_Line]) -> str:
    """The final text: blank lines decided first, since alignment runs stop at them."""
    blanks = [False] + [_blank_between(a, b) for a, b in zip(lines, lines[1:])]
    _align(lines, blanks)
    columns = _trailing_columns(lines, blanks)
    out: list[str] = []
    for i, line in enumerate(lines):
        if blanks[i]:
            out.append("")
        indent = INDENT * line.depth
        if not line.code:
            out.append(indent + line.comment)
        elif line.comment is not None:
            out.append((indent + line.text).ljust(columns[i]) + line.comment)
        else:
            out.append(indent + line.text)
    return "".join(x + "\n" for x in out)


def layout(rows: list[Row], comments) -> str:
    """The text of `rows` with `comments` (the file's, in source order) hung on them."""
    tail = _place_comments(rows, comments)
    return _render(_lines(rows, tail))
