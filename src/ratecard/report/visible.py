"""Values from usage events and contracts JSON, shown so that what is printed is what was billed.

A dimension value is whatever text a usage event carried (`properties.model`),
and a view prints it into a terminal, a Markdown file or an HTML page. A
control character there does harm: a NUL or an escape sequence in a terminal,
a bidi override (U+202E) that makes `$0.01` read as `$10.0`, a zero-width
space that makes two lines billed apart read alike. A contract's id, its customer
and its credit's and discounts' descriptions from `--contracts FILE.json` are any
text too, and are shown the same way. The JSON document escapes
what JSON must and is written as it is; every other view shows a value through
`visible`, one function, so the text, Markdown and HTML views (and `explain`,
`diff`, the ledger's documents) agree, and the text layout measures what it
prints (docs/invoices.md, "Values that cannot be shown").
"""

from __future__ import annotations

import re
from typing import Iterable

# Shown as `\uXXXX`: control characters (Cc: C0, DEL, C1), surrogates (Cs, a JSON `\ud800`
# on its own), line and paragraph separators (Zl, Zp) and format characters (Cf: bidi
# embeddings, overrides, isolates and marks, zero-width spaces, the BOM, soft hyphen...),
# as Unicode 15 has them. Kept: the zero-width (non-)joiner U+200C/U+200D and the tag
# characters U+E0020-U+E007F, which emoji sequences and some scripts are written with
# Shown escaped too: the space separators other than the space itself (Zs: U+00A0 no-break,
# U+2000-U+200A, U+202F, U+3000, ...), which print as a space, so that `us\u00a0east` and
# `us east`, two lines billed apart, never read alike
# (tests/test_visible.py checks this class against `unicodedata`).
_HIDDEN = (r"\x00-\x1f\x7f-\xa0\xad\u1680\u2000-\u200a\u202f\u205f\u3000\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
           r"\u200b\u200e\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff"
           r"\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
           r"\U0001d173-\U0001d17a\U000e0001")
# a value needs escaping when it holds one of them, or a backslash that would read as
# an escape (`\u`): then its backslashes are doubled too, and the text reads back to one value
_NEEDS_ESCAPING = re.compile(rf"[{_HIDDEN}]|\\[uU]")
_ESCAPED = re.compile(rf"[{_HIDDEN}\\]")


def visible(value: str) -> str:
    """`value` as a view prints it: unchanged when every character shows (accents, CJK,
    emoji, a lone backslash), else each hidden character as `\\u0000` (`\\U000e0001` past
    U+FFFF, lower-case hex, as JSON and Python write them) and each backslash as `\\\\`."""
    if (value.isprintable() and "\\" not in value) or _NEEDS_ESCAPING.search(value) is None:
        return value  # `isprintable` (C, fast) is False for all that is escaped, and for more
    return _ESCAPED.sub(_escape, value)


def _escape(match: re.Match) -> str:
    char = match.group()
    if char == "\\":
        return "\\\\"
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def dimension_pairs(dimensions: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """(name, value) pairs with each value `visible` (names are the meter's identifiers)."""
    return [(name, value if value.isprintable() and "\\" not in value else visible(value))
            for name, value in dimensions]  # `visible`'s first test, without a call for each value


def dimensions_text(dimensions: Iterable[tuple[str, str]], quoted: bool = False) -> str:
    """`model: gpt-4, region: eu` (invoices), or quoted as rules write them:
    `model = "gpt-4", region = "eu"` (`explain`, `diff`, `ratecard test`); "" for none."""
    return joined_dimensions(dimension_pairs(dimensions), quoted)


def joined_dimensions(pairs: list[tuple[str, str]], quoted: bool = False) -> str:
    """`dimensions_text` of pairs already made visible (`dimension_pairs`): not escaped twice."""
    if quoted:
        return ", ".join(f'{name} = "{value}"' for name, value in pairs)
    return ", ".join(f"{name}: {value}" for name, value in pairs)
