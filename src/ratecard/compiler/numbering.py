"""Document numbers: one gapless counter per series, written through a format.

A series' format is text with one `{n}` placeholder, optionally zero-padded
to a width: `"INV-{n:06}"` numbers the first invoice `INV-000001`, and the
millionth `INV-1000000` (the width is a minimum, never a cut). The counter,
not the format, is what the ledger keeps: changing a format between runs
changes how later numbers are written, and never restarts or skips one.

This module is pure Python (the compiler checks formats with it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SERIES = ("invoices", "credit_notes")
DEFAULTS = {"invoices": "INV-{n:06}", "credit_notes": "CN-{n:06}"}

_PLACEHOLDER = re.compile(r"\{n(?::0?(\d{1,2}))?\}")
_LITERAL = re.compile(r"[A-Za-z0-9._/#-]*")


@dataclass(frozen=True)
class NumberFormat:
    prefix: str
    width: int
    suffix: str

    def format(self, n: int) -> str:
        return f"{self.prefix}{n:0{self.width}d}{self.suffix}" if self.width else f"{self.prefix}{n}{self.suffix}"


class FormatError(ValueError):
    """A format that cannot number documents; the message says why."""


def parse_format(text: str) -> NumberFormat:
    """`"INV-{n:06}"` -> NumberFormat("INV-", 6, ""); FormatError when it is not one."""
    found = list(_PLACEHOLDER.finditer(text))
    if len(found) != 1:
        raise FormatError("a number format has exactly one `{n}` (or `{n:06}` for a zero-padded width)"
                          if not found else "a number format has only one `{n}`")
    m = found[0]
    prefix, suffix = text[:m.start()], text[m.end():]
    for part in (prefix, suffix):
        if not _LITERAL.fullmatch(part):
            raise FormatError("around `{n}`, a number format has letters, digits and `.`, `_`, `/`, `#`, `-` only")
    width = int(m.group(1)) if m.group(1) else 0
    if width > 18:
        raise FormatError("a number's width is at most 18 digits")
    return NumberFormat(prefix, width, suffix)


def may_collide(a: NumberFormat, b: NumberFormat) -> bool:
    """Could two series write the same number? Only when their texts around `{n}` agree."""
    return a.prefix == b.prefix and a.suffix == b.suffix
