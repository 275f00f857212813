"""What `ratecard fmt` prints with: the source text and the rows of code.

The printers (`syntax.fmt.printers`) turn the tree into `Row`s, one output
line of code each, which the layout (`syntax.fmt.layout`) then hangs comments
on, spaces and aligns. `Source` answers the two questions the tree cannot:
where a block's `{` sits, and which separator a `where` used.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

from .. import nodes as n

Pos = tuple[int, int]  # (line, col), 1-based, as in `Span`


class FormatBug(Exception):
    """The tree has a shape the printer does not know: a bug in fmt, not in the input."""


# ----------------------------------------------------------------- the source text


class Source:
    """The file's text, for the two things the tree does not record.

    Nodes keep spans of their words, but not of punctuation: where a block's
    `{` sits (to know whether a comment before it is on the header line), and
    whether a `where` joined its conditions with `,` or `and`.
    """

    _COMMENT = re.compile(r"#[^\n]*")

    def __init__(self, text: str) -> None:
        self.text = text
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def offset(self, pos: Pos) -> int:
        line, col = pos
        return self.line_starts[line - 1] + col - 1

    def position(self, offset: int) -> Pos:
        line = bisect.bisect_right(self.line_starts, offset)
        return line, offset - self.line_starts[line - 1] + 1

    def next_token(self, after: Pos) -> Pos:
        """Where the first character that is neither whitespace nor comment starts after `after`."""
        i, text = self.offset(after), self.text
        while i < len(text):
            if text[i].isspace():
                i += 1
            elif text[i] == "#":
                end = text.find("\n", i)
                i = len(text) if end < 0 else end
            else:
                return self.position(i)
        raise FormatBug(f"no token after {after}")

    def brace(self, after: Pos) -> Pos:
        """The position of the `{` that opens a block whose header ends at `after`."""
        pos = self.next_token(after)
        if self.text[self.offset(pos)] != "{":
            raise FormatBug(f"expected `{{` at {pos}")
        return pos

    def between(self, start: Pos, end: Pos) -> str:
        """The punctuation between two tokens, without whitespace or comments."""
        chunk = self.text[self.offset(start):self.offset(end)]
        return self._COMMENT.sub("", chunk).strip()


# ----------------------------------------------------------------- rows


@dataclass
class Row:
    """One output line of code, before comments, blank lines and alignment.

    `start`/`end` bound the source tokens the row prints (end exclusive), which
    is how comments find their row. A row with a `head` prints as
    `head : text`, the colon aligned with the other rows of its `align` key.
    """

    depth: int
    text: str
    start: Pos
    end: Pos
    kind: str = "stmt"  # "open" (ends with `{`), "close" (starts with `}`), "stmt"
    head: str | None = None
    align: tuple | None = None  # ("block", id): whole block; ("run", kind): consecutive rows
    item: int = 0  # index of the top-level item the row belongs to
    top_block: bool = False  # that item is a block (gets blank lines around it)
    before: list[n.Comment] = field(default_factory=list)  # own-line, before the row
    inside: list[n.Comment] = field(default_factory=list)  # between its tokens, or after them

    def rendered(self, width: int) -> str:
        if self.head is None:
            return self.text
        return f"{self.head.ljust(width)} : {self.text}"
