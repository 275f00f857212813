"""`ratecard fmt`: print a parsed `.pricing` file back in its canonical layout.

Built on the syntax tree, never on regexes over the text: every node type has
a printer, which prints what the user wrote from the nodes' raw text, so
formatting only ever changes whitespace, line breaks and where comments sit.
The layout is documented in `docs/fmt.md`.

Formatting runs in two steps, a module each:

1. `printers` turn the tree into *rows* (`rows.Row`): one output line of code
   each, with its depth, the source positions of its first and last token,
   and what it aligns with (rule and tier colons, runs of one-line charges);
2. `layout` hangs the comments on the rows by position, then turns the rows
   into text: blank lines, aligned colons and trailing comments, indentation.

`format_source` re-parses its own output and checks that the file's tokens and
comments are unchanged before returning it, so a formatter bug can only ever
leave a file as it was, never rewrite it into something else.
"""

from __future__ import annotations

import re

from ...diagnostics import Diagnostic, error
from .. import nodes as n
from ..parser import parse, without_bom
from .layout import layout
from .printers import print_rows
from .rows import Source


def format_tree(tree: n.SourceFile, text: str) -> str:
    """The canonical text of a parsed file.

    `text` must be the text `tree` was parsed from: the tree does not record
    where each `{` is or which `where` separator was written, and comments are
    placed by their positions in it.
    """
    return layout(print_rows(tree, Source(text)), tree.comments)


_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|\s+|[^\s"#]+|.', re.S)


def fingerprint(text: str) -> tuple[str, tuple[str, ...]]:
    """What formatting must keep: the text without whitespace and comments, and the comments.

    Strings are matched whole, so a `#` or a space inside one is kept.
    """
    code: list[str] = []
    comments: list[str] = []
    for m in _TOKEN.finditer(text):
        piece = m.group()
        if piece.startswith("#"):
            comments.append(piece.rstrip())
        elif not piece.isspace():
            code.append(piece)
    return "".join(code), tuple(comments)


def format_source(text: str, path: str) -> tuple[str | None, list[Diagnostic]]:
    """Format one file's text: (canonical text, []) or (None, diagnostics).

    A syntax error gives the parser's diagnostic. The output is re-parsed and
    compared with the input (same code once whitespace is ignored, same
    comments in the same order); if fmt got it wrong, the caller gets an error
    instead of a rewritten file. A byte order mark is not kept: the output is
    UTF-8 without one.
    """
    text = without_bom(text)
    tree, diags = parse(text, path)
    if tree is None:
        return None, diags
    try:
        formatted = format_tree(tree, text)
    except Exception as exc:  # noqa: BLE001 - a printer bug must not lose the user's other files
        return None, [_bug(path, f"{type(exc).__name__}: {exc}")]
    again, problems = parse(formatted, path)
    if again is None or fingerprint(formatted) != fingerprint(text):
        why = problems[0].message if problems else "the output differs from the input in more than layout"
        return None, [_bug(path, why)]
    return formatted, []


def _bug(path: str, why: str) -> Diagnostic:
    return error("E002", f"`ratecard fmt` cannot format {path} safely and left it unchanged: {why}",
                 hints=("this is a bug in ratecard fmt; please report it with the file",))
