"""The rows of the 100-column text layout, laid out in Python.

`invoice.txt.j2` prints a header field, a table row or a totals row per call
of a `TextLayout` method (`w.field(...)`, `w.row(...)`, `w.line_rows(...)`,
`w.total_row(...)`), each the text one of its Jinja macros used to produce,
byte for byte. Jinja's macro calls, filters and `.ljust()`/`.rjust()` calls
each go through the template runtime, and an invoice made a few hundred of
them: a 20,000-invoice run spent most of its rendering there (issue 17). A
row is the same text for the same cells and widths, so header fields and
totals rows, which repeat across invoices, are remembered.

`wrap_lines` is the `wrap` filter of the templates (`render`). It prints a
value's characters as they are: a run of spaces in a dimension value
(`region = "us  east"`) is what was billed, and "us east" is another line
(docs/invoices.md, "Values that cannot be shown"). It breaks a line only at a
single space between two other characters, which a reader takes the line
break for; a run of spaces, or a space the value starts with, stays inside its
line. Spaces that end a line are not printed: a terminal shows none of them.
"""

from __future__ import annotations

import itertools
import re
import textwrap

_KEPT = 50_000  # rows remembered, of each kind, before starting over

# every other white-space character (a line break or tab, which `visible` escapes in a
# value, a no-break or thin space, as in the formatter's "Mar 1 – 31") is printed as one
# space, as text layout always did: a cell is one line, and no character is dropped
# (the characters `str.isspace` holds but " ", as Unicode 15 has them: tests/test_text_cells.py)
_SPACES = str.maketrans(dict.fromkeys("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2001\u2002\u2003"
                                      "\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f"
                                      "\u205f\u3000", " "))
# a space that is not one alone between two other characters: not a place to break a line
_KEPT_SPACE = re.compile(r"(?<= ) | (?= )|^ | $")


def one_line(value) -> str:
    """`value` as one line of text, every other character as it is."""
    text = str(value)
    return text if text.isprintable() else text.translate(_SPACES)


def wrap_lines(value, width: int, indent: str = "", hang: str = "") -> list[str]:
    """A value split into lines of at most `width` characters, each starting with
    `indent`, continuation lines with `indent` + `hang` (never an empty list). The
    lines hold the value's characters as they are, less the single spaces the
    lines were broken at (see the module's docstring)."""
    text = one_line(value).rstrip(" ")  # spaces that end a line do not show: never printed
    width = max(int(width), len(indent + hang) + 1)
    if text and len(indent) + len(text) <= width:
        return [indent + text]  # what textwrap gives a text that fits, without its cost (most cells)
    kept = None
    if "  " in text or text[:1] == " ":
        # textwrap breaks at every space and drops those at a break: the spaces that must
        # stay are held as a character the text does not use while it wraps
        kept = next(chr(c) for c in itertools.chain(range(0xE000, 0xF900), range(0xF0000, 0xFFFFE))
                    if chr(c) not in text)
        text = _KEPT_SPACE.sub(kept, text)
    lines = textwrap.wrap(text, width=width, initial_indent=indent,
                          subsequent_indent=indent + hang, break_long_words=True,
                          break_on_hyphens=False)
    if kept is not None:
        lines = [line.replace(kept, " ") for line in lines]
    # textwrap can end a line with the space it broke at (a word broken to fit a narrow
    # column: 'aa aaaa' at 3 -> 'aa ', '  a', ...): a space that ends a line is never printed
    lines = [line.rstrip(" ") for line in lines]
    return lines or [indent.rstrip()]


_fields: dict[tuple, str] = {}
_totals: dict[tuple, str] = {}


def field_rows(label: int, value_width: int, name, value) -> str:
    """A header field: `name` in a `label`-wide key column, the value wrapped to `value_width`."""
    if not (type(name) is str and type(value) is str):  # noqa: E721 - only plain texts are remembered
        return _field_rows(label, value_width, name, value)
    key = (label, value_width, name, value)
    found = _fields.get(key)
    if found is None:
        found = _field_rows(label, value_width, name, value)
        if len(_fields) >= _KEPT:
            _fields.clear()
        _fields[key] = found
    return found


def _field_rows(label: int, value_width: int, name, value) -> str:
    name = str(name)
    return "".join(f"{(name if i == 0 else '').ljust(label)}{part}\n"
                   for i, part in enumerate(wrap_lines(value, value_width)))


def table_row(w, text, indent: str, quantity: str, unit_price: str, unit: str, amount: str) -> str:
    """A row of the lines table: the description wrapped (continuation lines alone), the
    other four columns on its first line."""
    description = w.description
    parts = wrap_lines(text, description, indent, "  ")
    first = (f"{parts[0].ljust(description)}  {quantity.rjust(w.quantity)}  {unit_price.rjust(w.unit_price)}"
             f"  {unit.ljust(w.unit)}  {amount.rjust(w.amount)}\n")
    if len(parts) == 1:
        return first
    return first + "".join(f"{part}\n" for part in parts[1:])


def line_rows(w, line, indent: str) -> str:
    """An invoice line's rows: the line, its notes below the description, its tiers."""
    out = [table_row(w, line.label, indent, line.quantity, line.unit_price,
                     line.unit if line.unit_price else "", line.amount)]
    if line.notes:
        note_indent = indent + "    "
        for note in line.notes:
            out.extend(f"{part}\n" for part in wrap_lines(note, w.description, note_indent, "  "))
    if line.tiers:
        tier_indent = indent + "    "
        for tier in line.tiers:
            out.append(table_row(w, tier.range + (" " + tier.flat if tier.flat else ""), tier_indent,
                                 tier.quantity, tier.unit_price, tier.unit, tier.amount))
    return "".join(out)


def total_row(totals_label: int, amount_width: int, label, amount: str) -> str:
    """A totals row: the label right-aligned where the amount column starts (wrapped
    lines above it), then the amount."""
    if not (type(label) is str and type(amount) is str):  # noqa: E721 - only plain texts are remembered
        return _total_row(totals_label, amount_width, label, amount)
    key = (totals_label, amount_width, label, amount)
    found = _totals.get(key)
    if found is None:
        found = _total_row(totals_label, amount_width, label, amount)
        if len(_totals) >= _KEPT:
            _totals.clear()
        _totals[key] = found
    return found


def _total_row(totals_label: int, amount_width: int, label, amount: str) -> str:
    parts = wrap_lines(label, totals_label)
    return ("".join(f"{part.rjust(totals_label)}\n" for part in parts[:-1])
            + f"{parts[-1].rjust(totals_label)}  {amount.rjust(amount_width)}\n")
